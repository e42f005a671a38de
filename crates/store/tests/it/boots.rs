//! Boot liveness the kernel keeps: boot files locked with `flock`, several
//! orch processes on one database, and the rescue of dead boots only.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a panic is the failure report"
)]

use orch_pipeline::{Role, Stage};
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Fixture, T0};
use orch_store::{
    JobId, JobState, LeaseOwner, NewJob, POISON_JOB_ALERT, Store, StoreError, StoreOptions,
    TaskStatus,
};

const HOUR: Duration = Duration::from_secs(3_600);

/// Claims the next due job for `boot` with an hour's lease.
fn claim_as(store: &Store, boot: &str) -> JobId {
    store
        .claim(&LeaseOwner::new(boot, "w0"), HOUR)
        .unwrap()
        .unwrap()
        .lease
        .job
}

#[test]
fn a_live_boot_keeps_its_jobs_and_a_dropped_one_is_rescued_at_once() {
    let fx = Fixture::new();
    let other = fx.reopen();
    let a = fx.store.register_boot("boot-a").unwrap();
    let b = other.register_boot("boot-b").unwrap();
    assert_eq!(a.boot_id(), "boot-a");
    assert_eq!(a.path(), fx.store.boot_file("boot-a").unwrap());
    assert!(a.path().is_file());
    let a_job = {
        fx.enqueue("testing", "tester");
        claim_as(&fx.store, "boot-a")
    };
    let b_job = {
        fx.enqueue("testing", "tester");
        claim_as(&other, "boot-b")
    };

    // Two live processes on one database: neither takes the other's job,
    // however often it looks.
    for _ in 0..3 {
        let rescued = other.rescue_dead_boots("boot-b").unwrap();
        assert_eq!(rescued, orch_store::Rescued::default());
        let rescued = fx.store.rescue_dead_boots("boot-a").unwrap();
        assert_eq!(rescued, orch_store::Rescued::default());
    }
    assert_eq!(fx.store.job(a_job).unwrap().state, JobState::Running);
    assert_eq!(fx.store.job(b_job).unwrap().state, JobState::Running);

    // boot-a ends: its job is rescued at once, with no lease expiry (the
    // clock has not moved), and boot-b's job is left alone.
    let a_path = a.path().to_path_buf();
    drop(a);
    assert!(
        a_path.exists(),
        "dropping the guard leaves the file, unlocked: dead to every prober"
    );
    let rescued = other.rescue_dead_boots("boot-b").unwrap();
    assert_eq!(rescued.requeued, vec![a_job]);
    assert!(rescued.failed.is_empty());
    let job = fx.store.job(a_job).unwrap();
    assert_eq!((job.state, job.run_after_ms), (JobState::Queued, T0));
    assert_eq!(job.attempts, 1, "the lost claim keeps its attempt");
    let why = job.last_error.unwrap();
    assert!(why.contains("boot boot-a") && why.contains("dead"), "{why}");
    assert_eq!(fx.store.job(b_job).unwrap().state, JobState::Running);
    assert!(!a_path.exists(), "the rescuer removes the dead boot's file");

    // Lease expiry stays the backstop, live boot or not.
    fx.clock.advance(HOUR.as_millis() as i64);
    assert_eq!(other.rescue_expired().unwrap().requeued, vec![b_job]);
    drop(b);
}

#[test]
fn a_boot_file_left_unlocked_is_dead_its_jobs_rescued_and_the_file_removed() {
    let fx = Fixture::new();
    let _me = fx.store.register_boot("boot-new").unwrap();
    fx.enqueue("testing", "tester");
    let job = claim_as(&fx.store, "boot-old");
    // A process killed with its file still there: the kernel dropped the
    // lock, the file stayed.
    let file = fx.store.boot_file("boot-old").unwrap();
    fs::write(&file, "pid 1\n").unwrap();

    let rescued = fx.store.rescue_dead_boots("boot-new").unwrap();
    assert_eq!(rescued.requeued, vec![job]);
    assert!(!file.exists(), "the dead boot's file is removed");
    let why = fx.store.job(job).unwrap().last_error.unwrap();
    assert!(why.contains("boot file unlocked"), "{why}");
}

