-- Migration step 14: schema version 13 -> 14. Frozen: databases in the field
-- have run it; never edit it, append a new step instead (docs/store.md).
--
-- The repository of each shadow pair (issue 22, part 3: "/queue shows it"):
-- GET /queue decides, per repository and current test command, whether the
-- test runner may be switched on, and must do so without a scan of a whole
-- table nor a lookup per pair. shadow_verdicts.repo_id is the pair's task's
-- repository, written with the pair (a task never changes repository), and
-- backfilled here from tasks for every earlier pair. The covering index
-- shadow_verdicts_evidence holds every column the evidence counts, so the
-- count per repository, command and verdict pair is one range of it, grouped
-- in index order; each repository's name and test command are then read by
-- primary key.
--
-- ALTER TABLE ... ADD COLUMN appends ", <column definition>" after the last
-- column of the stored CREATE TABLE text, before its table constraints;
-- schema.sql spells the tables exactly that way (a test compares them).

ALTER TABLE shadow_verdicts ADD COLUMN repo_id INTEGER;

UPDATE shadow_verdicts SET repo_id = (SELECT t.repo_id FROM tasks AS t WHERE t.id = shadow_verdicts.task_id);

CREATE INDEX shadow_verdicts_evidence ON shadow_verdicts (stage, repo_id, command_sha, same_commit, runner_verdict, llm_verdict, rerun_verdict);
