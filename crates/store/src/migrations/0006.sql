-- Migration step 6: schema version 5 -> 6. Frozen: databases in the field
-- have run it; never edit it, append a new step instead (docs/store.md).
--
-- The test runner (the second suite runner, issue 15). A repository may name
-- its own test command (repos.test_command; NULL: none, and the LLM tester
-- serves the testing stage). In shadow mode the LLM tester decides the
-- transition and the test runner runs beside it on the same commit; each
-- such pair of verdicts is one shadow_verdicts row: the runner's run
-- (agent_runs), the LLM's run, the commit the runner ran on, the runner's
-- verdict (NULL when it produced none: the suite could not run, or the
-- runner failed) and the LLM's verdict as the stage's gate took it (FAILED
-- when the gate failed closed). Agreement is counted from this table through
-- its index, never by a scan of agent_runs.
--
-- ALTER TABLE ... ADD COLUMN appends ", <column definition>" after the last
-- column of the stored CREATE TABLE text, before its table constraints;
-- schema.sql spells the tables exactly that way (a test compares them).

ALTER TABLE repos ADD COLUMN test_command TEXT CHECK (test_command IS NULL OR test_command <> '');

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
) STRICT;

CREATE INDEX shadow_verdicts_agreement ON shadow_verdicts (stage, runner_verdict, llm_verdict);
CREATE INDEX shadow_verdicts_by_task ON shadow_verdicts (task_id, id);
