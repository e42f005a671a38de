-- Migration step 9: schema version 8 -> 9. Frozen: databases in the field
-- have run it; never edit it, append a new step instead (docs/store.md).
--
-- Prompt-cache tokens and the model of an agent run (issue 19).
-- agent_runs.cache_read_tokens: input tokens served from the prompt cache
-- (Claude Code's cache_read_input_tokens, Codex's cached_input_tokens,
-- Gemini's cached); agent_runs.cache_write_tokens: input tokens written to
-- it (Claude Code's cache_creation_input_tokens; the others report none).
-- Each keeps its CLI's meaning: Claude's tokens_in excludes both, Codex's
-- and Gemini's tokens_in includes the cached part. NULL when the CLI did not
-- report them, and for rows written before this step.
--
-- agent_runs.model: the model the run used as its CLI named it (Claude's
-- init event, Gemini's stats), what a price per model is looked up by; NULL
-- when the CLI did not say (Codex) and for rows written before this step.
--
-- ALTER TABLE ... ADD COLUMN appends ", <column definition>" after the last
-- column of the stored CREATE TABLE text, before its table constraints;
-- schema.sql spells the tables exactly that way (a test compares them).

ALTER TABLE agent_runs ADD COLUMN cache_read_tokens INTEGER CHECK (cache_read_tokens IS NULL OR cache_read_tokens >= 0);
ALTER TABLE agent_runs ADD COLUMN cache_write_tokens INTEGER CHECK (cache_write_tokens IS NULL OR cache_write_tokens >= 0);
ALTER TABLE agent_runs ADD COLUMN model TEXT CHECK (model IS NULL OR model <> '');
