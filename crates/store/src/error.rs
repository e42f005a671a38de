//! The store's one error type.

use std::path::PathBuf;

use crate::types::{JobId, LeaseToken, TaskId};

/// Everything that can go wrong in the store, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or configured.
    #[error("cannot open the database at {path}: {source}; {}", open_advice(.source))]
    Open {
        /// The file that was being opened.
        path: PathBuf,
        /// What SQLite said.
        source: SqliteError,
    },

    /// The file was written by a newer orch; it was left untouched.
    #[error(
        "the database at {path} has schema version {found}, newer than version {supported} which this orch knows; run the newer orch that wrote it, or restore a backup (the file was left untouched)"
    )]
    SchemaTooNew {
        /// The file that was refused.
        path: PathBuf,
        /// Its `PRAGMA user_version`.
        found: i64,
        /// The newest version this code knows.
        supported: i64,
    },

    /// The file carries a schema version no orch ever wrote.
    #[error(
        "the database at {path} has schema version {found}, which no orch ever wrote; point orch at its own database file (the file was left untouched)"
    )]
    NotOrchDatabase {
        /// The file that was refused.
        path: PathBuf,
        /// Its `PRAGMA user_version`.
        found: i64,
    },

    /// The file belongs to another program.
    #[error(
        "the file at {path} is not an orch database ({why}); point orch at its own database file (the file was left untouched)"
    )]
    ForeignDatabase {
        /// The file that was refused.
        path: PathBuf,
        /// What gave it away.
        why: &'static str,
    },

    /// SQLite would not switch the file to write-ahead logging.
    #[error(
        "the database at {path} cannot use WAL journaling (journal_mode stayed {mode:?}); keep the database on a local file system, never a network one"
    )]
    WalUnavailable {
        /// The file that was being opened.
        path: PathBuf,
        /// The journal mode SQLite reported instead of `wal`.
        mode: String,
    },

    /// A migration step failed and was rolled back.
    #[error(
        "migrating the database at {path} to schema version {version} failed and was rolled back: {source}; the file may not be an orch database"
    )]
    Migration {
        /// The file being migrated.
        path: PathBuf,
        /// The version the failed step would have produced.
        version: i64,
        /// What SQLite said.
        source: SqliteError,
    },

    /// A write carried a lease token that no longer holds the job.
    ///
    /// The job was rescued (and perhaps claimed by another worker) or already
    /// finished. The caller must drop its result without retrying the write.
    #[error(
        "lease lost on job {job} (token {token}): the job was rescued or finished by someone else; drop this result and do not retry the write"
    )]
    LeaseLost {
        /// The job.
        job: JobId,
        /// The stale token.
        token: LeaseToken,
    },

    /// An operator asked to cancel the job (`orch task cancel`), so an end
    /// other than the cancelled one is refused; nothing was written.
    ///
    /// The worker still holds the lease: it ends the job with
    /// `Store::end_cancelled`, which blocks the task with reason
    /// `cancelled`. The check sits in the end's own transaction, so a cancel
    /// that arrives after the role's process ended, but before its end is
    /// written, is never lost.
    #[error(
        "job {job} was cancelled by the operator: its end is not written; end it with end_cancelled"
    )]
    CancelRequested {
        /// The job.
        job: JobId,
    },

    /// A row that was asked for by id does not exist.
    #[error("{table} row {id} not found; check the id")]
    NotFound {
        /// The table searched.
        table: &'static str,
        /// The id asked for.
        id: i64,
    },

    /// An operator's command does not fit the task's state: a retry of a
    /// task that is still active, a cancel of one that has ended.
    // The advice's commands name the real task (`orch task cancel 7`).
    #[error("task {task} is {state}: {}", .advice.replace(" ID`", &format!(" {task}`")))]
    TaskState {
        /// The task.
        task: TaskId,
        /// Its status, as stored (`active`, `done`, `blocked`).
        state: String,
        /// Why the command does not apply, and what to do instead.
        advice: &'static str,
    },

    /// No repository has this name.
    #[error("there is no repository named {name:?}; see `orch repo list`")]
    UnknownRepo {
        /// The name asked for.
        name: String,
    },

    /// A repository cannot be removed while tasks on it are unfinished.
    #[error(
        "repository {name:?} has {active} unfinished task(s) (ids {ids}: active, or blocked waiting for `orch task retry`); let them finish, or cancel them with `orch task cancel ID`; `orch repo remove --blocked-too` also removes blocked ones"
    )]
    RepoInUse {
        /// The repository.
        name: String,
        /// How many of its tasks are unfinished (active, or blocked).
        active: usize,
        /// Their ids, comma-separated.
        ids: String,
    },

    /// A transition was recorded from a stage the task is no longer at.
    #[error(
        "task {task} is at stage {found:?}, not {expected:?}: another transition won; reload the task before deciding again"
    )]
    StageMismatch {
        /// The task.
        task: TaskId,
        /// The stage the transition was decided from.
        expected: String,
        /// The stage the task is at.
        found: String,
    },

    /// An artifact digest was not a sha256 in lower-case hex.
    #[error("invalid artifact sha256 {found:?}: expected exactly 64 lower-case hex digits")]
    InvalidSha256 {
        /// The text that was given.
        found: String,
    },

    /// A value given to the store is out of the range it can store.
    #[error("invalid {what}: {why}")]
    InvalidInput {
        /// Which value.
        what: &'static str,
        /// Why it was refused.
        why: &'static str,
    },

    /// A boot id that cannot name a boot file.
    #[error(
        "invalid boot id {boot_id:?}: {why}; draw each process run a boot id of 1 to 64 characters from A-Z, a-z, 0-9, '_', '.' and '-', not starting with '.'"
    )]
    InvalidBootId {
        /// The id that was given.
        boot_id: String,
        /// What is wrong with it.
        why: &'static str,
    },

    /// Boot files live beside the database file, and this store has none.
    #[error(
        "{op} needs a database file: boot files live in a folder beside it, and an in-memory store has none; open the store with Store::open on a file"
    )]
    NoDatabaseFile {
        /// The store operation, for example `register_boot`.
        op: &'static str,
    },

    /// Another live process (or another guard in this one) holds the boot.
    #[error(
        "boot id {boot_id:?} is held by a live process (its boot file {path} is locked); draw a fresh boot id for every process run, never reuse one"
    )]
    BootInUse {
        /// The boot id.
        boot_id: String,
        /// Its boot file.
        path: PathBuf,
    },

    /// The calling boot holds no lock on its boot file, so other processes
    /// would take it for dead and rescue its jobs.
    #[error(
        "boot {boot_id:?} is not registered: no process holds its boot file {path}; call Store::register_boot at start-up, before any claim, and keep the BootGuard for the whole process run"
    )]
    BootNotRegistered {
        /// The boot id.
        boot_id: String,
        /// Its boot file.
        path: PathBuf,
    },

    /// A boot file or its folder could not be created, locked or removed.
    #[error(
        "cannot {action} the boot file {path}: {source}; check that the folder beside the database is writable by this user and on a local file system"
    )]
    BootFile {
        /// The file or folder concerned.
        path: PathBuf,
        /// What was being done, for example `create` or `lock`.
        action: &'static str,
        /// What the operating system said.
        source: std::io::Error,
    },

    /// A stage or role column holds a name `orch-pipeline` does not know
    /// (a database written by another orch version, or edited by hand).
    #[error(
        "{op}: {table} row {row} has {column} {found:?}, which is not a {what} this orch knows (expected one of {}); fix or remove that row, or run the orch version that wrote it",
        known_names(what)
    )]
    UnknownName {
        /// The store operation, for example `task`.
        op: &'static str,
        /// The table read.
        table: &'static str,
        /// Which row: its id, or the group key of an aggregate.
        row: String,
        /// The column, for example `stage`.
        column: &'static str,
        /// `stage` or `role`.
        what: &'static str,
        /// The text stored.
        found: String,
    },

    /// Any other SQLite failure, with the operation that hit it.
    #[error("{op} failed in SQLite: {source}")]
    Sqlite {
        /// The store operation, for example `claim`.
        op: &'static str,
        /// What SQLite said.
        source: SqliteError,
    },
}

