//! Opening the database: connection settings, the schema and its migrations.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::{Result, SqliteError, StoreError, sql};
use crate::types::{Clock, SystemClock};

/// The whole schema of the current version, as one SQL text.
///
/// Pinned byte for byte by `tests/golden/schema.sql`; see `docs/store.md` for
/// how to change it deliberately.
pub const SCHEMA_SQL: &str = include_str!("schema.sql");

/// The migration steps: the step at index `i` takes a database from
/// `PRAGMA user_version` `i` to `i + 1`. Steps are only ever appended, never
/// edited, because databases in the field have run the old ones; each lives
/// in its own frozen file under `src/migrations/`. Step 1 is the whole
/// version-1 schema, frozen when version 2 came; step 2 adds the repos'
/// deploy and health commands and pass-through environment, and the
/// `agent_runs_by_task` index; step 3 adds `jobs.claimed_ms` and the indexes
/// of the `/queue` snapshot (`jobs_by_state`, `jobs_deferred`,
/// `agent_runs_by_role_outcome`); step 4 adds task isolation and provenance
/// (`repos.base_ref`; the tasks' isolation, base commit, branch, worktree,
/// head commit and keep flag; the jobs' start and end commits; the gate
/// decisions' commit and clean flag; the `tasks_serial` index); step 5 adds
/// `jobs.rescues` and `jobs.cancel_requested_ms` and `transitions.actor` and
/// `.reason` (the operator's retry and cancel, poison counted apart); step 6
/// adds the repos' test command and the `shadow_verdicts` table of a suite
/// runner in shadow mode, with its indexes; step 7 adds the repos' suite
/// paths and setup command, the tasks' approved suite, the shadow pairs' LLM
/// commit and remakes the agreement index with both commits; step 8 adds the
/// sandbox (the repos' suite network and cache folders, what the kernel
/// enforced for a run and a gate's verdict); step 9 adds the agent runs'
/// prompt-cache tokens and model; step 10 rebuilds tasks, jobs and alerts
/// with AUTOINCREMENT (an id is never handed out twice) and adds the
/// `effects` table (side effects started, at most once); step 11 says where
/// a run's cost came from (`cost_source`: reported by the CLI or estimated
/// by orch); step 12 adds the shadow pairs' test command digest and a
/// repository's own test-runner mode; step 13 the runner's second verdict on
/// a disagreeing shadow pair (`rerun_verdict`, flaky suites); step 14 each
/// shadow pair's repository (`repo_id`) and the covering index the `/queue`
/// evidence reads; step 15 when an operator abandoned a blocked task
/// (`abandoned_ms`); step 16 the partial indexes that count the active and
/// blocked tasks and list the latest shadow disagreements for `/queue`. A test checks that running every step from
/// an empty file yields exactly the schema of [`SCHEMA_SQL`].
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001.sql"),
    include_str!("migrations/0002.sql"),
    include_str!("migrations/0003.sql"),
    include_str!("migrations/0004.sql"),
    include_str!("migrations/0005.sql"),
    include_str!("migrations/0006.sql"),
    include_str!("migrations/0007.sql"),
    include_str!("migrations/0008.sql"),
    include_str!("migrations/0009.sql"),
    include_str!("migrations/0010.sql"),
    include_str!("migrations/0011.sql"),
    include_str!("migrations/0012.sql"),
    include_str!("migrations/0013.sql"),
    include_str!("migrations/0014.sql"),
    include_str!("migrations/0015.sql"),
    include_str!("migrations/0016.sql"),
];

