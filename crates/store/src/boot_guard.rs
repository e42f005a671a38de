//! Boot liveness the kernel keeps: every orch process holds an exclusive
//! `flock` on its own boot file, beside the database, for its whole life.
//!
//! A boot whose lock can be taken is dead (the kernel dropped the lock when
//! the process ended, however it ended), so its leases are rescued at once; a
//! boot whose lock is held is alive and its leases are never touched. Lease
//! expiry stays the backstop for everything else.
//!
//! Only a holder of a boot file's lock ever removes it, and only while the
//! path still names the file it locked; a registrant checks, once it holds
//! the lock, that the path still names its file. Together these make a
//! rescuer that removes a stale file and a process registering at the same
//! moment safe.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::boots::{LEASING_BOOTS_SQL, MAX_BOOT_ID_LEN};
use crate::error::{Result, StoreError, sql};
use crate::queue::Rescued;
use crate::store::Store;

/// What a boot file's name adds to its boot id.
const LOCK_SUFFIX: &str = ".lock";

/// What the boot folder's name adds to the database file's path.
const BOOTS_SUFFIX: &str = ".boots";

/// How long [`Store::register_boot`] retries a lock held only for a moment:
/// a rescuer removing what it took for a stale file holds it for
/// microseconds. A live process holding it is reported after this.
const REGISTER_PATIENCE: Duration = Duration::from_millis(250);

/// Proof that this process holds its boot: the open, exclusively locked
/// boot file, returned by [`Store::register_boot`].
///
/// Keep it for the whole process run. Dropping it releases the lock and
/// leaves the file, unlocked, so other processes take the boot for dead and
/// rescue whatever it still holds (then remove the file); give every job
/// back first ([`Store::release`]). If the process dies instead, the kernel
/// releases the lock the same way. The file is never removed by its owner:
/// a missing file reads as "unknown", and only lease expiry rescues then.
///
/// The file is opened close-on-exec, so a process the run starts (a staging
/// suite, an agent) never inherits the lock and cannot keep a dead boot
/// looking alive.
#[derive(Debug)]
pub struct BootGuard {
    boot_id: String,
    path: PathBuf,
    /// Held, never read: the lock lives as long as the guard.
    #[expect(dead_code, reason = "held for its lock, released when dropped")]
    lock: Flock<File>,
}

impl BootGuard {
    /// The boot id this guard holds.
    #[must_use]
    pub fn boot_id(&self) -> &str {
        &self.boot_id
    }

    /// The boot file: `<database path>.boots/<boot id>.lock`.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

// Dropping a guard only closes the file, which releases the lock: the file
// stays, unlocked, so that every other process reads the boot as dead (a
// missing file would read as unknown, see `Probe::Unknown`) and the next
// `rescue_dead_boots` rescues what it still holds and removes the file.

/// Refuses a boot id that is not a safe file name.
pub(crate) fn validate_boot_id(boot_id: &str) -> Result<()> {
    let why = if boot_id.is_empty() {
        "it is empty"
    } else if boot_id.len() > MAX_BOOT_ID_LEN {
        "it is longer than 64 characters"
    } else if boot_id.starts_with('.') {
        "it starts with '.'"
    } else if !boot_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        "it holds a character other than A-Z, a-z, 0-9, '_', '.' and '-'"
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidBootId {
        boot_id: boot_id.to_owned(),
        why,
    })
}

