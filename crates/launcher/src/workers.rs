//! [`Workers`]: the worker loop of an orch process — what `orch serve` and
//! `orch work` run, and what an embedder runs to get the same crash rescue.
//!
//! Started, it holds the process's boot (its liveness lock), rescues the
//! jobs of dead boots, sweeps the worktrees, and then runs:
//!
//! - N worker threads, each with its own [`Engine`] (its own store
//!   connection), claiming and running jobs. A panic while running a job is
//!   caught: the job is given back (or its task blocked once it keeps
//!   panicking), and the panic is counted ([`Health::panics`]) and reported
//!   to the observer. A worker never dies of a job.
//! - A rescue timer on a thread of its own: every [`RESCUE_EVERY`] it
//!   rescues the jobs of dead boots and of expired leases, whatever the
//!   workers are doing, and checkpoints the WAL while no worker of this
//!   process runs a job.
//!
//! [`Workers::shutdown`] is the two-phase stop: no new claim; running jobs
//! may finish for the grace; then their process trees are cancelled and
//! their jobs given back to the queue; the boot is given up last.

use std::os::unix::fs::MetadataExt;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use orch_store::{BootGuard, LeaseOwner, Store, StoreError, StoreOptions};

use crate::config::LauncherConfig;
use crate::engine::{Engine, EngineError, JobReport, StopSignal};
use crate::launch::Intercept;

/// How often dead boots and expired leases are rescued.
pub const RESCUE_EVERY: Duration = Duration::from_secs(2);
/// How often an idle worker looks for due jobs.
const IDLE_POLL: Duration = Duration::from_millis(200);
/// How long a worker waits after the store failed before it tries again.
const ERROR_PAUSE: Duration = Duration::from_secs(1);
/// The slices in which threads sleep, so a stop is seen at once.
const NAP: Duration = Duration::from_millis(20);

/// Why [`Workers`] could not start or ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum WorkersError {
    /// The store failed (opening it, registering the boot, the first
    /// rescue).
    #[error("the job queue failed: {0}")]
    Store(#[from] StoreError),
    /// A worker's engine failed (in until-idle mode a worker ends with it).
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// A worker thread panicked outside what the engine catches; the job it
    /// held, if any, is rescued by the next start.
    #[error("the worker thread {0} panicked; see its message above")]
    Panicked(String),
    /// A thread could not be started.
    #[error("cannot start the thread {name}: {source}")]
    Thread {
        /// The thread's name.
        name: String,
        /// Why.
        source: std::io::Error,
    },
}

