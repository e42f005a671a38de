-- The orch database schema, version 16.
--
-- This text is a contract (DESIGN 3.8): it is pinned byte for byte by
-- crates/store/tests/golden/schema.sql. Change it only together with a new
-- migration step, the golden file and a CHANGELOG line (see docs/store.md).
--
-- Conventions: every time is INTEGER milliseconds since the Unix epoch (UTC)
-- in a column ending in _ms; stages and roles are TEXT whose names the
-- pipeline validates; tables are STRICT so a wrong type is an error, not a
-- silent conversion.

-- A repository orch works on. The staging command is the one source of truth
-- for the suite that both the LLM deployer prompt and the staging runner use.
-- deploy_command deploys the repository (NULL: nothing to deploy);
-- health_command probes it after a deploy (NULL: nothing to probe); pass_env
-- lists, comma-separated, the environment variable names the staging suite
-- needs passed through ('' for none).
--
-- base_ref names the ref its tasks start from (NULL: the checkout's HEAD when
-- a task is created). test_command (migration step 6) runs its own tests,
-- for the test runner (NULL: none; the LLM tester serves the testing stage).
-- suite_paths (migration step 7) names the suite's files as comma-separated
-- git glob patterns ('' for none: the suite is unpinned); the suite runners
-- judge a tree in which those paths are restored to the task's base (or
-- approved) version. setup_command runs in each new task worktree and each
-- judge tree before the first role or the suite (NULL: none).
-- suite_network (migration step 8) says whether its staging and test suites
-- may use the network ('off', the default: a network namespace of their own
-- with only loopback); cache_dirs lists, comma-separated, extra absolute
-- folders its sandboxed runs may write ('' for none beyond orch's defaults).
--
-- The last line holds the columns added by migration steps 2, 4, 6, 7 and 8, spelled exactly
-- as ALTER TABLE ... ADD COLUMN leaves them in the stored table text, so that
-- a migrated file and a fresh one hold the same schema.
CREATE TABLE repos (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE CHECK (name <> ''),
    path            TEXT    NOT NULL CHECK (path <> ''),
    staging_command TEXT    NOT NULL,
    created_ms      INTEGER NOT NULL
, deploy_command TEXT, health_command TEXT, pass_env TEXT NOT NULL DEFAULT '', base_ref TEXT CHECK (base_ref IS NULL OR base_ref <> ''), test_command TEXT CHECK (test_command IS NULL OR test_command <> ''), suite_paths TEXT NOT NULL DEFAULT '', setup_command TEXT CHECK (setup_command IS NULL OR setup_command <> ''), suite_network TEXT NOT NULL DEFAULT 'off' CHECK (suite_network IN ('on', 'off')), cache_dirs TEXT NOT NULL DEFAULT '', test_runner_mode TEXT CHECK (test_runner_mode IS NULL OR test_runner_mode IN ('on', 'shadow', 'off'))) STRICT;

-- A unit of work on one repository, moving through the pipeline's stages.
--
-- Migration step 10 rebuilt the table with AUTOINCREMENT, so that an id is
-- never handed out twice, not even after its task was removed (its folder,
-- worktree and branch are named after it). isolation (step 4) is
-- 'worktree' (the task works in its own git worktree, folder worktree, on its
-- own branch, started from base_commit) or 'checkout' (it works in the
-- repository's own folder, and the queue runs one such task of a repository
-- at a time: a folder that is not a git repository, and every task created
-- before schema version 4). head_commit is the commit its latest stage ended
-- on; keep_worktree keeps the worktree when the task is done. suite_commit
-- and suite_diff_sha256 (migration step 7): the suite version an operator
-- approved for the task (orch task approve-suite) and the sha256 of the
-- suite's diff from the base commit to it; NULL: the base commit's suite.
-- abandoned_ms (migration step 15): when an operator abandoned the blocked
-- task (orch task abandon; it stays blocked, retry refuses it); NULL: not.
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
, abandoned_ms INTEGER) STRICT;

