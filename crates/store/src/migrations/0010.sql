-- Migration step 10: schema version 9 -> 10. Frozen: databases in the field
-- have run it; never edit it, append a new step instead (docs/store.md).
--
-- No double effects (issue 20).
--
-- 1. Ids are never reused. tasks, jobs and alerts are rebuilt with INTEGER
--    PRIMARY KEY AUTOINCREMENT: a task id names its folder, its worktree and
--    its branch; a job id names a lease's fence, judge trees and run folders;
--    an alert id is what an operator acknowledges. Without AUTOINCREMENT,
--    SQLite hands the highest id out again once its row is deleted (orch repo
--    remove). Each table is rebuilt the SQLite way: the old one renamed
--    aside, the new one created with the same columns (its text now lists
--    every column in one place), every row copied with its id, the old one
--    dropped, its indexes made again. legacy_alter_table keeps the renames
--    from rewriting the other tables' REFERENCES clauses, which keep naming
--    tasks, jobs and alerts. AUTOINCREMENT starts after the highest id that
--    exists now; an id freed before this step may be handed out once more.
--
-- 2. effects: a side effect outside orch that a job's run started (the
--    deploy command, the post-deploy probes), recorded before the command
--    runs; see schema.sql.

PRAGMA legacy_alter_table = ON;

ALTER TABLE tasks RENAME TO tasks_v9;

CREATE TABLE tasks (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    repo_id           INTEGER NOT NULL REFERENCES repos (id),
    title             TEXT    NOT NULL,
    stage             TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('active', 'done', 'blocked')),
    developer_retries INTEGER NOT NULL DEFAULT 0 CHECK (developer_retries >= 0),
    created_ms        INTEGER NOT NULL,
    updated_ms        INTEGER NOT NULL,
    isolation         TEXT    NOT NULL DEFAULT 'checkout' CHECK (isolation IN ('worktree', 'checkout')),
    base_commit       TEXT,
    branch            TEXT,
    worktree          TEXT,
    head_commit       TEXT,
    keep_worktree     INTEGER NOT NULL DEFAULT 0 CHECK (keep_worktree IN (0, 1)),
    suite_commit      TEXT,
    suite_diff_sha256 TEXT CHECK (suite_diff_sha256 IS NULL OR (length(suite_diff_sha256) = 64 AND suite_diff_sha256 NOT GLOB '*[^0-9a-f]*'))
) STRICT;

INSERT INTO tasks (id, repo_id, title, stage, status, developer_retries, created_ms, updated_ms, isolation, base_commit, branch, worktree, head_commit, keep_worktree, suite_commit, suite_diff_sha256)
    SELECT id, repo_id, title, stage, status, developer_retries, created_ms, updated_ms, isolation, base_commit, branch, worktree, head_commit, keep_worktree, suite_commit, suite_diff_sha256 FROM tasks_v9;

DROP TABLE tasks_v9;

CREATE INDEX tasks_by_repo ON tasks (repo_id);
CREATE INDEX tasks_serial ON tasks (repo_id, id) WHERE status = 'active' AND isolation = 'checkout';

ALTER TABLE jobs RENAME TO jobs_v9;

CREATE TABLE jobs (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id             INTEGER NOT NULL REFERENCES tasks (id),
    stage               TEXT    NOT NULL,
    role                TEXT    NOT NULL,
    state               TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts            INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts        INTEGER NOT NULL CHECK (max_attempts >= 1),
    infra_attempts      INTEGER NOT NULL DEFAULT 0 CHECK (infra_attempts >= 0),
    run_after_ms        INTEGER NOT NULL,
    lease_token         INTEGER NOT NULL DEFAULT 0,
    lease_owner         TEXT,
    lease_boot_id       TEXT,
    lease_expires_ms    INTEGER,
    last_error          TEXT,
    created_ms          INTEGER NOT NULL,
    updated_ms          INTEGER NOT NULL,
    claimed_ms          INTEGER,
    start_commit        TEXT,
    end_commit          TEXT,
    rescues             INTEGER NOT NULL DEFAULT 0 CHECK (rescues >= 0),
    cancel_requested_ms INTEGER,
    -- A running job always has a whole lease; any other job has none.
    CHECK ((state = 'running') = (lease_owner IS NOT NULL)),
    CHECK ((lease_owner IS NULL) = (lease_boot_id IS NULL)),
    CHECK ((lease_owner IS NULL) = (lease_expires_ms IS NULL))
) STRICT;

INSERT INTO jobs (id, task_id, stage, role, state, attempts, max_attempts, infra_attempts, run_after_ms, lease_token, lease_owner, lease_boot_id, lease_expires_ms, last_error, created_ms, updated_ms, claimed_ms, start_commit, end_commit, rescues, cancel_requested_ms)
    SELECT id, task_id, stage, role, state, attempts, max_attempts, infra_attempts, run_after_ms, lease_token, lease_owner, lease_boot_id, lease_expires_ms, last_error, created_ms, updated_ms, claimed_ms, start_commit, end_commit, rescues, cancel_requested_ms FROM jobs_v9;

DROP TABLE jobs_v9;

CREATE INDEX jobs_claimable ON jobs (run_after_ms, id) WHERE state = 'queued';
CREATE INDEX jobs_leased ON jobs (lease_expires_ms) WHERE state = 'running';
CREATE INDEX jobs_by_task ON jobs (task_id);
CREATE INDEX jobs_failed ON jobs (task_id) WHERE state = 'failed';
CREATE INDEX jobs_deferred ON jobs (run_after_ms, id) WHERE state = 'queued' AND infra_attempts > 0;

ALTER TABLE alerts RENAME TO alerts_v9;

CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL CHECK (kind <> ''),
    message         TEXT    NOT NULL,
    task_id         INTEGER REFERENCES tasks (id),
    job_id          INTEGER REFERENCES jobs (id),
    created_ms      INTEGER NOT NULL,
    acknowledged_ms INTEGER
) STRICT;

INSERT INTO alerts (id, kind, message, task_id, job_id, created_ms, acknowledged_ms)
    SELECT id, kind, message, task_id, job_id, created_ms, acknowledged_ms FROM alerts_v9;

DROP TABLE alerts_v9;

CREATE INDEX alerts_open ON alerts (created_ms) WHERE acknowledged_ms IS NULL;

CREATE TABLE effects (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id          INTEGER NOT NULL REFERENCES jobs (id),
    task_id         INTEGER NOT NULL REFERENCES tasks (id),
    kind            TEXT    NOT NULL CHECK (kind <> ''),
    commit_sha      TEXT,
    lease_token     INTEGER NOT NULL,
    repeatable      INTEGER NOT NULL CHECK (repeatable IN (0, 1)),
    started_ms      INTEGER NOT NULL,
    ended_ms        INTEGER,
    acknowledged_ms INTEGER
) STRICT;

CREATE INDEX effects_by_job ON effects (job_id, id);

PRAGMA legacy_alter_table = OFF;
