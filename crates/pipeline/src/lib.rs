//! The pipeline contracts of orch: stages, roles, artifacts, the verdict-line
//! grammar, the transition table and the quality gates.
//!
//! A task moves through the [`Stage`]s in order. Each working stage is run by a
//! [`Role`], which writes the stage's artifact ([`ArtifactSpec`], one per
//! stage, listed in [`ARTIFACTS`]) carrying a verdict line such as
//! `staging_status: PASSED`. After the role finishes, the gates listed for the
//! stage in [`QG_CHECKS`] read the artifact ([`check_staging_status`] and its
//! siblings), and [`next_stage`] looks the outcome up in
//! [`STAGE_TRANSITIONS`], rolling failures back to `development` until the
//! developer-retry budget is spent.
//!
//! ```
//! use orch_pipeline::{check_staging_status, next_stage, DecisionKind, Stage};
//!
//! let gate = check_staging_status(b"# Staging\nstaging_status: FAILED\n");
//! assert!(!gate.passed);
//! let decision = next_stage(Stage::DeployStaging, gate.verdict_class(), 0, 3).unwrap();
//! assert_eq!(decision.to, Stage::Development);
//! assert_eq!(decision.kind, DecisionKind::Rollback);
//! ```
//!
//! Writers use [`render_verdict_line`] and [`fenced_block`], so that the
//! grammar has one home: whatever a writer embeds inside a fenced block can
//! never be read as a verdict.
//!
//! What this crate deliberately does not do: it starts no process, opens no
//! file or database, and reads no clock. It is text and tables; callers bring
//! the bytes.

mod artifact;
mod gate;
mod stage;
mod transition;
mod verdict;

pub use artifact::{ARTIFACTS, ArtifactSpec, STAGING_ARTIFACT, STAGING_STATUS_KEY};
pub use gate::{
    Gate, GateResult, QG_CHECKS, check_analysis_status, check_architecture_status,
    check_deploy_status, check_development_status, check_post_deploy_status, check_review_status,
    check_staging_status, check_test_status, gates_for,
};
pub use stage::{ParseNameError, Role, RoleKind, Stage};
pub use transition::{
    DEFAULT_DEVELOPER_RETRIES, Decision, DecisionKind, STAGE_TRANSITIONS, Transition,
    TransitionError, Verdict, next_stage,
};
pub use verdict::{VerdictError, fenced_block, parse_verdict, render_verdict_line};
