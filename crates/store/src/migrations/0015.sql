-- Migration step 15: schema version 14 -> 15. Frozen: databases in the field
-- have run it; never edit it, append a new step instead (docs/store.md).
--
-- Abandoning a blocked task (issue 21, "Closing and status"; `orch task
-- abandon`): the operator closes a task nobody will retry. It stays in the
-- history, status 'blocked', with the time it was abandoned here (NULL: not
-- abandoned) and the operator's reason in its last transition; its worktree
-- is removed and its branch kept. A flag, not a fourth status, so that every
-- reader of the three statuses keeps its meaning: an abandoned task is a
-- blocked task that no longer asks for attention, and retry refuses it.
--
-- ALTER TABLE ... ADD COLUMN appends ", <column definition>" after the last
-- column of the stored CREATE TABLE text, before its table constraints;
-- schema.sql spells the tables exactly that way (a test compares them).

ALTER TABLE tasks ADD COLUMN abandoned_ms INTEGER;
