//! Quality gates (DESIGN §3.6): the `check_*` functions that read an
//! artifact's verdict after a stage's role has finished, and `QG_CHECKS`, the
//! table of which gates run after which stage.

use std::fmt;

use crate::artifact::ArtifactSpec;
use crate::stage::Stage;
use crate::transition::Verdict;
use crate::verdict::parse_verdict;

/// A quality gate. Each reads one stage's artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gate {
    /// Reads `analysis_status`.
    CheckAnalysisStatus,
    /// Reads `architecture_status`.
    CheckArchitectureStatus,
    /// Reads `development_status`.
    CheckDevelopmentStatus,
    /// Reads `review_status`.
    CheckReviewStatus,
    /// Reads `test_status`.
    CheckTestStatus,
    /// Reads `staging_status`: the gate of `deploy-staging`.
    CheckStagingStatus,
    /// Reads `deploy_status`.
    CheckDeployStatus,
    /// Reads `post_deploy_status`.
    CheckPostDeployStatus,
}

impl Gate {
    /// Every gate, in pipeline order.
    pub const ALL: [Gate; 8] = [
        Gate::CheckAnalysisStatus,
        Gate::CheckArchitectureStatus,
        Gate::CheckDevelopmentStatus,
        Gate::CheckReviewStatus,
        Gate::CheckTestStatus,
        Gate::CheckStagingStatus,
        Gate::CheckDeployStatus,
        Gate::CheckPostDeployStatus,
    ];

