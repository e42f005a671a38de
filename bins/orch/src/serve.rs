//! `orch serve`: worker threads driving the launcher's engine, the HTTP
//! server, boot liveness, and the shutdown on SIGINT/SIGTERM.
//!
//! Shutdown: the first SIGINT or SIGTERM stops the claiming of new jobs; jobs
//! already running may finish for [`SHUTDOWN_GRACE`]; then their process
//! trees are cancelled and their leases given back (`Store::release`), the
//! HTTP server stops, and `serve` exits 0.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use orch_launcher::{Engine, StopSignal};
use orch_store::BootGuard;

use crate::commands::{Setup, describe};
use crate::shutdown::Shutdown;
use crate::{CliError, Ending, http};

/// How long running jobs may go on after a shutdown was asked.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How often idle workers look for due jobs.
const IDLE_POLL: Duration = Duration::from_millis(200);
/// How often dead boots and expired leases are rescued.
const RESCUE_EVERY: Duration = Duration::from_secs(2);

/// A boot id unique to this process run.
pub(crate) fn boot_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("boot-{}-{nanos}", std::process::id())
}

/// Holds this boot's liveness lock for the process's life and rescues the
/// jobs of boots that are dead (their lock can be taken) at once.
///
/// # Errors
///
/// [`CliError::Tool`] when the boot file cannot be created or the store fails.
pub(crate) fn take_boot(engine: &Engine, boot: &str) -> Result<BootGuard, CliError> {
    let guard = {
        let store = engine.store();
        let guard = store
            .register_boot(boot)
            .map_err(|error| CliError::Tool(error.to_string()))?;
        store
            .rescue_dead_boots(boot)
            .map_err(|error| CliError::Tool(error.to_string()))?;
        guard
    };
    // The worktrees of tasks that are gone or done are cleaned up at start;
    // a worktree with uncommitted changes is kept and named.
    let sweep = engine
        .sweep_worktrees()
        .map_err(|error| CliError::Tool(error.to_string()))?;
    for dir in &sweep.removed {
        eprintln!(
            "orch: removed the worktree {} (its task is done or gone; its branch stays)",
            dir.display()
        );
    }
    for (dir, why) in &sweep.kept {
        eprintln!("orch: kept the worktree {}: {why}", dir.display());
    }
    Ok(guard)
}

/// `orch serve`.
pub(crate) fn serve(setup: &Setup) -> Result<Ending, CliError> {
    crate::commands::check_sandbox(setup.config.sandbox_mode())?;
    let boot = boot_id();
    let first = setup.engine(&boot, "worker-0")?;
    let _guard = take_boot(&first, &boot)?;
    let stop = StopSignal::default();
    let shutdown = Shutdown::watch()?;
    let server = http::Http::bind(setup)?;
    eprintln!(
        "orch serve: {} workers, HTTP on http://{} (GET /queue, /healthz, /metrics), boot {boot}, sandbox {}",
        setup.config.workers,
        server.addr(),
        setup.config.sandbox_mode()
    );

    let mut engines = vec![first];
    for i in 1..setup.config.workers {
        engines.push(setup.engine(&boot, &format!("worker-{i}"))?);
    }
    let claiming = Arc::new(AtomicBool::new(true));
    let workers: Vec<_> = engines
        .into_iter()
        .enumerate()
        .map(|(i, engine)| {
            let stop = stop.clone();
            let claiming = Arc::clone(&claiming);
            let boot = boot.clone();
            thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || worker(i, &engine, &boot, &stop, &claiming))
        })
        .collect::<Result<_, _>>()
        .map_err(|error| CliError::Tool(format!("cannot start a worker thread: {error}")))?;
    let http_threads = server.start(shutdown.flag())?;

    while !shutdown.asked() {
        thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "orch serve: stopping; running jobs may finish for {}s",
        SHUTDOWN_GRACE.as_secs()
    );
    claiming.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    while workers.iter().any(|w| !w.is_finished()) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    // Past the grace: cancel the process trees; the engine gives the jobs
    // back to the queue.
    stop.stop();
    for worker in workers {
        let _ = worker.join();
    }
    server.stop();
    for thread in http_threads {
        let _ = thread.join();
    }
    eprintln!("orch serve: stopped");
    Ok(Ending::Done)
}

/// One worker: claim and run jobs until told to stop claiming.
fn worker(index: usize, engine: &Engine, boot: &str, stop: &StopSignal, claiming: &AtomicBool) {
    let mut next_rescue = Instant::now();
    while claiming.load(Ordering::SeqCst) {
        match engine.run_next(stop) {
            Ok(Some(report)) => println!("{}", describe(&report)),
            Ok(None) => {
                if index == 0 && Instant::now() >= next_rescue {
                    next_rescue = Instant::now() + RESCUE_EVERY;
                    let store = engine.store();
                    if let Err(error) = store.rescue_dead_boots(boot) {
                        eprintln!("orch serve: rescue of dead boots failed: {error}");
                    }
                    if let Err(error) = store.rescue_expired() {
                        eprintln!("orch serve: rescue of expired leases failed: {error}");
                    }
                    let _ = store.checkpoint();
                }
                thread::sleep(IDLE_POLL);
            }
            Err(error) => {
                eprintln!("orch serve: worker-{index}: {error}; retrying");
                thread::sleep(Duration::from_secs(1));
            }
        }
    }
}