/// The schema version this code writes and understands (`PRAGMA user_version`).
///
/// A file with a higher version is refused with [`StoreError::SchemaTooNew`].
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The SQLite `application_id` of an orch database (the bytes `orch` read as
/// a big-endian integer), written by the first migration. A file with another
/// non-zero id, or with tables but no orch schema version, belongs to some
/// other program and is refused untouched.
pub const APPLICATION_ID: i32 = 0x6f72_6368;

/// Crash rescues after which a job is failed as poison, unless
/// [`StoreOptions::poison_rescues`] says otherwise.
pub const DEFAULT_POISON_RESCUES: u32 = 3;

/// How long a connection waits for another writer before SQLite reports busy.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// WAL pages after which a commit checkpoints the log back into the database
/// (SQLite's own default, written down so it cannot change under us).
const WAL_AUTOCHECKPOINT_PAGES: i64 = 1000;

/// The size, in bytes, to which the WAL file is truncated after a checkpoint.
const JOURNAL_SIZE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;

/// Settings for [`Store::open_with`].
#[derive(Clone)]
pub struct StoreOptions {
    /// The source of "now" for every timestamp; [`SystemClock`] by default.
    pub clock: Arc<dyn Clock>,
    /// How long to wait for another connection's write before giving up;
    /// [`DEFAULT_BUSY_TIMEOUT`] by default.
    pub busy_timeout: Duration,
    /// Crash rescues after which a job is failed as poison (its task
    /// blocked); [`DEFAULT_POISON_RESCUES`] by default, at least 1. A job's
    /// own `max_attempts` caps it further.
    pub poison_rescues: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            poison_rescues: DEFAULT_POISON_RESCUES,
        }
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("clock_now_ms", &self.clock.now_ms())
            .field("busy_timeout", &self.busy_timeout)
            .field("poison_rescues", &self.poison_rescues)
            .finish()
    }
}

/// One connection to the orch database.
///
/// A `Store` is `Send` but not `Sync`: give each thread its own, opened on the
/// same file. SQLite serialises their writes; every write is one
/// `BEGIN IMMEDIATE` transaction, so none of them can fail half-way through
/// with a busy error after it has read.
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) clock: Arc<dyn Clock>,
    /// [`StoreOptions::poison_rescues`], at least 1.
    pub(crate) poison_rescues: u32,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.conn.path())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the database file at `path`, with the wall
    /// clock and the default busy timeout, and migrates it to
    /// [`SCHEMA_VERSION`].
    ///
    /// # Errors
    ///
    /// See [`Store::open_with`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, StoreOptions::default())
    }

    /// Opens (creating if needed) the database file at `path` and migrates it
    /// to [`SCHEMA_VERSION`]. Opening the same file again, from this or
    /// another thread or process, is fine.
    ///
    /// The file is put in WAL mode with `synchronous = NORMAL`, foreign keys
    /// on, and a bounded WAL (see `docs/store.md`).
    ///
    /// # Errors
    ///
    /// [`StoreError::SchemaTooNew`] if a newer orch wrote the file (which is
    /// then left untouched); [`StoreError::WalUnavailable`] if the file system
    /// refuses WAL; [`StoreError::Migration`] if the file is not an orch
    /// database; [`StoreError::Open`] for anything else SQLite refuses.
    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source: SqliteError::new(source),
        };
        let conn = Connection::open(&path).map_err(open_err)?;
        conn.busy_timeout(options.busy_timeout).map_err(open_err)?;
        // Read the file's identity before changing anything, so that a file
        // from a newer orch or another program is refused without a single
        // byte written to it.
        let identity = FileIdentity::read(&conn).map_err(open_err)?;
        check_version(&path, identity.version)?;
        identity.check_is_orch(&path)?;

        let mode = switch_to_wal(&conn, options.busy_timeout).map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::WalUnavailable { path, mode });
        }
        configure(&conn).map_err(open_err)?;
        migrate(&conn, &path)?;
        Ok(Self {
            conn,
            clock: options.clock,
            poison_rescues: options.poison_rescues.max(1),
        })
    }

    /// Opens a private in-memory database with the full schema, for tests and
    /// examples. Nothing is shared with any other connection and nothing
    /// survives the `Store`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Open`] or [`StoreError::Migration`] if SQLite fails.
    pub fn open_in_memory(options: StoreOptions) -> Result<Self> {
        let path = PathBuf::from(":memory:");
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source: SqliteError::new(source),
        };
        let conn = Connection::open_in_memory().map_err(open_err)?;
        conn.busy_timeout(options.busy_timeout).map_err(open_err)?;
        configure(&conn).map_err(open_err)?;
        migrate(&conn, &path)?;
        Ok(Self {
            conn,
            clock: options.clock,
            poison_rescues: options.poison_rescues.max(1),
        })
    }

    /// Copies the WAL back into the database file and truncates the WAL to
    /// zero bytes, waiting (up to the busy timeout) for readers to move on.
    ///
    /// SQLite already checkpoints every 1000 pages on commit; call this when
    /// the queue is idle to keep the WAL file small even when readers kept
    /// the automatic checkpoints from finishing.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if the checkpoint cannot run.
    pub fn checkpoint(&self) -> Result<WalCheckpoint> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                Ok(WalCheckpoint {
                    completed: row.get::<_, i64>(0)? == 0,
                    wal_frames: row.get(1)?,
                    checkpointed_frames: row.get(2)?,
                })
            })
            .map_err(sql("checkpoint"))
    }

    /// Whether this connection can write now: takes the write lock
    /// (`BEGIN IMMEDIATE`, waiting up to the busy timeout) and commits
    /// nothing. For health checks: a database another process holds
    /// write-locked, or one on a read-only or full file system, fails here.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if the write lock cannot be had.
    pub fn probe_write(&self) -> Result<()> {
        self.write("probe_write", |_| Ok(()))
    }

    /// The current time from the store's clock, in milliseconds since the
    /// Unix epoch.
    #[must_use]
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Runs `f` inside one `BEGIN IMMEDIATE` transaction and commits it.
    ///
    /// Every write of the store goes through here. IMMEDIATE takes the write
    /// lock up front, so SQLite's busy handler waits for other writers at the
    /// `BEGIN`, instead of a deferred transaction failing with
    /// `SQLITE_BUSY` when it tries to upgrade a read to a write.
    pub(crate) fn write<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(sql(op))?;
        let value = f(&tx)?;
        tx.commit().map_err(sql(op))?;
        Ok(value)
    }
}