/// What the workers tell their observer (the binary prints these).
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The start-up sweep removed a worktree (its task is done or gone).
    Removed(&'a Path),
    /// The start-up sweep kept a worktree, and why.
    Kept(&'a Path, &'a str),
    /// A worker ended a job.
    Ended {
        /// The worker's name.
        worker: &'a str,
        /// What happened.
        report: &'a JobReport,
    },
    /// A worker's engine failed: the store failed (the worker tries again
    /// after a pause; in until-idle mode the worker ends with the error
    /// instead, and no event is sent), or a job panicked ([`EngineError::Panicked`], counted;
    /// the job was given back or its task blocked).
    Failed {
        /// The worker's name.
        worker: &'a str,
        /// What failed.
        error: &'a EngineError,
    },
    /// A worker panicked outside any job (in a claim); counted, and the
    /// worker goes on.
    Panicked {
        /// The worker's name.
        worker: &'a str,
        /// The panic's message.
        message: &'a str,
    },
    /// A periodic rescue failed; the next one tries again.
    RescueFailed {
        /// `dead boots` or `expired leases`.
        what: &'static str,
        /// Why.
        error: &'a StoreError,
    },
    /// The database file at the configured path is no longer the one
    /// opened at start (replaced or removed); said once. Restart the
    /// process to use the file now at the path.
    DatabaseReplaced(&'a str),
    /// This process's boot file was gone (deleted by hand, a cleaned
    /// folder) and was made and locked again. Meanwhile other processes
    /// read this boot as unknown, never dead: only lease expiry could
    /// rescue its jobs.
    BootFileRestored(&'a Path),
    /// A worker's job starts its run (claimed, its run lock taken).
    Started {
        /// The worker's name.
        worker: &'a str,
        /// The job and its task's title.
        start: &'a crate::engine::JobStart<'a>,
    },
    /// A periodic rescue took jobs back: their worker died or their lease
    /// expired. Sent only when it took some.
    Rescued {
        /// `dead boots` or `expired leases`.
        what: &'static str,
        /// What it did.
        rescued: &'a orch_store::Rescued,
    },
}

/// A worker's last sign of life, for `/queue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerBeat {
    /// The worker's name (`worker-0`).
    pub worker: String,
    /// Its last sign of life, in ms since the epoch: its last claim attempt,
    /// or its running job's last heartbeat tick.
    pub last_beat_ms: i64,
    /// Whether its thread still runs.
    pub alive: bool,
}

type Observer = Arc<dyn Fn(&Event<'_>) + Send + Sync>;
type Intercepts = Arc<dyn Fn() -> Vec<Box<dyn Intercept>> + Send + Sync>;

/// How to start [`Workers`]: [`Workers::builder`].
pub struct WorkersBuilder {
    db: PathBuf,
    options: StoreOptions,
    config: LauncherConfig,
    boot: Option<String>,
    count: usize,
    name: String,
    until_idle: bool,
    observer: Observer,
    intercepts: Option<Intercepts>,
}

impl std::fmt::Debug for WorkersBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkersBuilder")
            .field("db", &self.db)
            .field("boot", &self.boot)
            .field("count", &self.count)
            .field("name", &self.name)
            .field("until_idle", &self.until_idle)
            .finish_non_exhaustive()
    }
}

impl WorkersBuilder {
    /// The options every connection is opened with (the poison threshold,
    /// the busy timeout, the clock).
    #[must_use]
    pub fn store_options(mut self, options: StoreOptions) -> WorkersBuilder {
        self.options = options;
        self
    }

    /// The boot id (default: `boot-<pid>-<nanoseconds>`, fresh for the run).
    #[must_use]
    pub fn boot(mut self, boot: impl Into<String>) -> WorkersBuilder {
        self.boot = Some(boot.into());
        self
    }

    /// How many worker threads (default 1; 0 counts as 1).
    #[must_use]
    pub fn workers(mut self, count: usize) -> WorkersBuilder {
        self.count = count.max(1);
        self
    }

