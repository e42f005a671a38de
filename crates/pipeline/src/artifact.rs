//! Artifacts and verdict keys (DESIGN §3.3): for every working stage, the file
//! its role writes and the verdict key that file must carry.

use crate::stage::Stage;

/// What a stage's role must write: a file in the task's folder, carrying one
/// verdict line for [`ArtifactSpec::verdict_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArtifactSpec {
    /// The stage this artifact belongs to.
    pub stage: Stage,
    /// The file name inside the task folder, e.g. `15-staging-log.md`.
    pub file_name: &'static str,
    /// The verdict key, e.g. `staging_status`.
    pub verdict_key: &'static str,
    /// The one value that lets the task advance.
    pub pass_value: &'static str,
    /// Every accepted value, the pass value first. Any other value, or a
    /// missing or duplicated line, makes the gate fail closed.
    pub values: &'static [&'static str],
}

impl ArtifactSpec {
    /// Whether `value` is one of the accepted values (exact, case-sensitive).
    #[must_use]
    pub fn accepts(&self, value: &str) -> bool {
        self.values.contains(&value)
    }
}

/// The staging log's file name: fixed by the contract.
pub const STAGING_ARTIFACT: &str = "15-staging-log.md";
/// The staging log's verdict key: fixed by the contract.
pub const STAGING_STATUS_KEY: &str = "staging_status";

/// Every stage's artifact, in pipeline order. Terminal states have none.
pub const ARTIFACTS: [ArtifactSpec; 8] = [
    ArtifactSpec {
        stage: Stage::Analysis,
        file_name: "01-analysis.md",
        verdict_key: "analysis_status",
        pass_value: "COMPLETE",
        values: &["COMPLETE"],
    },
    ArtifactSpec {
        stage: Stage::Architecture,
        file_name: "03-architecture.md",
        verdict_key: "architecture_status",
        pass_value: "COMPLETE",
        values: &["COMPLETE"],
    },
    ArtifactSpec {
        stage: Stage::Development,
        file_name: "05-development.md",
        verdict_key: "development_status",
        pass_value: "COMPLETE",
        values: &["COMPLETE"],
    },
    ArtifactSpec {
        stage: Stage::Review,
        file_name: "08-review.md",
        verdict_key: "review_status",
        pass_value: "APPROVED",
        values: &["APPROVED", "CHANGES_REQUESTED"],
    },
    ArtifactSpec {
        stage: Stage::Testing,
        file_name: "10-test-report.md",
        verdict_key: "test_status",
        pass_value: "PASSED",
        values: &["PASSED", "FAILED"],
    },
    ArtifactSpec {
        stage: Stage::DeployStaging,
        file_name: STAGING_ARTIFACT,
        verdict_key: STAGING_STATUS_KEY,
        pass_value: "PASSED",
        values: &["PASSED", "FAILED"],
    },
    ArtifactSpec {
        stage: Stage::Deploy,
        file_name: "17-deploy-log.md",
        verdict_key: "deploy_status",
        pass_value: "DEPLOYED",
        values: &["DEPLOYED", "FAILED"],
    },
    ArtifactSpec {
        stage: Stage::PostDeploy,
        file_name: "19-post-deploy.md",
        verdict_key: "post_deploy_status",
        pass_value: "HEALTHY",
        values: &["HEALTHY", "DEGRADED"],
    },
];

impl Stage {
    /// The artifact this stage's role writes, or `None` for a terminal state.
    #[must_use]
    pub fn artifact(self) -> Option<&'static ArtifactSpec> {
        ARTIFACTS.iter().find(|spec| spec.stage == self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_working_stage_has_exactly_one_artifact() {
        for stage in Stage::ALL {
            let count = ARTIFACTS.iter().filter(|a| a.stage == stage).count();
            let expected = usize::from(!stage.is_terminal());
            assert_eq!(count, expected, "{stage}");
        }
    }

    #[test]
    fn pass_value_is_first_and_accepted() {
        for spec in ARTIFACTS {
            assert_eq!(
                spec.values.first(),
                Some(&spec.pass_value),
                "{}",
                spec.file_name
            );
            assert!(spec.accepts(spec.pass_value));
            assert!(!spec.accepts(&spec.pass_value.to_lowercase()));
        }
    }

    #[test]
    fn file_names_and_keys_are_unique() {
        for (i, a) in ARTIFACTS.iter().enumerate() {
            for b in &ARTIFACTS[i + 1..] {
                assert_ne!(a.file_name, b.file_name);
                assert_ne!(a.verdict_key, b.verdict_key);
            }
        }
    }

    #[test]
    fn the_staging_artifact_is_the_fixed_one() {
        let spec = Stage::DeployStaging.artifact().unwrap();
        assert_eq!(spec.file_name, "15-staging-log.md");
        assert_eq!(spec.verdict_key, "staging_status");
        assert_eq!(spec.values, &["PASSED", "FAILED"]);
    }
}
