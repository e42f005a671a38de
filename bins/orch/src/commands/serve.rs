//! `orch serve` and `orch work`: they configure and start the launcher's
//! [`Workers`] (the worker threads, the rescue timer, the worktree sweep,
//! WAL checkpoints, the two-phase shutdown), print what the workers report,
//! and `serve` adds the HTTP server.
//!
//! Shutdown: the first SIGINT or SIGTERM stops the claiming of new jobs; jobs
//! already running may finish for [`SHUTDOWN_GRACE`] (a second SIGINT or
//! SIGTERM cuts it short); then their process trees are cancelled and their
//! leases given back (`Store::release`), the HTTP server stops, and `serve`
//! exits 130 (SIGINT) or 143 (SIGTERM).

use std::time::Duration;

use orch_launcher::boot_id;
use orch_launcher::views::render::clean_line;
use orch_launcher::{EngineError, Event, Workers, WorkersError};

use crate::cli::ServeArgs;
use crate::commands::{Setup, describe};
use crate::shutdown::Shutdown;
use crate::{CliError, Ending, http};

/// How long running jobs may go on after a shutdown was asked.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Starts `count` workers named `name-N` for `command` (`serve`, `work`):
/// the boot is registered, dead boots rescued and the worktrees swept before
/// this returns.
///
/// # Errors
///
/// [`CliError::Tool`] when the database, the boot or a thread cannot be had.
pub(crate) fn start_workers(
    setup: &Setup,
    command: &'static str,
    name: &str,
    count: usize,
    until_idle: bool,
) -> Result<Workers, CliError> {
    // The database's folder and file are checked here, with the advice;
    // the workers open their own connections.
    drop(setup.open_store()?);
    Workers::builder(setup.db.clone(), setup.launcher())
        .store_options(orch_store::StoreOptions {
            poison_rescues: setup.config.poison_rescues,
            ..orch_store::StoreOptions::default()
        })
        .boot(boot_id())
        .workers(count)
        .name(name)
        .until_idle(until_idle)
        .observer(move |event| report(command, event))
        .start()
        .map_err(|error| CliError::Tool(error.to_string()))
}

/// Prints what the workers report: job ends on stdout, the rest on stderr.
fn report(command: &str, event: &Event<'_>) {
    match event {
        Event::Removed(dir) => eprintln!(
            "orch: removed the worktree {} (its task is done or gone; its branch stays)",
            dir.display()
        ),
        Event::Kept(dir, why) => eprintln!(
            "orch: kept the worktree {}: {}",
            dir.display(),
            clean_line(why)
        ),
        Event::Ended { report, .. } => {
            // A closed stdout (`orch work | head -1`) is no panic: it is
            // noted, and `work` stops with the clean error (exit 2).
            if let Err(crate::CliError::Output(error)) =
                crate::commands::print_line(&describe(report))
            {
                crate::commands::stdout_closed(error);
            }
        }
        Event::Failed {
            worker,
            error: error @ EngineError::Panicked { .. },
        } => eprintln!(
            "orch {command}: {worker}: caught a panic: {}",
            clean_line(&error.to_string())
        ),
        Event::Failed { worker, error } => {
            eprintln!(
                "orch {command}: {worker}: {}; retrying",
                clean_line(&error.to_string())
            );
        }
        Event::Panicked { worker, message } => {
            eprintln!(
                "orch {command}: {worker}: caught a panic outside any job: {}",
                clean_line(message)
            );
        }
        Event::RescueFailed { what, error } => {
            eprintln!(
                "orch {command}: rescue of {what} failed: {}",
                clean_line(&error.to_string())
            );
        }
        Event::DatabaseReplaced(why) => eprintln!("orch {command}: {why}"),
        Event::BootFileRestored(path) => eprintln!(
            "orch {command}: this process's boot file {} was gone; made and locked again",
            path.display()
        ),
        _ => {}
    }
}

/// `orch serve`.
pub(crate) fn serve(setup: &Setup, args: &ServeArgs) -> Result<Ending, CliError> {
    // The flags win over ORCH_HTTP_ADDR and ORCH_WORKERS.
    let mut setup = setup.clone();
    if let Some(addr) = &args.addr {
        if addr.parse::<std::net::SocketAddr>().is_err() {
            return Err(CliError::BadArgument(format!(
                "--addr {addr:?} is not an address and port; give e.g. 127.0.0.1:7878"
            )));
        }
        setup.config.http_addr.clone_from(addr);
    }
    if let Some(workers) = args.workers {
        // clap bounds it to 1..=64.
        setup.config.workers = usize::try_from(workers).unwrap_or(1);
    }
    let setup = &setup;
    crate::commands::check_sandbox(setup.config.sandbox_mode())?;
    let workers = start_workers(setup, "serve", "worker", setup.config.workers, false)?;
    let shutdown = Shutdown::watch()?;
    let server = http::Http::bind(setup)?;
    eprintln!(
        "orch serve: {} worker{}, HTTP on http://{} (the dashboard at /; GET /queue, /healthz, /metrics), boot {}, sandbox {}",
        setup.config.workers,
        if setup.config.workers == 1 { "" } else { "s" },
        server.addr(),
        workers.boot(),
        setup.config.sandbox_mode()
    );
    let http_threads = server.start(shutdown.flag(), &workers.monitor())?;

    while !shutdown.asked() {
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "orch serve: stopping; running jobs may finish for {}s (Ctrl-C again to stop them now)",
        SHUTDOWN_GRACE.as_secs()
    );
    // A second signal cuts the grace short; said once it comes.
    let done = std::sync::atomic::AtomicBool::new(false);
    let stopped = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                if shutdown.forced().load(std::sync::atomic::Ordering::SeqCst) {
                    eprintln!(
                        "orch serve: second signal: stopping the running jobs now (their trees are ended, the jobs given back to the queue)"
                    );
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let stopped = workers.shutdown_or_cut(SHUTDOWN_GRACE, shutdown.forced());
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        stopped
    });
    server.stop();
    for thread in http_threads {
        let _ = thread.join();
    }
    stopped.map_err(|error: WorkersError| CliError::Tool(error.to_string()))?;
    eprintln!("orch serve: stopped");
    // Only a signal ends the loop above; it is always set here.
    Ok(Ending::Stopped(shutdown.signal().unwrap_or(0)))
}