    /// The workers' names are `NAME-0`, `NAME-1`, ... (default `worker`):
    /// the lease owner's worker part, and the threads' names.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> WorkersBuilder {
        self.name = name.into();
        self
    }

    /// A worker ends when no job is due (`orch work --until-idle`), and a
    /// store failure ends it with that error instead of a retry.
    #[must_use]
    pub fn until_idle(mut self, until_idle: bool) -> WorkersBuilder {
        self.until_idle = until_idle;
        self
    }

    /// Called on every [`Event`], from the thread it happened on.
    #[must_use]
    pub fn observer(
        mut self,
        observer: impl Fn(&Event<'_>) + Send + Sync + 'static,
    ) -> WorkersBuilder {
        self.observer = Arc::new(observer);
        self
    }

    /// Each engine's registry of intercepts, instead of the default one
    /// ([`crate::reserved::default_intercepts`]).
    #[must_use]
    pub fn intercepts(
        mut self,
        make: impl Fn() -> Vec<Box<dyn Intercept>> + Send + Sync + 'static,
    ) -> WorkersBuilder {
        self.intercepts = Some(Arc::new(make));
        self
    }

    /// Registers the boot, rescues the jobs of dead boots, sweeps the
    /// worktrees (reported to the observer), then starts the workers and the
    /// rescue timer.
    ///
    /// # Errors
    ///
    /// [`WorkersError::Store`] when the database cannot be opened, the boot
    /// cannot be registered or the first rescue fails;
    /// [`WorkersError::Engine`] when the sweep cannot list the repositories;
    /// [`WorkersError::Thread`] when a thread cannot be started.
    pub fn start(self) -> Result<Workers, WorkersError> {
        let boot = self.boot.clone().unwrap_or_else(boot_id);
        let open = || Store::open_with(&self.db, self.options.clone());
        let first = open()?;
        let file = file_id(&self.db);
        let guard = first.register_boot(&boot)?;
        first.rescue_dead_boots(&boot)?;
        let mut engines = Vec::with_capacity(self.count);
        let mut beats = Vec::with_capacity(self.count);
        for i in 0..self.count {
            let store = open()?;
            let name = format!("{}-{i}", self.name);
            let owner = LeaseOwner::new(boot.clone(), name.clone());
            let observer = Arc::clone(&self.observer);
            let worker = name.clone();
            let mut engine = Engine::new(store, self.config.clone(), owner).with_on_start(
                Arc::new(move |start: &crate::engine::JobStart<'_>| {
                    observer(&Event::Started {
                        worker: &worker,
                        start,
                    });
                }),
            );
            if let Some(make) = &self.intercepts {
                engine = engine.with_intercepts(make());
            }
            beats.push((name, engine.beat(), Arc::new(AtomicBool::new(true))));
            engines.push(engine);
        }
        if let Some(engine) = engines.first() {
            let sweep = engine.sweep_worktrees()?;
            for dir in &sweep.removed {
                (self.observer)(&Event::Removed(dir));
            }
            for (dir, why) in &sweep.kept {
                (self.observer)(&Event::Kept(dir, why));
            }
        }
        let shared = Arc::new(Shared {
            workers: self.count,
            live: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
            panics: AtomicU64::new(0),
            db: self.db.clone(),
            file,
            beats,
        });
        let mut workers = Workers {
            boot,
            claiming: Arc::new(AtomicBool::new(true)),
            stop: StopSignal::default(),
            threads: Vec::new(),
            rescuing: Arc::new(AtomicBool::new(true)),
            rescuer: None,
            monitor: Monitor {
                shared: Arc::clone(&shared),
            },
            guard: Arc::new(Mutex::new(guard)),
        };
        for (i, engine) in engines.into_iter().enumerate() {
            let name = format!("{}-{i}", self.name);
            let alive = shared
                .beats
                .get(i)
                .map_or_else(|| Arc::new(AtomicBool::new(true)), |b| Arc::clone(&b.2));
            let ctx = WorkerCtx {
                alive,
                name: name.clone(),
                shared: Arc::clone(&shared),
                claiming: Arc::clone(&workers.claiming),
                stop: workers.stop.clone(),
                until_idle: self.until_idle,
                observer: Arc::clone(&self.observer),
            };
            shared.live.fetch_add(1, Ordering::SeqCst);
            let thread = thread::Builder::new()
                .name(name.clone())
                .spawn(move || ctx.run(&engine))
                .map_err(|source| {
                    shared.live.fetch_sub(1, Ordering::SeqCst);
                    WorkersError::Thread { name, source }
                })?;
            workers.threads.push(thread);
        }
        let rescuer = Rescuer {
            store: first,
            boot: workers.boot.clone(),
            guard: Arc::clone(&workers.guard),
            shared,
            running: Arc::clone(&workers.rescuing),
            observer: self.observer,
        };
        workers.rescuer = Some(
            thread::Builder::new()
                .name("rescue".to_owned())
                .spawn(move || rescuer.run())
                .map_err(|source| WorkersError::Thread {
                    name: "rescue".to_owned(),
                    source,
                })?,
        );
        Ok(workers)
    }
}

/// A boot id unique to this process run: `boot-<pid>-<nanoseconds>`.
#[must_use]
pub fn boot_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("boot-{}-{nanos}", std::process::id())
}

/// The device and inode of the file at `path`, if it can be read.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// What the workers, the rescuer and the monitors share.
#[derive(Debug)]
struct Shared {
    workers: usize,
    live: AtomicUsize,
    busy: AtomicUsize,
    panics: AtomicU64,
    db: PathBuf,
    /// The database file's device and inode when it was opened at start.
    file: Option<(u64, u64)>,
    /// Each worker's name, last sign of life and whether its thread runs.
    beats: Vec<(String, Arc<AtomicI64>, Arc<AtomicBool>)>,
}

