//! An operator's cancel as history: the transition that blocks a cancelled
//! task and the `cancelled` alert it records, shared by the operator's
//! cancel (`crate::operator`) and the rescue that fails a job whose cancel
//! was asked (`crate::queue`).

use orch_pipeline::Stage;
use rusqlite::{Transaction, params};

use crate::error::{Result, sql};
use crate::records::alerts::NewAlert;
use crate::records::tasks::Task;
use crate::records::transitions::NewTransition;
use crate::tables::alerts::insert_alert;
use crate::tables::tasks::task_state;
use crate::tables::transitions::insert_transition;
use crate::types::{Actor, AlertId, AlertKind, JobId, TaskId, TaskStatus};

/// The actor of a transition an operator's command made (`transitions.actor`).
pub const OPERATOR: Actor = Actor::Operator;

/// The transition reason of a task an operator cancelled (its alert's kind
/// is [`AlertKind::Cancelled`], the same text).
pub const CANCELLED: &str = "cancelled";

/// The transition that blocks a cancelled task, from where it is.
pub(crate) fn cancel_transition(task: &Task) -> NewTransition {
    NewTransition {
        task: task.id,
        from_stage: task.stage,
        to_stage: Stage::Blocked,
        status: TaskStatus::Blocked,
        developer_retries: task.developer_retries,
        decisions: Vec::new(),
    }
}

/// What became of a cancelled task's job, for the `cancelled` alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CancelledJob {
    /// It was running; its worker ended it.
    Running,
    /// It was queued; the cancel failed it.
    Queued,
    /// Its worker was gone (boot dead, lease expired); a rescue failed it.
    Rescued,
}

/// Records the `cancelled` alert, acknowledged at once: the operator asked
/// for the block, so it is history (`orch alert list --all`), not news.
pub(crate) fn cancelled_alert(
    tx: &Transaction<'_>,
    task: &Task,
    job: Option<JobId>,
    how: CancelledJob,
    now_ms: i64,
) -> Result<AlertId> {
    let what = match how {
        CancelledJob::Running => {
            "its running job's process tree was ended and its half-written artifact archived"
        }
        CancelledJob::Queued => "its job was not running and was failed",
        CancelledJob::Rescued => {
            "its job's worker was gone (its boot died or its lease expired), so a rescue failed the job instead of running it again"
        }
    };
    let id = insert_alert(
        tx,
        &NewAlert {
            kind: AlertKind::Cancelled,
            message: format!(
                "task {} ({}) cancelled by the operator at stage {}: {what}; `orch task retry {}` runs it again",
                task.id, task.title, task.stage, task.id
            ),
            task: Some(task.id),
            job,
        },
        now_ms,
    )?;
    tx.execute(
        "UPDATE alerts SET acknowledged_ms = ?2 WHERE id = ?1",
        params![id, now_ms],
    )
    .map_err(sql("cancel"))?;
    Ok(id)
}

/// Blocks the task of job `job`, which a rescue failed because an operator
/// had asked to cancel it: a transition by the operator with reason
/// `cancelled` if the task is still active, and the acknowledged `cancelled`
/// alert. Returns the task if it was blocked, and the alert.
pub(crate) fn block_cancelled(
    tx: &Transaction<'_>,
    task: TaskId,
    job: JobId,
    now_ms: i64,
) -> Result<(Option<TaskId>, AlertId)> {
    let current = task_state(tx, task, "rescue")?;
    let blocked = current.status == TaskStatus::Active;
    if blocked {
        insert_transition(
            tx,
            &cancel_transition(&current),
            Some(job),
            Some((OPERATOR, CANCELLED)),
            now_ms,
        )?;
    }
    let alert = cancelled_alert(tx, &current, Some(job), CancelledJob::Rescued, now_ms)?;
    Ok((blocked.then_some(task), alert))
}
