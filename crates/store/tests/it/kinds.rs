//! The store's closed vocabularies at its edge: alert kinds and transition
//! actors are enums, pinned by a golden list, and a text in the database
//! that is none of them is a typed error when read, never a panic.
//!
//! A failure of `alert_kinds_match_the_golden_list` means a kind was added,
//! renamed or removed. If that is deliberate, rerun with
//! `UPDATE_GOLDEN=1 cargo test -p orch-store --test it kinds::`, review the diff
//! of `tests/golden/alert_kinds.txt`, and add a CHANGELOG.md entry: the
//! kinds are what operators and their scripts read in `orch alert list` and
//! `GET /queue`.

use orch_pipeline::Stage;
use std::path::Path;

use crate::common::Fixture;
use orch_store::{Actor, AlertKind, StoreError, TaskStatus};
use rusqlite::Connection;

#[test]
fn alert_kinds_match_the_golden_list() {
    let listed: String = AlertKind::ALL
        .iter()
        .map(|kind| format!("{kind}\n"))
        .collect();
    orch_tests::assert_golden(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/alert_kinds.txt"),
        &listed,
        "rerun with UPDATE_GOLDEN=1 cargo test -p orch-store --test it kinds::",
    );
}

#[test]
fn every_kind_and_actor_round_trips_through_the_database() {
    let fx = Fixture::new();
    let job = fx.enqueue("deploy-staging", "deployer");
    for kind in AlertKind::ALL {
        assert_eq!(kind.as_str().parse::<AlertKind>(), Ok(*kind));
        fx.store
            .raise_alert(&crate::common::alert(*kind, fx.task, job))
            .unwrap();
    }
    let mut read: Vec<AlertKind> = fx
        .store
        .alerts(true, 100)
        .unwrap()
        .into_iter()
        .map(|a| a.kind)
        .collect();
    read.reverse();
    assert_eq!(read, AlertKind::ALL);
    for actor in Actor::ALL {
        assert_eq!(actor.as_str().parse::<Actor>(), Ok(*actor));
    }
    assert_eq!(Actor::ALL.len(), 2);
}

/// An alert kind written by something else (a newer orch, a hand edit) is
/// an error that names the text and the accepted ones, from every reader.
#[test]
fn an_unknown_alert_kind_in_the_database_is_a_typed_error() {
    let fx = Fixture::new();
    let job = fx.enqueue("deploy-staging", "deployer");
    fx.store
        .raise_alert(&crate::common::alert(AlertKind::StageFailed, fx.task, job))
        .unwrap();
    Connection::open(&fx.path)
        .unwrap()
        .execute("UPDATE alerts SET kind = 'mystery_kind'", [])
        .unwrap();
    let store = fx.reopen();
    for error in [
        store.alerts(true, 10).map(|_| ()).unwrap_err(),
        store.open_alerts().map(|_| ()).unwrap_err(),
        store.queue_snapshot(10).map(|_| ()).unwrap_err(),
    ] {
        assert!(matches!(error, StoreError::Sqlite { .. }), "{error:?}");
        let text = error.to_string();
        assert!(
            text.contains("unknown alert kind \"mystery_kind\"") && text.contains("poison_job"),
            "{text}"
        );
    }
}

#[test]
fn an_unknown_actor_in_the_database_is_a_typed_error() {
    let fx = Fixture::new();
    fx.store
        .record_transition(
            &orch_store::NewTransition::new(
                fx.task,
                Stage::DeployStaging,
                Stage::Deploy,
                TaskStatus::Active,
            )
            .with_developer_retries(0)
            .with_decisions(Vec::new()),
        )
        .unwrap();
    assert_eq!(fx.store.transitions(fx.task).unwrap()[0].actor, None);
    Connection::open(&fx.path)
        .unwrap()
        .execute("UPDATE transitions SET actor = 'robot'", [])
        .unwrap();
    let error = fx.reopen().transitions(fx.task).unwrap_err();
    assert!(matches!(error, StoreError::Sqlite { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("unknown transition actor \"robot\"") && text.contains("operator, rescue"),
        "{text}"
    );
}

/// Stages and roles are typed at the store's edge: a stage or role text in
/// the database that `orch-pipeline` does not know (a newer orch, a hand
/// edit) is `StoreError::UnknownName`, naming the table, the row, the column
/// and the text, from every reader of that column.
#[test]
fn an_unknown_stage_or_role_in_the_database_is_a_typed_error_naming_the_row() {
    let fx = Fixture::new();
    let job = fx.enqueue("testing", "tester");
    let db = Connection::open(&fx.path).unwrap();
    db.execute("UPDATE tasks SET stage = 'qa'", []).unwrap();
    db.execute("UPDATE jobs SET role = 'Tester'", []).unwrap();
    let store = fx.reopen();
    let named = |error: StoreError, table: &str, row: String, column: &str, found: &str| {
        let text = error.to_string();
        let StoreError::UnknownName {
            table: t,
            row: r,
            column: c,
            found: f,
            ..
        } = error
        else {
            panic!("not UnknownName: {text}");
        };
        assert_eq!((t, r, c, f.as_str()), (table, row, column, found), "{text}");
        assert!(text.contains(&format!("{found:?}")), "{text}");
    };
    named(
        store.task(fx.task).unwrap_err(),
        "tasks",
        fx.task.to_string(),
        "stage",
        "qa",
    );
    named(
        store.job(job).unwrap_err(),
        "jobs",
        job.to_string(),
        "role",
        "Tester",
    );
    let error = store.queue_snapshot(10).unwrap_err();
    assert!(
        matches!(error, StoreError::UnknownName { column: "role", .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains("test-runner") && text.contains("tester"),
        "{text}"
    );
}
