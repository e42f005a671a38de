//! `LogLabel` is `#[non_exhaustive]`: built from outside the crate with its
//! constructor, usable in a `const`.

use orch_staging_runner::LogLabel;

const TEST_REPORT: LogLabel = LogLabel::new("Test report", "test_status");

#[test]
fn a_log_label_is_built_with_its_constructor() {
    assert_eq!(TEST_REPORT.title, "Test report");
    assert_eq!(TEST_REPORT.verdict_key, "test_status");
    assert_eq!(
        LogLabel::new("Staging log", orch_pipeline::STAGING_STATUS_KEY),
        LogLabel::STAGING
    );
}
