//! Typed JSON views of what the store holds, as `orch` prints them (`task
//! show|list|add`, `repo add|list|update`, `alert list|ack`, `gate check`) and as an embedder
//! may serve them. Each view is a [`serde::Serialize`] struct whose fields are
//! declared in alphabetical order, so its JSON is byte for byte what
//! `serde_json::Value` (a sorted map) prints; `tests/views.rs` pins the JSON
//! of each view on a fixed store (golden files in `tests/golden/`).
//!
//! - [`task`]: one task with its jobs, runs, transitions and worktree
//!   ([`TaskView`]); a row of the task list ([`TaskSummary`]); a created task
//!   ([`CreatedTaskView`]); what the operator's retry, suite approval and
//!   cancel did ([`RetriedView`], [`SuiteApprovalView`], [`CancelView`]).
//! - [`repo`]: a registered repository ([`RepoView`]) and how its tasks are
//!   isolated ([`IsolationView`]); a removed repository
//!   ([`RemovedRepoView`]).
//! - [`alert`]: one alert ([`AlertView`]); what an acknowledgement did
//!   ([`AlertAckView`]).
//! - [`gate`]: a stage's gates run on an artifact file ([`GateCheckView`]).
//! - [`render`]: the same views as text for people (tables and summaries,
//!   times absolute and relative to a "now" the caller gives), what `orch`
//!   prints on a terminal.
//!
//! Times are RFC 3339 with milliseconds, in UTC ([`rfc3339`]).

pub mod alert;
pub mod gate;
pub mod render;
pub mod repo;
pub mod task;

pub use alert::{AlertAckView, AlertView};
pub use gate::{GateCheckView, GateDecisionView};
pub use repo::{IsolationView, RemovedRepoView, RepoView};
pub use task::{
    AbandonedView, BlockedView, CancelView, CreatedTaskView, RetriedView, ShadowView,
    SuiteApprovalView, TaskSummary, TaskView,
};

use std::time::{Duration, UNIX_EPOCH};

/// Milliseconds since the epoch as RFC 3339 with milliseconds (a negative
/// time reads as the epoch).
#[must_use]
pub fn rfc3339(ms: i64) -> String {
    let at = UNIX_EPOCH
        .checked_add(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
        .unwrap_or(UNIX_EPOCH);
    humantime::format_rfc3339_millis(at).to_string()
}
