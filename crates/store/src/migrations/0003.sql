-- Migration step 3: schema version 2 -> 3. Frozen: databases in the field
-- have run it; never edit it, append a new step instead (docs/store.md).
--
-- jobs learns when its latest claim was taken (claimed_ms: a heartbeat moves
-- updated_ms, so updated_ms cannot tell); rows claimed before this step keep
-- NULL. Three indexes let the /queue snapshot (Store::queue_snapshot) read
-- no whole table on a long history: the failed jobs (the done ones are then
-- counted as all jobs minus the others), the deferred jobs (queued after a
-- tool error) in claim order, and agent_runs by role and outcome for the
-- staging runner's counters. The two on jobs are partial, and keyed on
-- columns the queue's common writes (enqueue, claim, heartbeat, complete)
-- never change, so those writes maintain no new index entry.
--
-- ALTER TABLE ... ADD COLUMN appends ", <column definition>" after the last
-- column of the stored CREATE TABLE text, before its table constraints;
-- schema.sql spells the table exactly that way (a test compares them).

ALTER TABLE jobs ADD COLUMN claimed_ms INTEGER;

CREATE INDEX jobs_failed ON jobs (task_id) WHERE state = 'failed';
CREATE INDEX jobs_deferred ON jobs (run_after_ms, id) WHERE state = 'queued' AND infra_attempts > 0;
CREATE INDEX agent_runs_by_role_outcome ON agent_runs (role, outcome);