/// What SQLite (or the layer over it) said: its message and, when SQLite
/// answered, its result code. Opaque, so that no type of the SQLite binding
/// is part of the store's API: an embedder may use another rusqlite version,
/// or none, beside this crate.
#[derive(Debug)]
pub struct SqliteError {
    inner: rusqlite::Error,
}

impl SqliteError {
    /// Wraps the binding's error.
    pub(crate) fn new(inner: rusqlite::Error) -> SqliteError {
        SqliteError { inner }
    }

    /// SQLite's extended result code (for example 2067,
    /// `SQLITE_CONSTRAINT_UNIQUE`), when the error is an answer from SQLite;
    /// `None` for an error of the binding itself (a wrong column type, no
    /// row where one was expected).
    #[must_use]
    pub fn code(&self) -> Option<i32> {
        self.inner.sqlite_error().map(|error| error.extended_code)
    }

    /// SQLite's primary result code: the low byte of [`SqliteError::code`]
    /// (for example 19, `SQLITE_CONSTRAINT`).
    #[must_use]
    pub fn primary_code(&self) -> Option<i32> {
        self.code().map(|code| code & 0xff)
    }

    /// The message, as [`std::fmt::Display`] writes it.
    #[must_use]
    pub fn message(&self) -> String {
        self.inner.to_string()
    }
}

