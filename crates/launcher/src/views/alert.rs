//! The JSON views of one alert (`orch alert list`) and of an
//! acknowledgement (`orch alert ack`).

use orch_store::{Alert, AlertId};
use serde::Serialize;

use super::rfc3339;

/// One alert: what happened, to which task and job, when, and when it was
/// acknowledged (`null` while it is open).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AlertView {
    /// When it was acknowledged (RFC 3339), or `null`.
    pub acknowledged: Option<String>,
    /// When it was raised (RFC 3339).
    pub at: String,
    /// The alert's id.
    pub id: i64,
    /// The job it concerns, if any.
    pub job: Option<i64>,
    /// Its kind (`blocked`, `cancelled`, ...).
    pub kind: String,
    /// What happened and what to do.
    pub message: String,
    /// The task it concerns, if any.
    pub task: Option<i64>,
}

/// What `orch alert ack` acknowledged: the alerts' ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AlertAckView {
    /// The ids of the alerts acknowledged, in the store's order.
    pub acknowledged: Vec<i64>,
}

impl AlertAckView {
    /// The view of the acknowledged `alerts`.
    #[must_use]
    pub fn new(alerts: &[AlertId]) -> AlertAckView {
        AlertAckView {
            acknowledged: alerts.iter().map(|a| a.get()).collect(),
        }
    }
}

impl AlertView {
    /// The view of `alert`.
    #[must_use]
    pub fn new(alert: &Alert) -> AlertView {
        AlertView {
            acknowledged: alert.acknowledged_ms.map(rfc3339),
            at: rfc3339(alert.created_ms),
            id: alert.id.get(),
            job: alert.job.map(orch_store::JobId::get),
            kind: alert.kind.to_string(),
            message: alert.message.clone(),
            task: alert.task.map(orch_store::TaskId::get),
        }
    }
}
