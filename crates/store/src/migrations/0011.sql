-- Migration step 11: schema version 10 -> 11. Frozen: databases in the field
-- have run it; never edit it, append a new step instead (docs/store.md).
--
-- Where an agent run's cost came from (issue 19). agent_runs.cost_source:
-- 'reported' when the agent CLI printed the cost itself (Claude Code's
-- total_cost_usd), 'estimated' when orch computed it from its price table
-- (ORCH_AGENT_PRICES: Codex and Gemini, which report tokens only, or a
-- Claude run killed before its result); NULL when the run has no cost, and
-- for rows written before this step.
--
-- ALTER TABLE ... ADD COLUMN appends ", <column definition>" after the last
-- column of the stored CREATE TABLE text, before its table constraints;
-- schema.sql spells the tables exactly that way (a test compares them).

ALTER TABLE agent_runs ADD COLUMN cost_source TEXT CHECK (cost_source IS NULL OR (cost_source IN ('reported', 'estimated') AND cost_usd IS NOT NULL));
