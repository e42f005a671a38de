-- Migration step 16: schema version 15 -> 16. Frozen: databases in the field
-- have run it; never edit it, append a new step instead (docs/store.md).
--
-- Task counts by status on /queue (issue 21, "/queue counts jobs, not
-- tasks"): GET /queue counts the active and the blocked tasks through these
-- partial indexes, and the done ones as all tasks minus those, so that the
-- snapshot never scans the history of finished tasks.

CREATE INDEX tasks_active ON tasks (id) WHERE status = 'active';

CREATE INDEX tasks_blocked ON tasks (id) WHERE status = 'blocked';

-- The latest shadow disagreements on /queue (issue 21, "shadow visible"): the
-- pairs whose runner gave a verdict other than the LLM's, newest first, one
-- range of this partial index.
CREATE INDEX shadow_verdicts_disagreements ON shadow_verdicts (id) WHERE runner_verdict IS NOT NULL AND runner_verdict <> llm_verdict;