impl Shared {
    /// `Err(why)` when the path no longer names the file opened at start.
    fn same_file(&self) -> Result<(), String> {
        match (self.file, file_id(&self.db)) {
            (Some(then), Some(now)) if then == now => Ok(()),
            (Some(_), Some(_)) => Err(format!(
                "{} is no longer the file opened at start (it was replaced, e.g. a backup moved over it); this process still writes the old one: restart it",
                self.db.display()
            )),
            (_, None) => Err(format!(
                "{} is gone (removed or moved away); this process still writes the old file: put it back or restart",
                self.db.display()
            )),
            (None, Some(_)) => Err(format!(
                "{} could not be read at start, so it cannot be told apart from a replacement: restart",
                self.db.display()
            )),
        }
    }
}

/// A running set of workers: [`Workers::builder`], then
/// [`Workers::shutdown`].
///
/// Dropping it without a shutdown stops at once: no grace, running trees
/// cancelled and their jobs given back, threads joined, boot given up.
pub struct Workers {
    boot: String,
    claiming: Arc<AtomicBool>,
    stop: StopSignal,
    threads: Vec<JoinHandle<Result<(), EngineError>>>,
    rescuing: Arc<AtomicBool>,
    rescuer: Option<JoinHandle<()>>,
    monitor: Monitor,
    /// Dropped last: the boot is held until every thread has ended. The
    /// rescue timer shares it to make the boot file again if it is deleted.
    guard: Arc<Mutex<BootGuard>>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("boot", &self.boot)
            .field("workers", &self.threads.len())
            .finish_non_exhaustive()
    }
}

impl Workers {
    /// How to start workers on the database at `db` with `config`.
    #[must_use]
    pub fn builder(db: impl Into<PathBuf>, config: LauncherConfig) -> WorkersBuilder {
        WorkersBuilder {
            db: db.into(),
            options: StoreOptions::default(),
            config,
            boot: None,
            count: 1,
            name: "worker".to_owned(),
            until_idle: false,
            observer: Arc::new(|_: &Event<'_>| {}),
            intercepts: None,
        }
    }

    /// This process's boot id.
    #[must_use]
    pub fn boot(&self) -> &str {
        &self.boot
    }

    /// A handle for health checks, for other threads (the HTTP server).
    #[must_use]
    pub fn monitor(&self) -> Monitor {
        self.monitor.clone()
    }

    /// Whether every worker has ended (until-idle: none was due).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(JoinHandle::is_finished)
    }

    /// The two-phase stop: no new claim; running jobs may finish for
    /// `grace`; then their process trees are cancelled and their jobs given
    /// back to the queue; the rescue timer stops; the boot is given up.
    ///
    /// # Errors
    ///
    /// [`WorkersError::Engine`]: the first error a worker ended with
    /// (until-idle mode only; otherwise workers retry).
    pub fn shutdown(mut self, grace: Duration) -> Result<(), WorkersError> {
        self.stop_all(grace, None)
    }

    /// As [`Workers::shutdown`], with the grace cut short as soon as `cut`
    /// is set (an operator's second Ctrl-C): the running jobs' trees are
    /// then cancelled at once.
    ///
    /// # Errors
    ///
    /// As [`Workers::shutdown`].
    pub fn shutdown_or_cut(
        mut self,
        grace: Duration,
        cut: &AtomicBool,
    ) -> Result<(), WorkersError> {
        self.stop_all(grace, Some(cut))
    }

