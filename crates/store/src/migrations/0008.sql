-- Migration step 8: schema version 7 -> 8. Frozen: databases in the field
-- have run it; never edit it, append a new step instead (docs/store.md).
--
-- The kernel sandbox (issue 18). repos.suite_network: whether the
-- repository's staging and test suites may use the network ('off': a network
-- namespace of their own with only loopback, the default; 'on': the host's
-- network). repos.cache_dirs: extra folders its runs may write besides the
-- task's worktree (build caches, a deploy target), comma-separated absolute
-- paths ('' for none beyond orch's defaults).
--
-- agent_runs.sandbox and gate_decisions.sandbox: what the kernel enforced
-- for the run (and so for the verdict a gate read), in words, e.g.
-- 'required: landlock abi 7, filesystem full, network namespace, signals
-- scoped'; 'off (no sandbox)' when none was asked; NULL for rows written
-- before this step and for runs that started no process.
--
-- ALTER TABLE ... ADD COLUMN appends ", <column definition>" after the last
-- column of the stored CREATE TABLE text, before its table constraints;
-- schema.sql spells the tables exactly that way (a test compares them).

ALTER TABLE repos ADD COLUMN suite_network TEXT NOT NULL DEFAULT 'off' CHECK (suite_network IN ('on', 'off'));
ALTER TABLE repos ADD COLUMN cache_dirs TEXT NOT NULL DEFAULT '';
ALTER TABLE agent_runs ADD COLUMN sandbox TEXT;
ALTER TABLE gate_decisions ADD COLUMN sandbox TEXT;