/// What [`Store::checkpoint`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WalCheckpoint {
    /// Whether the whole WAL was copied back and truncated (false when a
    /// reader or writer stayed busy past the timeout; try again later).
    pub completed: bool,
    /// Frames in the WAL before the checkpoint (-1 if not in WAL mode).
    pub wal_frames: i64,
    /// Frames copied back into the database (-1 if not in WAL mode).
    pub checkpointed_frames: i64,
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

fn check_version(path: &Path, found: i64) -> Result<()> {
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found < 0 {
        return Err(StoreError::NotOrchDatabase {
            path: path.to_path_buf(),
            found,
        });
    }
    Ok(())
}

/// What a file says about itself, read in one statement.
struct FileIdentity {
    version: i64,
    application_id: i32,
    objects: i64,
}

impl FileIdentity {
    /// One `SELECT`, so one snapshot: read separately, a concurrent first
    /// migration committing in between would show "tables but version 0" and
    /// make an orch file look foreign.
    fn read(conn: &Connection) -> rusqlite::Result<FileIdentity> {
        conn.query_row(
            "SELECT v.user_version, a.application_id, \
                    (SELECT count(*) FROM sqlite_schema) \
             FROM pragma_user_version() AS v, pragma_application_id() AS a",
            [],
            |row| {
                Ok(FileIdentity {
                    version: row.get(0)?,
                    application_id: row.get(1)?,
                    objects: row.get(2)?,
                })
            },
        )
    }

    /// Refuses a file that some other program wrote: a foreign
    /// `application_id`, or tables without an orch schema version. Migrating
    /// such a file would write orch's tables into someone else's database.
    fn check_is_orch(&self, path: &Path) -> Result<()> {
        let foreign = |why: &'static str| StoreError::ForeignDatabase {
            path: path.to_path_buf(),
            why,
        };
        if self.application_id != 0 && self.application_id != APPLICATION_ID {
            return Err(foreign("its application_id belongs to another program"));
        }
        if self.version == 0 && self.objects > 0 {
            return Err(foreign("it has tables but no orch schema version"));
        }
        Ok(())
    }
}

