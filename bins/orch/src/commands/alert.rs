//! `orch alert list|ack`: the alerts as [`AlertView`]s, and their
//! acknowledgement.

use orch_launcher::views::{AlertAckView, AlertView};
use orch_store::AlertId;

use super::{Setup, print_json};
use crate::cli::AlertCommand;
use crate::{CliError, Ending};

/// Runs an `orch alert` command.
pub(crate) fn run(setup: &Setup, command: AlertCommand) -> Result<Ending, CliError> {
    match command {
        AlertCommand::List { all, limit } => list(setup, all, limit),
        AlertCommand::Ack { id, all } => ack(setup, id, all),
    }
}

/// `orch alert list`.
fn list(setup: &Setup, all: bool, limit: u32) -> Result<Ending, CliError> {
    let store = setup.open_store()?;
    let alerts = store.alerts(all, limit)?;
    print_json(&alerts.iter().map(AlertView::new).collect::<Vec<_>>())?;
    Ok(Ending::Done)
}

/// `orch alert ack`.
fn ack(setup: &Setup, id: Option<i64>, all: bool) -> Result<Ending, CliError> {
    let store = setup.open_store()?;
    let acknowledged: Vec<AlertId> = match (id, all) {
        (_, true) => store.acknowledge_all_alerts()?,
        (Some(id), false) => {
            let id = AlertId::new(id);
            store.acknowledge_alert(id)?;
            vec![id]
        }
        (None, false) => {
            return Err(CliError::BadArgument(
                "name the alert's id, or give --all".to_owned(),
            ));
        }
    };
    print_json(&AlertAckView::new(&acknowledged))?;
    Ok(Ending::Done)
}
