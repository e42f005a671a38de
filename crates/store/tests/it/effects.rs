//! Side effects at most once: the start of a deploy is recorded, fenced by
//! the lease, before its command runs; a later claim finds an unended one;
//! an operator's retry acknowledges it. Real SQLite files, a manual clock.

use orch_pipeline::{Role, Stage};
use std::time::Duration;

use crate::common::Fixture;
use orch_store::{LeaseOwner, NewEffect, NewJob, StoreError, TaskStatus};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn deploy() -> NewEffect {
    NewEffect::new("deploy", false).with_commit(Some(COMMIT.into()))
}

#[test]
fn a_started_deploy_whose_end_was_never_written_is_found_by_the_next_claim() {
    let fx = Fixture::new();
    let job = fx.enqueue("deploy", "deploy-finalizer");
    let first = fx.claim();
    assert_eq!(fx.store.interrupted_effect(first.lease).unwrap(), None);
    fx.store.begin_effect(first.lease, &deploy()).unwrap();
    // The worker dies (or cannot write its end): the lease expires.
    fx.clock.advance(61_000);
    assert_eq!(fx.store.rescue_expired().unwrap().requeued, vec![job]);
    let second = fx.claim();
    let found = fx.store.interrupted_effect(second.lease).unwrap().unwrap();
    assert_eq!(
        (
            found.job,
            found.kind.as_str(),
            found.commit.as_deref(),
            found.lease_token,
            found.ended_ms
        ),
        (job, "deploy", Some(COMMIT), first.lease.token, None)
    );
    // A graceful release does not end it either: its outcome is unknown.
    fx.store.release(second.lease, "stopping").unwrap();
    let third = fx.claim();
    assert!(fx.store.interrupted_effect(third.lease).unwrap().is_some());
    // Blocked by the engine; the operator's retry acknowledges it.
    let blocked =
        crate::common::transition(fx.task, "deploy-staging", "blocked", TaskStatus::Blocked);
    fx.store
        .fail(
            third.lease,
            "deploy interrupted",
            &orch_store::JobEnd {
                transition: Some(&blocked),
                ..orch_store::JobEnd::default()
            },
        )
        .unwrap();
    let effect = &fx.store.effects(fx.task).unwrap()[0];
    assert_eq!(
        (effect.ended_ms, effect.acknowledged_ms),
        (None, None),
        "a later claim's end is not the end of the deploy"
    );
    let retried = fx
        .store
        .retry_task(
            fx.task,
            &NewJob::new(fx.task, Stage::Deploy, Role::DeployFinalizer),
            "checked the target: the deploy did not happen",
            false,
        )
        .unwrap();
    assert!(
        fx.store.effects(fx.task).unwrap()[0]
            .acknowledged_ms
            .is_some()
    );
    let fresh = fx.claim();
    assert_eq!(fresh.job.id, retried.job);
    assert_eq!(fx.store.interrupted_effect(fresh.lease).unwrap(), None);
}

#[test]
fn the_claims_own_end_ends_its_effect_and_a_repeatable_one_is_never_interrupted() {
    let fx = Fixture::new();
    fx.enqueue("deploy", "deploy-finalizer");
    let c = fx.claim();
    fx.store.begin_effect(c.lease, &deploy()).unwrap();
    fx.store.complete(c.lease).unwrap();
    assert!(fx.store.effects(fx.task).unwrap()[0].ended_ms.is_some());

    let job = fx.enqueue("post-deploy", "post-deploy-monitor");
    let c = fx.claim();
    let probes = NewEffect::new("post-deploy", true);
    fx.store.begin_effect(c.lease, &probes).unwrap();
    fx.clock.advance(61_000);
    assert_eq!(fx.store.rescue_expired().unwrap().requeued, vec![job]);
    let again = fx.claim();
    assert_eq!(fx.store.interrupted_effect(again.lease).unwrap(), None);
}

#[test]
fn an_effect_starts_only_under_a_live_uncancelled_lease() {
    let fx = Fixture::new();
    fx.enqueue("deploy", "deploy-finalizer");
    let c = fx.claim();
    // Expired, not yet rescued: a rescue may take it any moment.
    fx.clock.advance(60_000);
    let error = fx.store.begin_effect(c.lease, &deploy()).unwrap_err();
    assert!(matches!(error, StoreError::LeaseLost { .. }), "{error}");
    fx.store.rescue_expired().unwrap();
    let error = fx.store.begin_effect(c.lease, &deploy()).unwrap_err();
    assert!(matches!(error, StoreError::LeaseLost { .. }), "{error}");

    let c = fx
        .store
        .claim(&LeaseOwner::new("boot-1", "w"), Duration::from_secs(60))
        .unwrap()
        .unwrap();
    fx.reopen().request_cancel(fx.task).unwrap();
    let error = fx.store.begin_effect(c.lease, &deploy()).unwrap_err();
    assert!(
        matches!(error, StoreError::CancelRequested { .. }),
        "{error}"
    );
    assert!(fx.store.effects(fx.task).unwrap().is_empty());
    let bad = deploy().with_commit(Some("HEAD".into()));
    assert!(matches!(
        fx.store.begin_effect(c.lease, &bad),
        Err(StoreError::InvalidInput { .. })
    ));
}