#[test]
fn a_boot_without_a_boot_file_is_unknown_and_only_its_lease_expiry_rescues() {
    let fx = Fixture::new();
    let _me = fx.store.register_boot("boot-new").unwrap();
    fx.enqueue("testing", "tester");
    fx.enqueue("testing", "tester");
    let never_registered = claim_as(&fx.store, "boot-ghost");
    // A boot id that cannot even name a file has no boot file either.
    let unnamable = claim_as(&fx.store, "boot 1/old");

    // No file proves nothing: both jobs are left alone, however often.
    for _ in 0..3 {
        let rescued = fx.store.rescue_dead_boots("boot-new").unwrap();
        assert_eq!(rescued, orch_store::Rescued::default());
    }
    assert_eq!(
        fx.store.job(never_registered).unwrap().state,
        JobState::Running
    );
    assert_eq!(fx.store.job(unnamable).unwrap().state, JobState::Running);
    // Their leases' expiry does rescue them.
    fx.clock.advance(HOUR.as_millis() as i64);
    let mut requeued = fx.store.rescue_expired().unwrap().requeued;
    requeued.sort();
    assert_eq!(requeued, vec![never_registered, unnamable]);
}

/// Hostile: a live process's boot file is deleted (an operator's clean-up, a
/// restored folder). Its lock is still held by the live process, on a file
/// no path names; another process's rescue must not take its running job.
#[test]
fn a_live_boot_whose_file_was_deleted_keeps_its_running_job() {
    let fx = Fixture::new();
    let _me = fx.store.register_boot("boot-me").unwrap();
    let file = fx.store.boot_file("boot-live").unwrap();
    let holder = Holder::start(&file);
    fx.enqueue("testing", "tester");
    let job = claim_as(&fx.store, "boot-live");
    fs::remove_file(&file).unwrap();

    let rescuer = fx.reopen();
    let _other = rescuer.register_boot("boot-rescuer").unwrap();
    for _ in 0..3 {
        let rescued = rescuer.rescue_dead_boots("boot-rescuer").unwrap();
        assert_eq!(rescued, orch_store::Rescued::default());
        let rescued = fx.store.rescue_dead_boots("boot-me").unwrap();
        assert_eq!(rescued, orch_store::Rescued::default());
    }
    let running = fx.store.job(job).unwrap();
    assert_eq!(running.state, JobState::Running, "{:?}", running.last_error);
    assert_eq!(running.rescues, 0);
    drop(holder);
}

/// A boot file that cannot be read (here: a folder where the file should
/// be, which cannot be locked as one) is unknown too, and does not stop the
/// rescue of the boots that are provably dead.
#[test]
fn an_unreadable_boot_file_is_unknown_and_the_dead_are_still_rescued() {
    let fx = Fixture::new();
    let _me = fx.store.register_boot("boot-me").unwrap();
    fx.enqueue("testing", "tester");
    fx.enqueue("testing", "tester");
    let odd = claim_as(&fx.store, "boot-odd");
    let dead = claim_as(&fx.store, "boot-dead");
    fs::create_dir(fx.store.boot_file("boot-odd").unwrap()).unwrap();
    fs::write(fx.store.boot_file("boot-dead").unwrap(), "pid 1\n").unwrap();

    let rescued = fx.store.rescue_dead_boots("boot-me").unwrap();
    assert_eq!(rescued.requeued, vec![dead]);
    assert_eq!(fx.store.job(odd).unwrap().state, JobState::Running);
}

/// A link planted where a boot file goes is never followed: an unlocked
/// file it points at does not make a live boot look dead.
#[test]
fn a_link_at_a_boot_files_place_is_unknown_not_dead() {
    let fx = Fixture::new();
    let _me = fx.store.register_boot("boot-me").unwrap();
    fx.enqueue("testing", "tester");
    let job = claim_as(&fx.store, "boot-linked");
    let decoy = fx.dir.path().join("decoy");
    fs::write(&decoy, "pid 1\n").unwrap();
    std::os::unix::fs::symlink(&decoy, fx.store.boot_file("boot-linked").unwrap()).unwrap();

    let rescued = fx.store.rescue_dead_boots("boot-me").unwrap();
    assert_eq!(rescued, orch_store::Rescued::default());
    assert_eq!(fx.store.job(job).unwrap().state, JobState::Running);
    assert!(decoy.exists());
}