fn boot_file_error(path: &Path, action: &'static str) -> impl FnOnce(io::Error) -> StoreError {
    move |source| StoreError::BootFile {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// Whether `path` still names the very file `file` is open on.
fn names_file(path: &Path, file: &File) -> io::Result<bool> {
    let open = file.metadata()?;
    match path.symlink_metadata() {
        Ok(named) => Ok(named.dev() == open.dev() && named.ino() == open.ino()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error),
    }
}

/// Removes the boot file at `path` if it is the file `lock` holds. The
/// caller holds the lock, so nobody else can remove or replace it meanwhile.
fn remove_if_locked_here(path: &Path, lock: &Flock<File>) -> io::Result<()> {
    if names_file(path, lock)? {
        match std::fs::remove_file(path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
    }
    Ok(())
}

/// What a non-blocking try of a boot file's lock found.
enum Probe {
    /// Someone holds the lock: the boot is alive.
    Alive,
    /// We took the lock: the boot is dead. Hold it until done with the boot.
    Dead(Flock<File>),
    /// There is no boot file, or it cannot be opened or locked: liveness is
    /// unknown. A missing file proves nothing (an operator's clean-up, a
    /// restored folder may have removed a live boot's file), so only the
    /// lease's expiry rescues the boot's jobs.
    Unknown,
}

fn probe(path: &Path) -> Probe {
    // Never blocks (a FIFO planted there) and never follows a link.
    let Ok(file) = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOFOLLOW)
        .open(path)
    else {
        return Probe::Unknown;
    };
    // Only a regular file is a boot file; anything else (a folder) is not
    // read as one.
    if !file.metadata().is_ok_and(|meta| meta.is_file()) {
        return Probe::Unknown;
    }
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Probe::Dead(lock),
        Err((_, Errno::EWOULDBLOCK)) => Probe::Alive,
        Err(_) => Probe::Unknown,
    }
}

/// Removes a dead boot's file, whose lock the caller holds.
fn bury(path: &Path, lock: &Flock<File>) -> Result<()> {
    remove_if_locked_here(path, lock).map_err(boot_file_error(path, "remove"))
}

impl Store {
    /// The folder of this database's boot files: `<database path>.boots`.
    fn boots_dir(&self, op: &'static str) -> Result<PathBuf> {
        match self.conn.path() {
            Some(db) if !db.is_empty() => {
                let mut dir = OsString::from(db);
                dir.push(BOOTS_SUFFIX);
                Ok(PathBuf::from(dir))
            }
            _ => Err(StoreError::NoDatabaseFile { op }),
        }
    }

    /// The boot file of `boot_id`: `<database path>.boots/<boot id>.lock`,
    /// where the database path is the absolute one SQLite opened. For
    /// operators and tests; [`Store::register_boot`] creates and locks it.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidBootId`] if `boot_id` is not a safe file name;
    /// [`StoreError::NoDatabaseFile`] for an in-memory store.
    pub fn boot_file(&self, boot_id: &str) -> Result<PathBuf> {
        self.boot_path("boot_file", boot_id)
    }

    fn boot_path(&self, op: &'static str, boot_id: &str) -> Result<PathBuf> {
        validate_boot_id(boot_id)?;
        Ok(self.boots_dir(op)?.join(format!("{boot_id}{LOCK_SUFFIX}")))
    }

    /// Registers this process run as the live boot `boot_id`: creates its
    /// boot file `<database path>.boots/<boot id>.lock` (the folder with mode
    /// 0700, the file 0600, holding the process id for operators) and takes
    /// an exclusive, non-blocking `flock` on it, held by the returned guard.
    ///
    /// Call it at start-up, before any claim, with a boot id drawn fresh for
    /// the run, and keep the guard until the process ends: while it is held,
    /// [`Store::rescue_dead_boots`] in any process leaves this boot's leases
    /// alone. Every process that claims on the database must register.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidBootId`] if `boot_id` is not 1 to 64 characters of
    /// `[A-Za-z0-9_.-]` or starts with `.`; [`StoreError::NoDatabaseFile`]
    /// for an in-memory store; [`StoreError::BootInUse`] if a live process
    /// (or another guard in this one) holds the boot; [`StoreError::BootFile`]
    /// if the folder or the file cannot be created, locked or written.
    pub fn register_boot(&self, boot_id: &str) -> Result<BootGuard> {
        let path = self.boot_path("register_boot", boot_id)?;
        let dir = self.boots_dir("register_boot")?;
        match DirBuilder::new().mode(0o700).create(&dir) {
            Err(error) if error.kind() != io::ErrorKind::AlreadyExists => {
                return Err(boot_file_error(&dir, "create the folder of")(error));
            }
            _ => {}
        }
        let deadline = Instant::now() + REGISTER_PATIENCE;
        let mut pause = Duration::from_millis(1);
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
                .map_err(boot_file_error(&path, "create"))?;
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(mut lock) => {
                    // A rescuer may have removed the file as stale between
                    // our open and our lock: then lock a fresh one.
                    if names_file(&path, &lock).map_err(boot_file_error(&path, "check"))? {
                        write_pid(&mut lock).map_err(boot_file_error(&path, "write"))?;
                        return Ok(BootGuard {
                            boot_id: boot_id.to_owned(),
                            path,
                            lock,
                        });
                    }
                }
                Err((_, Errno::EWOULDBLOCK)) => {
                    if Instant::now() >= deadline {
                        return Err(StoreError::BootInUse {
                            boot_id: boot_id.to_owned(),
                            path,
                        });
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err((_, errno)) => {
                    return Err(boot_file_error(&path, "lock")(io::Error::from(errno)));
                }
            }
        }
    }

    /// Rescues the leases of every dead boot, and only of dead boots.
    ///
    /// For every distinct boot holding a running job, other than
    /// `current_boot_id`, it tries that boot's file lock without blocking:
    /// taken means the boot is dead, so exactly its jobs are rescued (as
    /// [`Store::rescue_expired`] rescues: back to `queued` due now, or failed
    /// as poison with its task blocked and an alert), then its boot file is
    /// removed; held means it is alive, and its jobs are left alone whatever
    /// their age. No boot file, a file that cannot be opened or locked, or a
    /// boot id that names no file means liveness is unknown, never dead: a
    /// live process whose file was deleted keeps its jobs, and only their
    /// lease's expiry ([`Store::rescue_expired`]) rescues them. Boot files of dead boots that
    /// hold no job (stale files) are removed too; files in the boot folder
    /// that are not boot files are never touched. Each dead boot is rescued
    /// in its own transaction, under its boot file's lock.
    ///
    /// Call it at start-up, after [`Store::register_boot`] and before the
    /// first claim, and then periodically with [`Store::rescue_expired`]:
    /// several orch processes may share one database file.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidBootId`] if `current_boot_id` is not a valid boot
    /// id; [`StoreError::NoDatabaseFile`] for an in-memory store;
    /// [`StoreError::BootNotRegistered`] if no process holds
    /// `current_boot_id`'s boot file (register first, or the other processes
    /// will rescue this one's jobs); [`StoreError::BootFile`] if a dead boot's
    /// file cannot be removed, or the boot folder cannot be listed; [`StoreError::Sqlite`] if SQLite
    /// fails. Boots rescued before an error stay rescued.
    pub fn rescue_dead_boots(&self, current_boot_id: &str) -> Result<Rescued> {
        let own = self.boot_path("rescue_dead_boots", current_boot_id)?;
        let dir = self.boots_dir("rescue_dead_boots")?;
        match probe(&own) {
            Probe::Alive => {}
            // Not ours to remove: whoever registers this boot will lock it.
            Probe::Dead(_) | Probe::Unknown => {
                return Err(StoreError::BootNotRegistered {
                    boot_id: current_boot_id.to_owned(),
                    path: own,
                });
            }
        }

        let boots = self.leasing_boots(current_boot_id)?;
        let mut rescued = Rescued::default();
        for boot in &boots {
            // Only a lock taken proves a boot dead. A boot id that cannot
            // name a file, a missing or unreadable file: unknown, left to
            // lease expiry.
            if validate_boot_id(boot).is_err() {
                continue;
            }
            let path = dir.join(format!("{boot}{LOCK_SUFFIX}"));
            let Probe::Dead(lock) = probe(&path) else {
                continue;
            };
            let one = self.rescue(
                "lease_boot_id = ?3",
                "its boot is dead (boot file unlocked)",
                boot,
            )?;
            rescued.requeued.extend(one.requeued);
            rescued.failed.extend(one.failed);
            rescued.blocked.extend(one.blocked);
            rescued.alerts.extend(one.alerts);
            bury(&path, &lock)?;
        }

        self.remove_stale_boot_files(&dir, current_boot_id, &boots)?;
        Ok(rescued)
    }

    /// The boots, other than `current`, that hold a running job, in id order.
    fn leasing_boots(&self, current: &str) -> Result<BTreeSet<String>> {
        let mut stmt = self
            .conn
            .prepare_cached(LEASING_BOOTS_SQL)
            .map_err(sql("rescue_dead_boots"))?;
        stmt.query_map([current], |row| row.get(0))
            .map_err(sql("rescue_dead_boots"))?
            .collect::<rusqlite::Result<BTreeSet<String>>>()
            .map_err(sql("rescue_dead_boots"))
    }

    /// Removes the boot files of dead boots other than `current` and those
    /// in `handled` (already dealt with).
    fn remove_stale_boot_files(
        &self,
        dir: &Path,
        current: &str,
        handled: &BTreeSet<String>,
    ) -> Result<()> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(boot_file_error(dir, "list the folder of")(error)),
        };
        for entry in entries {
            let entry = entry.map_err(boot_file_error(dir, "list the folder of"))?;
            let name = entry.file_name();
            let Some(boot) = name.to_str().and_then(|n| n.strip_suffix(LOCK_SUFFIX)) else {
                continue;
            };
            if boot == current || handled.contains(boot) || validate_boot_id(boot).is_err() {
                continue;
            }
            // Only regular files are boot files; anything else is left alone.
            let is_file = entry
                .file_type()
                .map_err(boot_file_error(dir, "list the folder of"))?
                .is_file();
            if !is_file {
                continue;
            }
            let path = entry.path();
            if let Probe::Dead(lock) = probe(&path) {
                bury(&path, &lock)?;
            }
        }
        Ok(())
    }
}

/// Writes the process id into the locked boot file, for operators.
fn write_pid(lock: &mut Flock<File>) -> io::Result<()> {
    let file: &mut File = lock;
    file.set_len(0)?;
    writeln!(file, "pid {}", std::process::id())
}