CREATE INDEX tasks_by_repo ON tasks (repo_id);
-- The claim's rule that a repository's 'checkout' tasks run one at a time.
CREATE INDEX tasks_serial ON tasks (repo_id, id) WHERE status = 'active' AND isolation = 'checkout';
-- The task counts by status on /queue (step 16): active and blocked through
-- these, done as all tasks minus those.
CREATE INDEX tasks_active ON tasks (id) WHERE status = 'active';
CREATE INDEX tasks_blocked ON tasks (id) WHERE status = 'blocked';

-- The work queue: one row per (task, stage, role) run request.
--
-- attempts counts claims that were not given back by a deferral; a job whose
-- lease is rescued keeps the attempt it spent. lease_token grows by one on
-- every claim and fences every later write of the claimant: a write that
-- carries an older token changes no row. infra_attempts counts deferrals
-- (the work could not start: a tool error), which the launcher bounds.
-- claimed_ms is when the latest claim was taken (a heartbeat moves
-- updated_ms, not claimed_ms); NULL for a job never claimed since schema
-- version 3 (migration step 3).
-- start_commit and end_commit (migration step 4) are the commits of the
-- task's worktree when the job's role started and when it ended (after orch
-- committed what the role changed); NULL for a task without a worktree.
-- rescues counts crash rescues (the lease taken back because the boot died or
-- the lease expired), apart from attempts; a release (a graceful stop) never
-- counts; the job is failed as poison when rescues reach the threshold.
-- cancel_requested_ms is when an operator asked to cancel the running job
-- (NULL: never); every end of the job refuses to be written once it is set,
-- except the cancelled end (migration step 5). Migration step 10 rebuilt the
-- table with AUTOINCREMENT: a job id names a lease's fence, judge trees and
-- run folders, so it is never handed out twice.
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

-- The claim path: the oldest due queued job.
CREATE INDEX jobs_claimable ON jobs (run_after_ms, id) WHERE state = 'queued';
-- The rescue path: running jobs by lease expiry.
CREATE INDEX jobs_leased ON jobs (lease_expires_ms) WHERE state = 'running';
CREATE INDEX jobs_by_task ON jobs (task_id);
-- The /queue snapshot: the failed jobs by task (done ones are counted as all
-- jobs minus the others), and the deferred jobs (queued after a tool error)
-- in claim order. Both partial, keyed on columns that enqueue, claim,
-- heartbeat and complete never change: those writes add no index entry.
CREATE INDEX jobs_failed ON jobs (task_id) WHERE state = 'failed';
CREATE INDEX jobs_deferred ON jobs (run_after_ms, id) WHERE state = 'queued' AND infra_attempts > 0;

-- One row per finished run of a role, LLM or deterministic, for cost reports
-- and the determinization roadmap. sandbox (migration step 8): what the
-- kernel sandbox enforced for the run, in words (NULL before step 8).
-- cache_read_tokens and cache_write_tokens (migration step 9): input tokens
-- read from and written to the prompt cache, each in its CLI's meaning
-- (Claude's tokens_in excludes both; Codex's and Gemini's includes the cached
-- part); model: the model the CLI named. All three NULL when not reported
-- and before step 9. cost_source (migration step 11): 'reported' when the
-- CLI printed the cost itself, 'estimated' when orch priced its tokens
-- (ORCH_AGENT_PRICES); NULL without a cost and before step 11. The last line
-- holds the columns of steps 8, 9 and 11, spelled as ALTER TABLE ... ADD COLUMN
-- leaves them.
CREATE TABLE agent_runs (
    id          INTEGER PRIMARY KEY,
    job_id      INTEGER NOT NULL REFERENCES jobs (id),
    task_id     INTEGER NOT NULL REFERENCES tasks (id),
    role        TEXT    NOT NULL,
    stage       TEXT    NOT NULL,
    transport   TEXT    NOT NULL CHECK (transport IN ('llm', 'deterministic')),
    started_ms  INTEGER NOT NULL,
    ended_ms    INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL CHECK (duration_ms >= 0),
    exit_code   INTEGER,
    outcome     TEXT    NOT NULL,
    cost_usd    REAL CHECK (cost_usd IS NULL OR cost_usd >= 0),
    tokens_in   INTEGER CHECK (tokens_in IS NULL OR tokens_in >= 0),
    tokens_out  INTEGER CHECK (tokens_out IS NULL OR tokens_out >= 0)
, sandbox TEXT, cache_read_tokens INTEGER CHECK (cache_read_tokens IS NULL OR cache_read_tokens >= 0), cache_write_tokens INTEGER CHECK (cache_write_tokens IS NULL OR cache_write_tokens >= 0), model TEXT CHECK (model IS NULL OR model <> ''), cost_source TEXT CHECK (cost_source IS NULL OR (cost_source IN ('reported', 'estimated') AND cost_usd IS NOT NULL))) STRICT;