    fn stop_all(&mut self, grace: Duration, cut: Option<&AtomicBool>) -> Result<(), WorkersError> {
        self.claiming.store(false, Ordering::SeqCst);
        let deadline = Instant::now() + grace;
        let cut = || cut.is_some_and(|c| c.load(Ordering::SeqCst));
        while !self.is_finished() && Instant::now() < deadline && !cut() {
            thread::sleep(NAP);
        }
        // Past the grace: cancel the process trees; the engines give the
        // jobs back to the queue.
        self.stop.stop();
        let mut first = Ok(());
        for thread in self.threads.drain(..) {
            let name = thread.thread().name().unwrap_or("worker").to_owned();
            match thread.join() {
                Ok(Err(error)) if first.is_ok() => first = Err(error.into()),
                Err(_) if first.is_ok() => first = Err(WorkersError::Panicked(name)),
                _ => {}
            }
        }
        self.rescuing.store(false, Ordering::SeqCst);
        if let Some(rescuer) = self.rescuer.take() {
            let _ = rescuer.join();
        }
        first
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        if !self.threads.is_empty() || self.rescuer.is_some() {
            let _ = self.stop_all(Duration::ZERO, None);
        }
    }
}

/// One worker thread's share.
struct WorkerCtx {
    name: String,
    shared: Arc<Shared>,
    claiming: Arc<AtomicBool>,
    stop: StopSignal,
    until_idle: bool,
    observer: Observer,
    /// Its entry in the beats: false once its thread ends.
    alive: Arc<AtomicBool>,
}

/// Counts a worker out when its thread ends, however it ends.
struct Live<'a>(&'a Shared, &'a AtomicBool);

impl Drop for Live<'_> {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
        self.1.store(false, Ordering::SeqCst);
    }
}

impl WorkerCtx {
    fn run(&self, engine: &Engine) -> Result<(), EngineError> {
        let _live = Live(&self.shared, &self.alive);
        while self.claiming.load(Ordering::SeqCst) {
            self.shared.busy.fetch_add(1, Ordering::SeqCst);
            let next = std::panic::catch_unwind(AssertUnwindSafe(|| engine.run_next(&self.stop)));
            self.shared.busy.fetch_sub(1, Ordering::SeqCst);
            match next {
                Ok(Ok(Some(report))) => (self.observer)(&Event::Ended {
                    worker: &self.name,
                    report: &report,
                }),
                Ok(Ok(None)) if self.until_idle => return Ok(()),
                Ok(Ok(None)) => self.nap(IDLE_POLL),
                Ok(Err(error)) => {
                    let panicked = matches!(error, EngineError::Panicked { .. });
                    if panicked {
                        self.shared.panics.fetch_add(1, Ordering::SeqCst);
                    } else if self.until_idle {
                        // Returned, not retried: the caller reports it.
                        return Err(error);
                    }
                    (self.observer)(&Event::Failed {
                        worker: &self.name,
                        error: &error,
                    });
                    if !panicked {
                        self.nap(ERROR_PAUSE);
                    }
                }
                Err(payload) => {
                    self.shared.panics.fetch_add(1, Ordering::SeqCst);
                    let message = payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic without a message".to_owned());
                    (self.observer)(&Event::Panicked {
                        worker: &self.name,
                        message: &message,
                    });
                    self.nap(ERROR_PAUSE);
                }
            }
        }
        Ok(())
    }

    /// Sleeps `how_long`, or less when claiming stops.
    fn nap(&self, how_long: Duration) {
        let until = Instant::now() + how_long;
        while self.claiming.load(Ordering::SeqCst) && Instant::now() < until {
            thread::sleep(NAP);
        }
    }
}

/// The rescue timer's thread.
struct Rescuer {
    store: Store,
    boot: String,
    guard: Arc<Mutex<BootGuard>>,
    shared: Arc<Shared>,
    running: Arc<AtomicBool>,
    observer: Observer,
}

impl Rescuer {
    /// Rescues the jobs of dead boots. A boot file of this process that is
    /// gone is made and locked again first (a rescue needs this boot's own
    /// file held: `StoreError::BootNotRegistered`).
    fn rescue_dead_boots(&self) -> Result<(), StoreError> {
        let said = |rescued: orch_store::Rescued| {
            if !rescued.requeued.is_empty() || !rescued.failed.is_empty() {
                (self.observer)(&Event::Rescued {
                    what: "dead boots",
                    rescued: &rescued,
                });
            }
        };
        match self.store.rescue_dead_boots(&self.boot) {
            Err(StoreError::BootNotRegistered { path, .. }) => {
                let fresh = self.store.register_boot(&self.boot)?;
                // The old guard locks a file no longer at the path; dropping
                // it removes nothing (its file is not the one there now).
                *self.guard.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
                (self.observer)(&Event::BootFileRestored(&path));
                self.store.rescue_dead_boots(&self.boot).map(said)
            }
            other => other.map(said),
        }
    }

