//! The artifact as the stage's gates read it: below `decide`, which decides
//! on it, and `shadow`, which compares the LLM's verdict with the runner's.

use std::path::Path;

use orch_pipeline::gates_for;
use orch_store::{VERDICT_FAILED, VERDICT_PASSED};

use crate::context::JobContext;

use super::MAX_ARTIFACT_BYTES;

/// The LLM role's verdict as the stage's gates take it from its artifact
/// (`PASSED` when every gate passes): what [`Engine::decide`](super::Engine::decide) will decide
/// on, read before it to know whether a shadow pair disagrees.
pub(super) fn gate_verdict(ctx: &JobContext) -> &'static str {
    let bytes = read_artifact(&ctx.artifact);
    if gates_for(ctx.stage)
        .iter()
        .all(|gate| gate.evaluate(bytes.as_deref()).passed)
    {
        VERDICT_PASSED
    } else {
        VERDICT_FAILED
    }
}

/// The artifact's bytes, or `None` when it is missing, not a regular file, or
/// larger than [`MAX_ARTIFACT_BYTES`] (the gate then fails closed).
pub(super) fn read_artifact(path: &Path) -> Option<Vec<u8>> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_ARTIFACT_BYTES {
        return None;
    }
    std::fs::read(path).ok()
}
