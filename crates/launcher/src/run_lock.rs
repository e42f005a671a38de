//! The lock a running job holds on its task's working folder for the run's
//! whole life: an exclusive `flock` on `<home>/locks/task-<id>.lock`, taken
//! before the job's worktree is prepared and its role starts, and dropped
//! only after the job's end is written (or given up).
//!
//! A lease says who *may* write a job's end; it cannot stop a process that
//! was stopped past its lease (SIGSTOP, a suspended laptop) and resumes
//! later, while its agent goes on writing the worktree meanwhile. The kernel
//! keeps this lock for as long as the process that took it lives, stopped or
//! not, so a second process never runs a role in the same folder while the
//! first lives: it finds the lock held and gives the job back for a moment
//! (`Store::release_for`), spending no retry budget.
//!
//! **One host only.** `flock` is a lock of this machine's kernel (and not
//! reliable on network file systems). Several hosts sharing one database
//! need a lock they all see: worktrees on each host's own disk with the job
//! pinned to the host that holds them, or a lease-fenced lock in the
//! database itself (docs/launcher.md, "The worktree lock").

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// A held run lock; dropping it releases the lock (the file stays, so no
/// one ever locks a file another process is about to unlink).
#[derive(Debug)]
pub(crate) struct RunLock {
    _lock: Flock<File>,
}

/// What [`try_lock`] found.
#[derive(Debug)]
pub(crate) enum Locked {
    /// We hold it now.
    Held(RunLock),
    /// Another run holds it: what its file says (the process id and job).
    Busy {
        /// The lock file.
        path: PathBuf,
        /// Its content: who took it.
        holder: String,
    },
}

/// The lock file of task `task` in orch's home.
pub(crate) fn lock_path(home: &Path, task: i64) -> PathBuf {
    home.join("locks").join(format!("task-{task}.lock"))
}

/// Tries, without waiting, to take the run lock of `task` for `job`.
///
/// # Errors
///
/// The folder or the file cannot be created, opened or locked.
pub(crate) fn try_lock(home: &Path, task: i64, job: i64) -> io::Result<Locked> {
    let path = lock_path(home, task);
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)?;
    }
    // Close-on-exec (std's default): no agent or suite inherits the lock
    // and keeps it past its orch process.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            // Who holds it, for the message of whoever finds it busy; a
            // failure to say so changes nothing about the lock.
            let _ = lock.set_len(0).and_then(|()| {
                lock.rewind()?;
                write!(lock, "process {} job {job}", std::process::id())
            });
            Ok(Locked::Held(RunLock { _lock: lock }))
        }
        Err((mut file, Errno::EWOULDBLOCK)) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            Ok(Locked::Busy {
                path,
                holder: if holder.trim().is_empty() {
                    "another run".to_owned()
                } else {
                    holder.trim().to_owned()
                },
            })
        }
        Err((_, errno)) => Err(io::Error::from(errno)),
    }
}

/// Whether a live run holds the run lock of `task` now (for the start-up
/// sweep, which must leave a living run's folders alone even when its job
/// was rescued from under it). A missing or unreadable lock file is not
/// held.
pub(crate) fn is_held(home: &Path, task: i64) -> bool {
    let Ok(file) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(lock_path(home, task))
    else {
        return false;
    };
    matches!(
        Flock::lock(file, FlockArg::LockSharedNonblock),
        Err((_, Errno::EWOULDBLOCK))
    )
}
