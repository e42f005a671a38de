-- Migration step 7: schema version 6 -> 7. Frozen: databases in the field
-- have run it; never edit it, append a new step instead (docs/store.md).
--
-- The pinned suite, the setup per worktree and a fair shadow (issue 18).
--
-- repos.suite_paths: the suite's files, as comma-separated git glob
-- patterns ('' for none: the suite is unpinned). The staging and test
-- runners judge a scratch tree at the candidate commit in which every suite
-- path that exists at the task's base commit (or at the version an operator
-- approved) is restored to that content. repos.setup_command runs in each
-- new task worktree and each judge tree before the first role or the suite
-- (NULL: none).
--
-- tasks.suite_commit and tasks.suite_diff_sha256: the suite version an
-- operator approved for the task (orch task approve-suite), the commit whose
-- suite paths the judge tree then restores, and the sha256 of the suite's
-- diff from the base to it; NULL: the base commit's suite.
--
-- shadow_verdicts.llm_commit_sha: the commit the LLM's verdict is about;
-- commit_sha stays the commit the runner ran on. same_commit is 1 when the
-- two verdicts are about the same tree (the same commit, or both without a
-- worktree, the runner having run after the LLM in the same folder); only
-- those pairs count as agreement or disagreement. Pairs recorded before
-- this step compared the runner on the stage's start commit with the LLM on
-- its end commit: they keep 0 and are counted apart. The agreement index is
-- made anew with same_commit so that the counters stay one covering range.
--
-- ALTER TABLE ... ADD COLUMN appends ", <column definition>" after the last
-- column of the stored CREATE TABLE text, before its table constraints;
-- schema.sql spells the tables exactly that way (a test compares them).

ALTER TABLE repos ADD COLUMN suite_paths TEXT NOT NULL DEFAULT '';
ALTER TABLE repos ADD COLUMN setup_command TEXT CHECK (setup_command IS NULL OR setup_command <> '');

ALTER TABLE tasks ADD COLUMN suite_commit TEXT;
ALTER TABLE tasks ADD COLUMN suite_diff_sha256 TEXT CHECK (suite_diff_sha256 IS NULL OR (length(suite_diff_sha256) = 64 AND suite_diff_sha256 NOT GLOB '*[^0-9a-f]*'));

ALTER TABLE shadow_verdicts ADD COLUMN llm_commit_sha TEXT;
ALTER TABLE shadow_verdicts ADD COLUMN same_commit INTEGER NOT NULL DEFAULT 0 CHECK (same_commit IN (0, 1));

DROP INDEX shadow_verdicts_agreement;
CREATE INDEX shadow_verdicts_agreement ON shadow_verdicts (stage, same_commit, runner_verdict, llm_verdict);