    fn run(&self) {
        let mut replaced_said = false;
        let mut next = Instant::now() + RESCUE_EVERY;
        while self.running.load(Ordering::SeqCst) {
            if Instant::now() < next {
                thread::sleep(NAP);
                continue;
            }
            next = Instant::now() + RESCUE_EVERY;
            if let Err(error) = self.rescue_dead_boots() {
                (self.observer)(&Event::RescueFailed {
                    what: "dead boots",
                    error: &error,
                });
            }
            match self.store.rescue_expired() {
                Err(error) => (self.observer)(&Event::RescueFailed {
                    what: "expired leases",
                    error: &error,
                }),
                Ok(rescued) if !rescued.requeued.is_empty() || !rescued.failed.is_empty() => {
                    (self.observer)(&Event::Rescued {
                        what: "expired leases",
                        rescued: &rescued,
                    });
                }
                Ok(_) => {}
            }
            // A checkpoint waits for readers; only while this process runs
            // no job, so it never holds up a job's end.
            if self.shared.busy.load(Ordering::SeqCst) == 0 {
                let _ = self.store.checkpoint();
            }
            if !replaced_said && let Err(why) = self.shared.same_file() {
                replaced_said = true;
                (self.observer)(&Event::DatabaseReplaced(&why));
            }
        }
    }
}

/// A handle on the workers' health, for another thread (the HTTP server's
/// `/healthz` and `/metrics`).
#[derive(Debug, Clone)]
pub struct Monitor {
    shared: Arc<Shared>,
}

/// What [`Monitor::health`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// Worker threads started.
    pub workers: usize,
    /// Worker threads still running (a thread that ended is not).
    pub live: usize,
    /// Panics caught in workers since start.
    pub panics: u64,
    /// Whether the database could be written now (`Err`: why not).
    pub writable: Result<(), String>,
    /// Whether the database path still names the file opened at start
    /// (`Err`: what happened to it).
    pub same_file: Result<(), String>,
}

impl Health {
    /// Health with both database checks passed; for callers that render one
    /// without running workers.
    #[must_use]
    pub fn new(workers: usize, live: usize, panics: u64) -> Self {
        Self {
            workers,
            live,
            panics,
            writable: Ok(()),
            same_file: Ok(()),
        }
    }

    /// Sets [`Health::writable`].
    #[must_use]
    pub fn with_writable(mut self, writable: Result<(), String>) -> Self {
        self.writable = writable;
        self
    }

    /// Sets [`Health::same_file`].
    #[must_use]
    pub fn with_same_file(mut self, same_file: Result<(), String>) -> Self {
        self.same_file = same_file;
        self
    }
}

impl Health {
    /// Every worker alive, the database writable and still the file at its
    /// path.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.live == self.workers && self.writable.is_ok() && self.same_file.is_ok()
    }
}

impl Monitor {
    /// The workers' health now; the write check runs on `store` (the
    /// caller's own connection: it takes the write lock for a moment,
    /// waiting up to the busy timeout).
    #[must_use]
    pub fn health(&self, store: &Store) -> Health {
        Health {
            workers: self.shared.workers,
            live: self.shared.live.load(Ordering::SeqCst),
            panics: self.shared.panics.load(Ordering::SeqCst),
            writable: store.probe_write().map_err(|error| error.to_string()),
            same_file: self.shared.same_file(),
        }
    }

    /// Each worker's last sign of life.
    #[must_use]
    pub fn beats(&self) -> Vec<WorkerBeat> {
        self.shared
            .beats
            .iter()
            .map(|(worker, beat, alive)| WorkerBeat {
                worker: worker.clone(),
                last_beat_ms: beat.load(Ordering::Relaxed),
                alive: alive.load(Ordering::SeqCst),
            })
            .collect()
    }
}