CREATE INDEX agent_runs_by_role ON agent_runs (role, transport);
CREATE INDEX agent_runs_by_job ON agent_runs (job_id);
-- The per-task spend (Store::task_cost_usd).
CREATE INDEX agent_runs_by_task ON agent_runs (task_id);
-- The staging runner's counters on the /queue snapshot.
CREATE INDEX agent_runs_by_role_outcome ON agent_runs (role, outcome);

-- Things an operator must see: stored, logged and shown on GET /queue until
-- acknowledged (by id: migration step 10 rebuilt the table with
-- AUTOINCREMENT, so an id an operator read never names another alert).
CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL CHECK (kind <> ''),
    message         TEXT    NOT NULL,
    task_id         INTEGER REFERENCES tasks (id),
    job_id          INTEGER REFERENCES jobs (id),
    created_ms      INTEGER NOT NULL,
    acknowledged_ms INTEGER
) STRICT;

CREATE INDEX alerts_open ON alerts (created_ms) WHERE acknowledged_ms IS NULL;

-- The history of a task's stage changes, one row per transition. actor says
-- who moved the task when it was not a job's own end ('operator' for a retry
-- or cancel from the command line, 'rescue' for a poison block; NULL: the
-- engine), reason why in words (NULL when the gate decisions say it). Both
-- are added by migration step 5, spelled as ALTER TABLE leaves them.
CREATE TABLE transitions (
    id         INTEGER PRIMARY KEY,
    task_id    INTEGER NOT NULL REFERENCES tasks (id),
    job_id     INTEGER REFERENCES jobs (id),
    from_stage TEXT    NOT NULL,
    to_stage   TEXT    NOT NULL,
    at_ms      INTEGER NOT NULL
, actor TEXT, reason TEXT) STRICT;

CREATE INDEX transitions_by_task ON transitions (task_id, id);

-- The evidence of a transition: every gate that decided it, whether it
-- passed, the verdict value it read (NULL when it failed closed: the verdict
-- line was missing, duplicated or unknown), its reason, and the sha256 of the
-- artifact it read (NULL when the artifact was missing). Migration step 4
-- added commit_sha, the commit of the tree the verdict is about (for
-- deploy-staging: the commit the suite ran on), and tree_clean, whether that
-- tree was exactly the commit (nothing uncommitted, and for deploy-staging
-- unchanged for the whole run); both NULL for a task without a worktree.
-- sandbox (migration step 8): what the kernel sandbox enforced for the run
-- whose verdict the gate read, in words (NULL before step 8).
CREATE TABLE gate_decisions (
    id              INTEGER PRIMARY KEY,
    transition_id   INTEGER NOT NULL REFERENCES transitions (id),
    position        INTEGER NOT NULL CHECK (position >= 0),
    gate            TEXT    NOT NULL CHECK (gate <> ''),
    passed          INTEGER NOT NULL CHECK (passed IN (0, 1)),
    verdict         TEXT,
    reason          TEXT    NOT NULL,
    artifact_sha256 TEXT CHECK (
        artifact_sha256 IS NULL
        OR (length(artifact_sha256) = 64 AND artifact_sha256 NOT GLOB '*[^0-9a-f]*')
    ), commit_sha TEXT, tree_clean INTEGER CHECK (tree_clean IS NULL OR tree_clean IN (0, 1)), sandbox TEXT,
    UNIQUE (transition_id, position)
) STRICT;

