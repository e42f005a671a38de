//! The JSON view of a stage's gates run on an artifact file (`orch gate
//! check`).

use std::path::Path;

use orch_pipeline::{GateResult, Stage};
use serde::Serialize;

/// A stage's gates on one artifact file: whether they all passed, and each
/// gate's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GateCheckView {
    /// The artifact file, as given.
    pub file: String,
    /// Each gate's decision, in the stage's order.
    pub gates: Vec<GateDecisionView>,
    /// Whether every gate passed.
    pub passed: bool,
    /// The stage (`deploy-staging`, ...).
    pub stage: String,
}

/// One gate's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GateDecisionView {
    /// The gate (`check_staging_status`, ...).
    pub gate: String,
    /// Whether it let the task advance.
    pub passed: bool,
    /// Why, in one line.
    pub reason: String,
    /// The verdict value it read, or `null` when it failed closed.
    pub verdict: Option<String>,
}

impl GateCheckView {
    /// The view of `stage`'s gate `results` on `file`.
    #[must_use]
    pub fn new(stage: Stage, file: &Path, results: &[GateResult]) -> GateCheckView {
        GateCheckView {
            file: file.to_string_lossy().into_owned(),
            gates: results
                .iter()
                .map(|r| GateDecisionView {
                    gate: r.gate.name().to_owned(),
                    passed: r.passed,
                    reason: r.reason.clone(),
                    verdict: r.verdict.clone(),
                })
                .collect(),
            passed: results.iter().all(|r| r.passed),
            stage: stage.as_str().to_owned(),
        }
    }
}
