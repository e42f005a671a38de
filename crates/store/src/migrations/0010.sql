-- Migration step 10: schema version 9 -> 10. Frozen: databases in the field
-- have run it; never edit it, append a new step instead (docs/store.md).
--
-- The test command a shadow pair was judged with (issue 22): the sha256 of
-- the repository's test command, trimmed, as lowercase hex
-- (orch_store::command_sha256), so that the evidence for switching a test
-- runner on counts only the pairs of the command that would then decide.
-- NULL for pairs recorded before this step: their command is unknown.
--
-- ALTER TABLE ... ADD COLUMN appends ", <column definition>" after the last
-- column of the stored CREATE TABLE text, before its table constraints;
-- schema.sql spells the tables exactly that way (a test compares them).

ALTER TABLE shadow_verdicts ADD COLUMN command_sha TEXT CHECK (command_sha IS NULL OR length(command_sha) = 64);
