//! `orch gate check`: runs a stage's gates on an artifact file and prints
//! their decisions.

use std::path::Path;

use orch_launcher::views::GateCheckView;
use orch_pipeline::{Stage, gates_for};

use super::print_json;
use crate::{CliError, Ending};

/// `orch gate check`.
pub(crate) fn check(stage: &str, file: &Path) -> Result<Ending, CliError> {
    let stage: Stage = stage
        .parse()
        .map_err(|error| CliError::BadArgument(format!("--stage: {error}")))?;
    let gates = gates_for(stage);
    if gates.is_empty() {
        return Err(CliError::BadArgument(format!(
            "stage {stage} has no gate: it is a terminal state"
        )));
    }
    let bytes = match std::fs::read(file) {
        Ok(bytes) => Some(bytes),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => {
            return Err(CliError::Tool(format!(
                "cannot read {}: {error}",
                file.display()
            )));
        }
    };
    let results: Vec<_> = gates
        .iter()
        .map(|gate| gate.evaluate(bytes.as_deref()))
        .collect();
    let view = GateCheckView::new(stage, file, &results);
    print_json(&view)?;
    Ok(if view.passed {
        Ending::Done
    } else {
        Ending::Failed
    })
}
