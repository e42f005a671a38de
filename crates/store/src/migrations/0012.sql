-- Migration step 12: schema version 11 -> 12. Frozen: databases in the field
-- have run it; never edit it, append a new step instead (docs/store.md).
--
-- Two columns (issue 22). The test command a shadow pair was judged with (issue 22): the sha256 of
-- the repository's test command, trimmed, as lowercase hex
-- (orch_store::command_sha256), so that the evidence for switching a test
-- runner on counts only the pairs of the command that would then decide.
-- NULL for pairs recorded before this step: their command is unknown.
--
-- ALTER TABLE ... ADD COLUMN appends ", <column definition>" after the last
-- column of the stored CREATE TABLE text, before its table constraints;
-- schema.sql spells the tables exactly that way (a test compares them).

ALTER TABLE shadow_verdicts ADD COLUMN command_sha TEXT CHECK (command_sha IS NULL OR length(command_sha) = 64);

-- repos.test_runner_mode: the test runner's mode for this repository
-- (orch repo update --test-runner on|shadow|off), which replaces the
-- configuration's mode and repository list for it (the kill-switch
-- ORCH_TEST_RUNNER_ENABLED still wins); NULL: the configuration decides, as
-- for every repository before this step.

ALTER TABLE repos ADD COLUMN test_runner_mode TEXT CHECK (test_runner_mode IS NULL OR test_runner_mode IN ('on', 'shadow', 'off'));