#[test]
fn a_poison_job_of_a_dead_boot_still_blocks_its_task() {
    let fx = Fixture::new();
    let other = fx.reopen();
    let _me = other.register_boot("boot-rescuer").unwrap();
    let job = fx
        .store
        .enqueue(&NewJob::new(fx.task, Stage::DeployStaging, Role::Deployer).with_max_attempts(1))
        .unwrap();
    let dying = fx.store.register_boot("boot-dying").unwrap();
    assert_eq!(claim_as(&fx.store, "boot-dying"), job);
    drop(dying);

    let rescued = other.rescue_dead_boots("boot-rescuer").unwrap();
    assert_eq!(rescued.failed, vec![job]);
    assert_eq!(rescued.blocked, vec![fx.task]);
    assert_eq!(rescued.alerts.len(), 1);
    assert_eq!(fx.store.job(job).unwrap().state, JobState::Failed);
    let task = fx.store.task(fx.task).unwrap();
    assert_eq!(
        (task.stage.as_str(), task.status),
        ("blocked", TaskStatus::Blocked)
    );
    let open = fx.store.open_alerts().unwrap();
    assert_eq!(open[0].kind, POISON_JOB_ALERT);
    assert_eq!(open[0].job, Some(job));
}

#[test]
fn bad_boot_ids_are_refused() {
    let fx = Fixture::new();
    let long = "b".repeat(65);
    for bad in [
        "",
        ".hidden",
        "..",
        "a/b",
        "boot 1",
        "boot\0",
        "bööt",
        "x*",
        long.as_str(),
    ] {
        let err = fx.store.register_boot(bad).unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidBootId { boot_id, .. } if boot_id == bad),
            "{bad:?}: {err:?}"
        );
        assert!(err.to_string().contains("1 to 64 characters"), "{err}");
        assert!(matches!(
            fx.store.rescue_dead_boots(bad),
            Err(StoreError::InvalidBootId { .. })
        ));
        assert!(matches!(
            fx.store.boot_file(bad),
            Err(StoreError::InvalidBootId { .. })
        ));
    }
    let boots = fx.store.boot_file("x").unwrap();
    let boots = boots.parent().unwrap();
    assert!(
        !boots.exists(),
        "nothing is created for a refused id: {boots:?}"
    );
    for good in ["a", "boot-1.2_X", "0", &"b".repeat(64)] {
        drop(fx.store.register_boot(good).unwrap());
    }
}

#[test]
fn a_boot_is_held_once_and_free_again_after_its_guard_drops() {
    let fx = Fixture::new();
    let other = fx.reopen();
    let guard = fx.store.register_boot("boot-1").unwrap();
    let err = other.register_boot("boot-1").unwrap_err();
    assert!(
        matches!(&err, StoreError::BootInUse { boot_id, .. } if boot_id == "boot-1"),
        "{err:?}"
    );
    assert!(err.to_string().contains("fresh boot id"), "{err}");
    assert!(guard.path().exists(), "a refused twin removes nothing");
    drop(guard);
    drop(other.register_boot("boot-1").unwrap());
}

#[test]
fn a_boot_file_is_private_and_names_its_process() {
    let fx = Fixture::new();
    let guard = fx.store.register_boot("boot-1").unwrap();
    let path = guard.path();
    assert_eq!(
        path.parent().unwrap().file_name().unwrap(),
        "orch.db.boots",
        "the folder sits beside the database"
    );
    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    assert_eq!(
        fs::read_to_string(path).unwrap(),
        format!("pid {}\n", std::process::id())
    );
}

#[test]
fn stale_boot_files_are_removed_and_other_files_left_alone() {
    let fx = Fixture::new();
    let other = fx.reopen();
    let me = fx.store.register_boot("boot-me").unwrap();
    let alive = other.register_boot("boot-alive").unwrap();
    let dir = me.path().parent().unwrap().to_path_buf();
    let stale = dir.join("boot-stale.lock");
    fs::write(&stale, "pid 1\n").unwrap();
    let foreign = [dir.join("notes.txt"), dir.join(".hidden.lock")];
    for f in &foreign {
        fs::write(f, "not a boot file").unwrap();
    }
    let folder = dir.join("boot-folder.lock");
    fs::create_dir(&folder).unwrap();

    let rescued = fx.store.rescue_dead_boots("boot-me").unwrap();
    assert_eq!(rescued, orch_store::Rescued::default());
    assert!(!stale.exists(), "a dead boot's stale file is removed");
    assert!(alive.path().exists(), "a live boot's file stays");
    assert!(me.path().exists(), "the caller's own file stays");
    for f in foreign.iter().chain([&folder]) {
        assert!(f.exists(), "{f:?} is not a boot file and stays");
    }
}

#[test]
fn an_unregistered_caller_is_told_to_register_first() {
    let fx = Fixture::new();
    fx.enqueue("testing", "tester");
    let job = claim_as(&fx.store, "boot-other");
    let err = fx.store.rescue_dead_boots("boot-me").unwrap_err();
    assert!(
        matches!(&err, StoreError::BootNotRegistered { boot_id, .. } if boot_id == "boot-me"),
        "{err:?}"
    );
    assert!(err.to_string().contains("register_boot"), "{err}");
    assert_eq!(fx.store.job(job).unwrap().state, JobState::Running);
}

