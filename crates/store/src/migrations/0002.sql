-- Migration step 2: schema version 1 -> 2. Frozen: databases in the field
-- have run it; never edit it, append a new step instead (docs/store.md).
--
-- repos learns how to deploy a repository and probe its health, and which
-- environment variables its staging suite needs passed through; agent_runs
-- gets an index by task for the per-task spend.
--
-- ALTER TABLE ... ADD COLUMN appends ", <column definition>" before the
-- closing parenthesis of the stored CREATE TABLE text; schema.sql spells the
-- table exactly that way, so that a migrated file and a fresh one hold the
-- same schema text (a test compares them).

ALTER TABLE repos ADD COLUMN deploy_command TEXT;
ALTER TABLE repos ADD COLUMN health_command TEXT;
ALTER TABLE repos ADD COLUMN pass_env TEXT NOT NULL DEFAULT '';

CREATE INDEX agent_runs_by_task ON agent_runs (task_id);