    /// The gate's name, as stored with every gate decision.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Gate::CheckAnalysisStatus => "check_analysis_status",
            Gate::CheckArchitectureStatus => "check_architecture_status",
            Gate::CheckDevelopmentStatus => "check_development_status",
            Gate::CheckReviewStatus => "check_review_status",
            Gate::CheckTestStatus => "check_test_status",
            Gate::CheckStagingStatus => "check_staging_status",
            Gate::CheckDeployStatus => "check_deploy_status",
            Gate::CheckPostDeployStatus => "check_post_deploy_status",
        }
    }

    /// The stage whose artifact this gate reads.
    #[must_use]
    pub const fn stage(self) -> Stage {
        match self {
            Gate::CheckAnalysisStatus => Stage::Analysis,
            Gate::CheckArchitectureStatus => Stage::Architecture,
            Gate::CheckDevelopmentStatus => Stage::Development,
            Gate::CheckReviewStatus => Stage::Review,
            Gate::CheckTestStatus => Stage::Testing,
            Gate::CheckStagingStatus => Stage::DeployStaging,
            Gate::CheckDeployStatus => Stage::Deploy,
            Gate::CheckPostDeployStatus => Stage::PostDeploy,
        }
    }

    /// Runs the gate on an artifact's bytes, or on `None` when the role did not
    /// write the artifact (which fails closed). Never panics.
    #[must_use]
    pub fn evaluate(self, artifact: Option<&[u8]>) -> GateResult {
        let Some(spec) = self.stage().artifact() else {
            // Unreachable by construction (every gate's stage has an artifact,
            // which a test checks), but a gate must fail closed, never panic.
            return GateResult::fail(self, format!("stage {} has no artifact", self.stage()));
        };
        let Some(bytes) = artifact else {
            return GateResult::fail(
                self,
                format!(
                    "artifact {} was not written; the role must write it with a `{}:` line",
                    spec.file_name, spec.verdict_key
                ),
            );
        };
        match parse_verdict(bytes, spec) {
            Ok(value) => GateResult::from_value(self, spec, value),
            Err(error) => GateResult::fail(self, error.to_string()),
        }
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a gate decided, with the reason an operator reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateResult {
    /// The gate that decided.
    pub gate: Gate,
    /// Whether the task may advance.
    pub passed: bool,
    /// The verdict value read, when a valid one was found; `None` when the gate
    /// failed closed (missing artifact, missing, duplicated or unknown verdict).
    pub verdict: Option<String>,
    /// Why, in one line.
    pub reason: String,
}

impl GateResult {
    fn from_value(gate: Gate, spec: &ArtifactSpec, value: &str) -> GateResult {
        let passed = value == spec.pass_value;
        GateResult {
            gate,
            passed,
            verdict: Some(value.to_owned()),
            reason: format!("{}: {value}", spec.verdict_key),
        }
    }

    fn fail(gate: Gate, reason: String) -> GateResult {
        GateResult {
            gate,
            passed: false,
            verdict: None,
            reason,
        }
    }

    /// The gate's decision as a transition verdict.
    #[must_use]
    pub const fn verdict_class(&self) -> Verdict {
        if self.passed {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }
}

/// `QG_CHECKS`: for every working stage, the gates that run after its role
/// finishes, in order. A stage passes when every one of its gates passes.
pub const QG_CHECKS: [(Stage, &[Gate]); 8] = [
    (Stage::Analysis, &[Gate::CheckAnalysisStatus]),
    (Stage::Architecture, &[Gate::CheckArchitectureStatus]),
    (Stage::Development, &[Gate::CheckDevelopmentStatus]),
    (Stage::Review, &[Gate::CheckReviewStatus]),
    (Stage::Testing, &[Gate::CheckTestStatus]),
    (Stage::DeployStaging, &[Gate::CheckStagingStatus]),
    (Stage::Deploy, &[Gate::CheckDeployStatus]),
    (Stage::PostDeploy, &[Gate::CheckPostDeployStatus]),
];

/// The gates that run after `stage` (empty for a terminal state).
#[must_use]
pub fn gates_for(stage: Stage) -> &'static [Gate] {
    QG_CHECKS
        .iter()
        .find(|(s, _)| *s == stage)
        .map_or(&[], |(_, gates)| gates)
}

/// Gate `check_analysis_status` on an artifact's bytes.
#[must_use]
pub fn check_analysis_status(artifact: &[u8]) -> GateResult {
    Gate::CheckAnalysisStatus.evaluate(Some(artifact))
}

/// Gate `check_architecture_status` on an artifact's bytes.
#[must_use]
pub fn check_architecture_status(artifact: &[u8]) -> GateResult {
    Gate::CheckArchitectureStatus.evaluate(Some(artifact))
}

/// Gate `check_development_status` on an artifact's bytes.
#[must_use]
pub fn check_development_status(artifact: &[u8]) -> GateResult {
    Gate::CheckDevelopmentStatus.evaluate(Some(artifact))
}

/// Gate `check_review_status` on an artifact's bytes.
#[must_use]
pub fn check_review_status(artifact: &[u8]) -> GateResult {
    Gate::CheckReviewStatus.evaluate(Some(artifact))
}

/// Gate `check_test_status` on an artifact's bytes.
#[must_use]
pub fn check_test_status(artifact: &[u8]) -> GateResult {
    Gate::CheckTestStatus.evaluate(Some(artifact))
}

/// Gate `check_staging_status` on an artifact's bytes: the gate of
/// `deploy-staging`, the same whether an LLM deployer or the staging runner
/// wrote `15-staging-log.md`.
///
/// ```
/// use orch_pipeline::check_staging_status;
/// let result = check_staging_status(b"staging_status: PASSED\n");
/// assert!(result.passed);
/// let result = check_staging_status(b"```\nstaging_status: PASSED\n```\n");
/// assert!(!result.passed, "a verdict inside a fence does not count");
/// ```
#[must_use]
pub fn check_staging_status(artifact: &[u8]) -> GateResult {
    Gate::CheckStagingStatus.evaluate(Some(artifact))
}

/// Gate `check_deploy_status` on an artifact's bytes.
#[must_use]
pub fn check_deploy_status(artifact: &[u8]) -> GateResult {
    Gate::CheckDeployStatus.evaluate(Some(artifact))
}

/// Gate `check_post_deploy_status` on an artifact's bytes.
#[must_use]
pub fn check_post_deploy_status(artifact: &[u8]) -> GateResult {
    Gate::CheckPostDeployStatus.evaluate(Some(artifact))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_gate_checks_its_own_stage_once() {
        for gate in Gate::ALL {
            assert!(gate.stage().artifact().is_some(), "{gate}");
            let listed = QG_CHECKS
                .iter()
                .filter(|(_, gates)| gates.contains(&gate))
                .count();
            assert_eq!(listed, 1, "{gate} must be listed in QG_CHECKS once");
            assert!(gates_for(gate.stage()).contains(&gate));
        }
    }

    #[test]
    fn every_working_stage_has_a_gate() {
        for stage in Stage::ALL {
            assert_eq!(gates_for(stage).is_empty(), stage.is_terminal(), "{stage}");
        }
    }

    #[test]
    fn missing_artifact_fails_closed() {
        let result = Gate::CheckStagingStatus.evaluate(None);
        assert!(!result.passed);
        assert_eq!(result.verdict, None);
        assert!(result.reason.contains("15-staging-log.md was not written"));
    }

    #[test]
    fn a_valid_failure_value_is_reported_as_such() {
        let result = check_review_status(b"review_status: CHANGES_REQUESTED\n");
        assert!(!result.passed);
        assert_eq!(result.verdict.as_deref(), Some("CHANGES_REQUESTED"));
        assert_eq!(result.verdict_class(), Verdict::Fail);
    }

    #[test]
    fn each_check_function_reads_its_own_key() {
        type Check = fn(&[u8]) -> GateResult;
        let checks: [(Check, Gate); 8] = [
            (check_analysis_status, Gate::CheckAnalysisStatus),
            (check_architecture_status, Gate::CheckArchitectureStatus),
            (check_development_status, Gate::CheckDevelopmentStatus),
            (check_review_status, Gate::CheckReviewStatus),
            (check_test_status, Gate::CheckTestStatus),
            (check_staging_status, Gate::CheckStagingStatus),
            (check_deploy_status, Gate::CheckDeployStatus),
            (check_post_deploy_status, Gate::CheckPostDeployStatus),
        ];
        for (check, gate) in checks {
            let spec = gate.stage().artifact().unwrap();
            let text = format!("{}: {}\n", spec.verdict_key, spec.pass_value);
            let result = check(text.as_bytes());
            assert_eq!(result.gate, gate);
            assert!(result.passed, "{gate}: {}", result.reason);
        }
    }
}
