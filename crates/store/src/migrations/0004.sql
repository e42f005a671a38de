-- Migration step 4: schema version 3 -> 4. Frozen: databases in the field
-- have run it; never edit it, append a new step instead (docs/store.md).
--
-- Task isolation and provenance. A repository may name the ref its tasks
-- start from (repos.base_ref; NULL: the checkout's HEAD when the task is
-- created). A task records how it is isolated (tasks.isolation: 'worktree',
-- its own git worktree on its own branch; 'checkout', the repository's own
-- folder, one whole task at a time, for a folder that is not a git
-- repository and for every task created before this step), the commit it
-- started from, its branch and worktree folder, the commit its latest stage
-- ended on, and whether its worktree is kept when it is done. A job records
-- the commit its role started on and the one it ended on. A gate decision
-- keeps, beside the artifact's sha256, the commit of the tree it judged and
-- whether that tree was clean. The partial index serves the claim's rule
-- that a repository's 'checkout' tasks run one at a time.
--
-- ALTER TABLE ... ADD COLUMN appends ", <column definition>" after the last
-- column of the stored CREATE TABLE text, before its table constraints;
-- schema.sql spells the tables exactly that way (a test compares them).

ALTER TABLE repos ADD COLUMN base_ref TEXT CHECK (base_ref IS NULL OR base_ref <> '');

ALTER TABLE tasks ADD COLUMN isolation TEXT NOT NULL DEFAULT 'checkout' CHECK (isolation IN ('worktree', 'checkout'));
ALTER TABLE tasks ADD COLUMN base_commit TEXT;
ALTER TABLE tasks ADD COLUMN branch TEXT;
ALTER TABLE tasks ADD COLUMN worktree TEXT;
ALTER TABLE tasks ADD COLUMN head_commit TEXT;
ALTER TABLE tasks ADD COLUMN keep_worktree INTEGER NOT NULL DEFAULT 0 CHECK (keep_worktree IN (0, 1));

ALTER TABLE jobs ADD COLUMN start_commit TEXT;
ALTER TABLE jobs ADD COLUMN end_commit TEXT;

ALTER TABLE gate_decisions ADD COLUMN commit_sha TEXT;
ALTER TABLE gate_decisions ADD COLUMN tree_clean INTEGER CHECK (tree_clean IS NULL OR tree_clean IN (0, 1));

CREATE INDEX tasks_serial ON tasks (repo_id, id) WHERE status = 'active' AND isolation = 'checkout';