/// Puts the file in WAL mode and returns the journal mode SQLite reports.
///
/// When several connections open a fresh file at once, each tries to change
/// its journal mode, and SQLite answers `SQLITE_BUSY` at once, without calling
/// the busy handler, to the ones that would otherwise deadlock. The switch is
/// therefore retried here, with a short growing pause, for as long as the busy
/// timeout allows. Once the file is in WAL mode the switch is a no-op.
fn switch_to_wal(conn: &Connection, busy_timeout: Duration) -> rusqlite::Result<String> {
    let deadline = Instant::now() + busy_timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)) {
            Err(rusqlite::Error::SqliteFailure(error, _))
                if error.code == rusqlite::ErrorCode::DatabaseBusy && Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Per-connection settings (journal mode aside, which is per file).
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // NORMAL in WAL mode: a commit is durable against a crash of the process
    // (the WAL is in the OS's hands), and the database stays consistent on
    // power loss, which may only roll back the last commits. See docs/store.md.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT_BYTES)?;
    Ok(())
}

/// Brings the schema to [`SCHEMA_VERSION`], all steps in one transaction.
fn migrate(conn: &Connection, path: &Path) -> Result<()> {
    // The common case, an up-to-date file, takes no write lock.
    let before = user_version(conn).map_err(|source| StoreError::Open {
        path: path.to_path_buf(),
        source: SqliteError::new(source),
    })?;
    check_version(path, before)?;
    if before == SCHEMA_VERSION {
        return Ok(());
    }
    let migration_err = |version| {
        move |source| StoreError::Migration {
            path: path.to_path_buf(),
            version,
            source: SqliteError::new(source),
        }
    };
    // A step that rebuilds a table (step 10) renames the old one aside and
    // drops it: with foreign keys enforced, SQLite would rewrite the other
    // tables' REFERENCES clauses to the old name, and the drop would delete
    // through them. So, as SQLite's documented table rebuild says, foreign
    // keys are off while the steps run (the pragma is a no-op inside a
    // transaction, hence here), every reference is checked before the
    // commit, and they are on again afterwards, whatever happened.
    conn.pragma_update(None, "foreign_keys", false)
        .map_err(migration_err(before + 1))?;
    let migrated = run_steps(conn, path, before);
    let restored = conn.pragma_update(None, "foreign_keys", true);
    migrated?;
    restored.map_err(migration_err(SCHEMA_VERSION))
}

/// The missing steps, in one `BEGIN IMMEDIATE` transaction that checks every
/// foreign key before it commits.
fn run_steps(conn: &Connection, path: &Path, before: i64) -> Result<()> {
    let migration_err = |version| {
        move |source| StoreError::Migration {
            path: path.to_path_buf(),
            version,
            source: SqliteError::new(source),
        }
    };
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
        .map_err(migration_err(before + 1))?;
    // Another connection may have migrated while we waited for the lock.
    let current = user_version(&tx).map_err(migration_err(before + 1))?;
    check_version(path, current)?;
    for (version, step) in (1_i64..).zip(MIGRATIONS) {
        if version <= current {
            continue;
        }
        if version == 1 {
            tx.pragma_update(None, "application_id", APPLICATION_ID)
                .map_err(migration_err(version))?;
        }
        tx.execute_batch(step).map_err(migration_err(version))?;
        tx.pragma_update(None, "user_version", version)
            .map_err(migration_err(version))?;
    }
    // No step may leave a row whose reference names nothing.
    let dangling: i64 = tx
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| {
            row.get(0)
        })
        .map_err(migration_err(SCHEMA_VERSION))?;
    if dangling > 0 {
        return Err(StoreError::Migration {
            path: path.to_path_buf(),
            version: SCHEMA_VERSION,
            source: SqliteError::new(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                Some(format!(
                    "{dangling} rows reference a row that does not exist after the migration"
                )),
            )),
        });
    }
    tx.commit().map_err(migration_err(SCHEMA_VERSION))
}
