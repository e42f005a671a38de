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
        Event::Started { worker, start } => emit(&start_line(worker, start)),
        Event::Ended { worker, report } => {
            emit(&end_line(worker, report));
            if let Some(said) = &report.shadow_disagreement {
                emit(&format!(
                    "{} shadow · task {} {:?} · {} · {said}",
                    now_utc(),
                    report.task.get(),
                    report.title,
                    report.stage
                ));
            }
        }
        Event::Rescued { what, rescued } => emit(&rescue_line(what, rescued)),
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

/// Now, as the log's lines begin: UTC, to the millisecond.
fn now_utc() -> String {
    crate::commands::rfc3339(orch_launcher::epoch_ms(std::time::SystemTime::now()))
}

/// Prints one progress line of the serve log (control characters made
/// visible); a closed stdout (`orch work | head -1`) is no panic: it is
/// noted, and `work` stops with the clean error (exit 2).
fn emit(line: &str) {
    if let Err(crate::CliError::Output(error)) = crate::commands::print_line(line) {
        crate::commands::stdout_closed(error);
    }
}

/// The log's line when a job's run starts: time, task and title, stage,
/// role, job and attempt.
fn start_line(worker: &str, start: &orch_launcher::JobStart<'_>) -> String {
    let job = start.job;
    format!(
        "{} start · task {} {:?} · {} · {} · job {} attempt {} · {worker}",
        now_utc(),
        job.task.get(),
        start.title,
        job.stage,
        job.role,
        job.id.get(),
        job.attempts
    )
}

/// The log's line when a job ends: time and title before what
/// [`describe`] says (the move, the role, the verdicts or the deferral, the
/// duration), then the run's cost.
fn end_line(worker: &str, report: &orch_launcher::JobReport) -> String {
    let cost = report
        .cost_usd
        .map_or_else(|| "no cost".to_owned(), |usd| format!("${usd:.4}"));
    let task = report.task.get();
    let described = describe(report);
    let rest = described
        .strip_prefix(&format!("task {task} · "))
        .unwrap_or(&described);
    format!(
        "{} end · task {task} {:?} · {rest} · {cost} · {worker}",
        now_utc(),
        report.title
    )
}

/// The log's line when a rescue took jobs back.
fn rescue_line(what: &str, rescued: &orch_store::Rescued) -> String {
    let ids = |jobs: &[orch_store::JobId]| {
        jobs.iter()
            .map(|j| j.get().to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut said = format!("{} rescue · {what}", now_utc());
    if !rescued.requeued.is_empty() {
        said.push_str(&format!(
            " · jobs {} put back on the queue (their worker is gone)",
            ids(&rescued.requeued)
        ));
    }
    if !rescued.failed.is_empty() {
        said.push_str(&format!(
            " · jobs {} failed (poison or cancelled), tasks {} blocked",
            ids(&rescued.failed),
            rescued
                .blocked
                .iter()
                .map(|t| t.get().to_string())
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    said
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
