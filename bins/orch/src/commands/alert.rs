//! `orch alert list|ack`: the alerts as [`AlertView`]s, and their
//! acknowledgement.

use orch_launcher::views::{AlertAckView, AlertView, render};
use orch_store::AlertId;

use super::{Globals, Setup, now_ms, print_json, print_view};
use crate::cli::AlertCommand;
use crate::{CliError, Ending};

/// Runs an `orch alert` command.
pub(crate) fn run(
    setup: &Setup,
    globals: &Globals,
    command: AlertCommand,
) -> Result<Ending, CliError> {
    match command {
        AlertCommand::List { all, limit } => list(setup, globals, all, limit),
        AlertCommand::Ack { id, all } => ack(setup, id, all),
    }
}

/// `orch alert list`.
fn list(setup: &Setup, globals: &Globals, all: bool, limit: u32) -> Result<Ending, CliError> {
    let store = setup.open_store()?;
    let alerts = store.alerts(all, limit)?;
    let views = alerts.iter().map(AlertView::new).collect::<Vec<_>>();
    print_view(globals, &views, || render::alert_list(&views, now_ms()))?;
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