#[test]
fn an_in_memory_store_has_no_boot_files() {
    let store = Store::open_in_memory(StoreOptions::default()).unwrap();
    let err = store.register_boot("boot-1").unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NoDatabaseFile {
                op: "register_boot"
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("needs a database file"), "{err}");
    assert!(matches!(
        store.rescue_dead_boots("boot-1"),
        Err(StoreError::NoDatabaseFile { .. })
    ));
}

/// A `flock` child holding a boot file; killed (with its own child) when
/// dropped.
struct Holder {
    child: Child,
    marker: orch_tests::ProcessMarker,
}

impl Holder {
    /// Starts `flock -o <file> sh -c 'echo locked; exec sleep 30'` and waits
    /// for `locked`: from then on the flock process holds the lock (`-o`:
    /// the `sleep` does not).
    #[expect(
        clippy::disallowed_methods,
        reason = "the test needs a real second process holding a boot file"
    )]
    fn start(file: &std::path::Path) -> Holder {
        let marker = orch_tests::ProcessMarker::new("boot-holder");
        let mut child = std::process::Command::new("flock")
            .arg("-o")
            .arg(file)
            .args(["sh", "-c", "echo locked; exec sleep 30"])
            .env(marker.env_key(), marker.token())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start util-linux flock (is it installed?): {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "locked\n", "flock did not take the lock");
        Holder { child, marker }
    }

    /// SIGKILLs the flock process and reaps it: its lock is gone once
    /// `wait` returns.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.marker.kill_survivors();
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.marker.kill_survivors();
    }
}

#[test]
fn a_boot_held_by_another_process_is_alive_until_that_process_dies() {
    let started = Instant::now();
    let fx = Fixture::new();
    let _me = fx.store.register_boot("boot-me").unwrap();
    let file = fx.store.boot_file("boot-child").unwrap();
    let mut holder = Holder::start(&file);
    fx.enqueue("testing", "tester");
    let job = claim_as(&fx.store, "boot-child");

    let rescued = fx.store.rescue_dead_boots("boot-me").unwrap();
    assert_eq!(rescued, orch_store::Rescued::default());
    assert_eq!(fx.store.job(job).unwrap().state, JobState::Running);
    // Nor can anyone register the boot the other process holds.
    assert!(matches!(
        fx.reopen().register_boot("boot-child"),
        Err(StoreError::BootInUse { .. })
    ));

    holder.kill();
    assert!(file.exists(), "a killed process leaves its file behind");
    let rescued = fx.store.rescue_dead_boots("boot-me").unwrap();
    assert_eq!(rescued.requeued, vec![job]);
    assert!(!file.exists(), "the dead boot's file is removed");
    holder.marker.assert_no_survivors();
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn registrations_racing_a_sweep_of_stale_files_never_lose_a_boot() {
    let fx = Fixture::new();
    let sweeper = fx.reopen();
    let _me = sweeper.register_boot("boot-sweeper").unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sweeping = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut sweeps = 0_u32;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                sweeper.rescue_dead_boots("boot-sweeper").unwrap();
                sweeps += 1;
            }
            (sweeper, sweeps)
        })
    };
    let registrars: Vec<_> = (0..4)
        .map(|n| {
            let store = fx.reopen();
            std::thread::spawn(move || {
                let mut guards = Vec::new();
                for i in 0..50 {
                    let guard = store.register_boot(&format!("boot-{n}-{i}")).unwrap();
                    assert!(guard.path().exists(), "{:?} lost its file", guard.path());
                    guards.push(guard);
                }
                guards
            })
        })
        .collect();
    let guards: Vec<_> = registrars
        .into_iter()
        .flat_map(|r| r.join().unwrap())
        .collect();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let (sweeper, sweeps) = sweeping.join().unwrap();
    assert!(sweeps > 0);
    // Every registered boot is alive: its file is still there after one
    // more sweep, which removes every boot file whose lock it can take.
    sweeper.rescue_dead_boots("boot-sweeper").unwrap();
    for guard in &guards {
        assert!(guard.path().exists(), "{:?} lost its file", guard.path());
    }
    assert!(matches!(
        fx.store.register_boot(guards[0].boot_id()),
        Err(StoreError::BootInUse { .. })
    ));
}
