-- Migration step 5: schema version 4 -> 5. Frozen: databases in the field
-- have run it; never edit it, append a new step instead (docs/store.md).
--
-- The operator's loop (retry, cancel, poison counted apart):
-- jobs.rescues counts the crash rescues of a job (its lease was taken back
-- because its boot died or its lease expired), apart from attempts (claims);
-- a graceful release never counts, and a job is failed as poison when its
-- rescues reach the threshold. jobs.cancel_requested_ms is when an operator
-- asked to cancel the running job (NULL: not asked); the worker holding the
-- lease sees it and ends the job. transitions.actor says who moved the task
-- when it was not a job's own end ('operator' for `orch task retry` and
-- `orch task cancel`, 'rescue' for a poison block; NULL for the engine), and
-- transitions.reason says why in words (NULL when the gates say it).
--
-- ALTER TABLE ... ADD COLUMN appends ", <column definition>" after the last
-- column of the stored CREATE TABLE text, before its table constraints;
-- schema.sql spells the tables exactly that way (a test compares them).

ALTER TABLE jobs ADD COLUMN rescues INTEGER NOT NULL DEFAULT 0 CHECK (rescues >= 0);
ALTER TABLE jobs ADD COLUMN cancel_requested_ms INTEGER;

ALTER TABLE transitions ADD COLUMN actor TEXT;
ALTER TABLE transitions ADD COLUMN reason TEXT;