-- Migration step 6: a suite runner in shadow mode (the test runner) runs
-- beside the LLM role that decides the transition; each pair of verdicts is
-- one row. runner_run_id and llm_run_id are the two agent_runs rows;
-- commit_sha the commit the runner ran on (NULL without a worktree);
-- runner_verdict PASSED or FAILED, NULL when the runner produced none (the
-- suite could not run, or the runner failed); llm_verdict the LLM's verdict
-- as the stage's gate took it (FAILED when the gate failed closed).
-- llm_commit_sha (migration step 7): the commit the LLM's verdict is about;
-- same_commit: 1 when both verdicts are about the same tree (the same
-- commit, or both without a worktree); only those pairs count towards
-- agreement. Pairs recorded before step 7 keep 0 and are counted apart.
-- command_sha (migration step 12): the sha256 of the trimmed test command
-- the runner ran (lowercase hex); NULL for pairs recorded before step 12.
-- rerun_verdict (migration step 13): the runner's verdict when it ran once
-- more on the same commit because the pair disagreed; a pair whose two
-- runner verdicts differ is flaky and counted apart. NULL: no second run, or
-- one without a verdict.
-- repo_id (step 14): the pair's task's repository, written with the pair
-- (backfilled from tasks for the earlier ones), so that the evidence per
-- repository reads one covering index and no task.
CREATE TABLE shadow_verdicts (
    id             INTEGER PRIMARY KEY,
    job_id         INTEGER NOT NULL REFERENCES jobs (id),
    task_id        INTEGER NOT NULL REFERENCES tasks (id),
    stage          TEXT    NOT NULL,
    runner_run_id  INTEGER NOT NULL REFERENCES agent_runs (id),
    llm_run_id     INTEGER REFERENCES agent_runs (id),
    commit_sha     TEXT,
    runner_verdict TEXT CHECK (runner_verdict IS NULL OR runner_verdict IN ('PASSED', 'FAILED')),
    llm_verdict    TEXT    NOT NULL CHECK (llm_verdict IN ('PASSED', 'FAILED')),
    created_ms     INTEGER NOT NULL
, llm_commit_sha TEXT, same_commit INTEGER NOT NULL DEFAULT 0 CHECK (same_commit IN (0, 1)), command_sha TEXT CHECK (command_sha IS NULL OR length(command_sha) = 64), rerun_verdict TEXT CHECK (rerun_verdict IS NULL OR rerun_verdict IN ('PASSED', 'FAILED')), repo_id INTEGER) STRICT;

-- The agreement counters on /queue and orch roadmap: one range per stage,
-- same_commit first after the stage (step 7 made it anew).
CREATE INDEX shadow_verdicts_agreement ON shadow_verdicts (stage, same_commit, runner_verdict, llm_verdict);
CREATE INDEX shadow_verdicts_by_task ON shadow_verdicts (task_id, id);
-- The shadow evidence on /queue and orch roadmap (step 14): per repository,
-- test command and verdict pair, one range per stage, covering.
CREATE INDEX shadow_verdicts_evidence ON shadow_verdicts (stage, repo_id, command_sha, same_commit, runner_verdict, llm_verdict, rerun_verdict);
-- The latest disagreements on /queue (step 16): runner and LLM verdicts that
-- differ, newest first.
CREATE INDEX shadow_verdicts_disagreements ON shadow_verdicts (id) WHERE runner_verdict IS NOT NULL AND runner_verdict <> llm_verdict;

-- Migration step 10: a side effect outside orch that a job's run started (the
-- deploy command, the post-deploy probes), recorded with the commit it is
-- about (NULL without a worktree) in a transaction fenced by the job's lease
-- (lease_token) before the command runs. ended_ms: the job's end of that
-- same claim was written, so the outcome is known (NULL: it is not; the
-- claim was lost or its end could not be written). repeatable: 1 when the
-- command may run again after an interruption (read-only probes); 0 when it
-- runs at most once: a later claim of the job finding it started and not
-- ended blocks the task instead of running it again. acknowledged_ms: an
-- operator's retry took the unknown outcome into account.
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
