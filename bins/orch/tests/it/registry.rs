//! The default registry against the inventory (docs/architecture/
//! llm-call-sites.md): every call site's `implemented_by` is an intercept of
//! `default_intercepts` that claims that role at that stage (mode `on`), and
//! shadows it where the inventory says it has a shadow mode; every reserved
//! agent of the inventory claims its own role at its stage. The drift check
//! reads the registry's source; this runs it. It lives with the binary, the
//! one crate that may depend on both the launcher and the inventory.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a panic is the failure report"
)]

use std::path::PathBuf;
use std::time::Duration;

use orch_inventory::{Inventory, PathKind};
use orch_launcher::reserved::default_intercepts;
use orch_launcher::worktree::Workspace;
use orch_launcher::{JobContext, LauncherConfig, RepoScope, RunnerMode};
use orch_pipeline::{Role, Stage};
use orch_store::{LeaseOwner, NewJob, NewRepo, Store};

fn inventory() -> Inventory {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    Inventory::load(&root).unwrap_or_else(|e| panic!("{e}"))
}

/// A job of `role` at `stage` in a repository that names every command.
fn context(dir: &std::path::Path, role: Role, stage: Stage) -> JobContext {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let store = Store::open(dir.join(format!("{n}.db"))).unwrap();
    let mut repo = NewRepo::new("demo", dir.to_str().unwrap(), "make staging");
    repo.test_command = Some("make test".into());
    repo.deploy_command = Some("make deploy".into());
    repo.health_command = Some("make health".into());
    let repo = store.add_repo(&repo).unwrap();
    let task = store.add_task(repo, "a task", stage).unwrap();
    store.enqueue(&NewJob::new(task, stage, role)).unwrap();
    let claimed = store
        .claim(&LeaseOwner::new("boot", "w"), Duration::from_secs(60))
        .unwrap()
        .unwrap();
    let task = store.task(task).unwrap();
    let repo = store.repo(repo).unwrap();
    let spec = stage.artifact().unwrap();
    JobContext {
        job: claimed.job,
        workspace: Workspace::checkout(&repo),
        task,
        repo,
        stage,
        role,
        spec,
        task_dir: dir.to_owned(),
        artifact: dir.join(spec.file_name),
        earlier_artifacts: Vec::new(),
        rollback_reasons: Vec::new(),
        tested: None,
        latest_staging: None,
    }
}

fn config(dir: &std::path::Path, mode: RunnerMode) -> LauncherConfig {
    let mut config = LauncherConfig::new(dir);
    for runner in [&mut config.staging_runner, &mut config.test_runner] {
        runner.enabled = true;
        runner.repos = RepoScope::All;
    }
    config.test_runner.mode = mode;
    config
}

#[test]
fn every_implementer_in_the_inventory_claims_its_role_and_stage_in_the_default_registry() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = inventory();
    let registry = default_intercepts();
    let mut checked = 0;
    for site in &inventory.call_sites {
        let Some(name) = &site.implemented_by else {
            continue;
        };
        let role: Role = site.role.parse().unwrap();
        let stage: Stage = site.stage.parse().unwrap();
        let ctx = context(dir.path(), role, stage);
        let on = config(dir.path(), RunnerMode::On);
        let claimer = registry
            .iter()
            .find(|i| i.claims(&ctx, &on))
            .map(|i| i.name());
        assert_eq!(
            claimer,
            Some(name.as_str()),
            "{}: {role} at {stage} in mode on",
            site.id
        );
        if site.shadow == Some(true) {
            let shadow = config(dir.path(), RunnerMode::Shadow);
            assert!(
                registry.iter().all(|i| !i.claims(&ctx, &shadow)),
                "{}: nothing claims it in shadow mode",
                site.id
            );
            let shadower = registry
                .iter()
                .find(|i| i.shadows(&ctx, &shadow))
                .map(|i| i.name());
            assert_eq!(shadower, Some(name.as_str()), "{}: shadow mode", site.id);
        }
        checked += 1;
    }
    assert_eq!(checked, 2, "the tester and the deployer");
    // Every reserved agent with a stage of its own claims its own role there.
    for path in inventory
        .deterministic
        .iter()
        .filter(|d| d.kind == PathKind::ReservedAgent)
    {
        let Some(stage) = &path.stage else { continue };
        let stage: Stage = stage.parse().unwrap();
        let Some(role) = stage.role() else { continue };
        let ctx = context(dir.path(), role, stage);
        let on = config(dir.path(), RunnerMode::On);
        let claimer = registry
            .iter()
            .find(|i| i.claims(&ctx, &on))
            .map(|i| i.name());
        assert_eq!(
            claimer,
            Some(path.name.as_str()),
            "{}: {role} at {stage}",
            path.id
        );
    }
}

/// A repository's own test-runner mode (`repo update --test-runner`)
/// replaces the configuration's mode and list for it; the kill-switch still
/// wins.
#[test]
fn a_repositorys_own_test_runner_mode_replaces_the_configurations() {
    let dir = tempfile::tempdir().unwrap();
    let registry = default_intercepts();
    let decide = |own: Option<&str>, mode: RunnerMode, in_list: bool, enabled: bool| {
        let mut ctx = context(dir.path(), Role::Tester, Stage::Testing);
        ctx.repo.test_runner_mode = own.map(str::to_owned);
        let mut config = config(dir.path(), mode);
        if !in_list {
            config.test_runner.repos = RepoScope::Only(vec!["elsewhere".into()]);
        }
        config.test_runner.enabled = enabled;
        let claimed = registry.iter().any(|i| i.claims(&ctx, &config));
        let shadowed = registry.iter().any(|i| i.shadows(&ctx, &config));
        (claimed, shadowed)
    };
    // (own, configured mode, in the list, switch on) → (claims, shadows)
    assert_eq!(decide(None, RunnerMode::Shadow, true, true), (false, true));
    assert_eq!(
        decide(Some("on"), RunnerMode::Shadow, true, true),
        (true, false)
    );
    assert_eq!(
        decide(Some("on"), RunnerMode::Off, false, true),
        (true, false),
        "outside the list"
    );
    assert_eq!(
        decide(Some("off"), RunnerMode::On, true, true),
        (false, false)
    );
    assert_eq!(
        decide(Some("shadow"), RunnerMode::On, true, true),
        (false, true)
    );
    assert_eq!(
        decide(None, RunnerMode::On, false, true),
        (false, false),
        "outside the list"
    );
    assert_eq!(
        decide(Some("on"), RunnerMode::On, true, false),
        (false, false),
        "the kill-switch wins"
    );
}
