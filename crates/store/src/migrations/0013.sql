-- Migration step 13: schema version 12 -> 13. Frozen: databases in the field
-- have run it; never edit it, append a new step instead (docs/store.md).
--
-- The runner's second verdict on a disagreement (issue 22): when a shadow
-- pair disagrees on the same commit, the engine runs the runner once more on
-- that commit and records its verdict here; a pair whose two runner verdicts
-- differ is flaky (the suite, not the LLM, is unreliable) and is counted
-- apart, out of the switching decision's denominator. NULL: no second run
-- (the pair agreed, it is about two commits, the runner gave no first
-- verdict, or the second run gave none), and for every pair before this step.
--
-- ALTER TABLE ... ADD COLUMN appends ", <column definition>" after the last
-- column of the stored CREATE TABLE text, before its table constraints;
-- schema.sql spells the tables exactly that way (a test compares them).

ALTER TABLE shadow_verdicts ADD COLUMN rerun_verdict TEXT CHECK (rerun_verdict IS NULL OR rerun_verdict IN ('PASSED', 'FAILED'));
