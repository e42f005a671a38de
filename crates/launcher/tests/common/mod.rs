//! What the engine's test binaries share: driving an engine until the queue
//! is idle, reading a task's stage history, and a check that reports.

#![allow(dead_code, reason = "each test binary uses a different part")]
#![expect(
    clippy::unwrap_used,
    reason = "test support: a panic is the failure report"
)]

use std::time::{Duration, Instant};

use libtest_mimic::Failed;
use orch_launcher::{Engine, JobReport, StopSignal};
use orch_store::{JobState, TaskId};

/// Runs jobs until none is due, waiting briefly for deferred ones; at most
/// `limit` jobs, so that a loop in the pipeline fails the test.
pub(crate) fn drive(engine: &Engine, limit: usize) -> Vec<JobReport> {
    drive_for(engine, limit, Duration::from_secs(120))
}

/// As [`drive`], giving up after `bound` (many real agent runs in a row take
/// longer than [`drive`]'s two minutes on a loaded machine).
pub(crate) fn drive_for(engine: &Engine, limit: usize, bound: Duration) -> Vec<JobReport> {
    let stop = StopSignal::default();
    let mut reports = Vec::new();
    let deadline = Instant::now() + bound;
    while reports.len() < limit && Instant::now() < deadline {
        match engine.run_next(&stop).unwrap() {
            Some(report) => reports.push(report),
            None => {
                let queued = engine.store().jobs_in_state(JobState::Queued, 1).unwrap();
                if queued.is_empty() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    reports
}

/// The task's transitions as (from, to) stage names, oldest first.
pub(crate) fn stages(engine: &Engine, task: TaskId) -> Vec<(String, String)> {
    engine
        .store()
        .transitions(task)
        .unwrap()
        .into_iter()
        .map(|t| (t.from_stage.to_string(), t.to_stage.to_string()))
        .collect()
}

/// `Ok` when `condition` holds, else the failure `what` says.
pub(crate) fn check(condition: bool, what: impl Into<String>) -> Result<(), Failed> {
    if condition {
        Ok(())
    } else {
        Err(what.into().into())
    }
}
