//! `orch queue`: the queue's JSON view (built by [`crate::queue`], the same
//! as `GET /queue`), printed once.

use super::{Setup, print_json};
use crate::{CliError, Ending};

/// `orch queue`.
pub(crate) fn show(setup: &Setup) -> Result<Ending, CliError> {
    let store = setup.open_store()?;
    let value = crate::queue::queue_json(&store, &setup.launcher())
        .map_err(|error| CliError::Tool(error.to_string()))?;
    print_json(&value)?;
    Ok(Ending::Done)
}