impl std::fmt::Display for SqliteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl std::error::Error for SqliteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

/// What to do about an error SQLite gave while opening or configuring a
/// database file: the advice must fit the error (a malformed file is not a
/// missing folder).
fn open_advice(error: &SqliteError) -> &'static str {
    use rusqlite::ErrorCode;
    // Every other variant is not an answer from SQLite's file layer.
    let code = error.inner.sqlite_error_code();
    match code {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            "the file is not a SQLite database or is damaged; point orch at its own database file, or move this one aside and restore a backup"
        }
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => {
            "the file or its folder is not writable by this user; fix the permissions or point orch at a writable path"
        }
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            "another process holds the database locked; retry, and check for a stuck orch process"
        }
        Some(ErrorCode::DiskFull) => "the disk is full; free space and retry",
        Some(ErrorCode::CannotOpen) => {
            "check that the folder exists and is writable, and that the file is on a local file system"
        }
        _ => "check that the folder exists, is writable and is on a local file system",
    }
}

/// The names `orch-pipeline` accepts for a `stage` or a `role`,
/// comma-separated.
fn known_names(what: &str) -> String {
    let names: Vec<&str> = if what == "role" {
        orch_pipeline::Role::ALL
            .iter()
            .map(|r| r.as_str())
            .collect()
    } else {
        orch_pipeline::Stage::ALL
            .iter()
            .map(|s| s.as_str())
            .collect()
    };
    names.join(", ")
}

/// Shorthand for results of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Wraps a SQLite error with the operation it interrupted.
/// A row whose stage or role column ([`crate::rows::UnknownName`]) failed
/// to parse becomes [`StoreError::UnknownName`], naming the row.
pub(crate) fn sql(op: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| {
        if let rusqlite::Error::FromSqlConversionFailure(_, _, inner) = &source
            && let Some(bad) = inner.downcast_ref::<crate::rows::UnknownName>()
        {
            return StoreError::UnknownName {
                op,
                table: bad.table,
                row: bad.row.clone(),
                column: bad.column,
                what: bad.error.what,
                found: bad.error.found.clone(),
            };
        }
        StoreError::Sqlite {
            op,
            source: SqliteError::new(source),
        }
    }
}
