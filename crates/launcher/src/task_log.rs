//! A task's output log, read safely: copied once ([`copy`]) or followed
//! while its job runs ([`follow`]), as `orch task log [--follow]` does.
//!
//! Agents write in the task folder and could plant a link to a secret
//! there, so every file is opened without following a symbolic link
//! anywhere below the task folder ([`open_task_file`]). A stage's log that a
//! cancel or a retry archived is found in the task's `attempts/` folder
//! ([`archived`]). Following re-opens the log when a new run of the job
//! (after a release or a rescue) writes a new file at its path, and ends
//! when the job ends, with what it left.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use orch_store::{JobId, JobState, Store, StoreError};

/// How often [`follow`] looks again.
pub const POLL: Duration = Duration::from_millis(100);

/// Why a task's log could not be read or written out.
#[derive(Debug, thiserror::Error)]
pub enum TaskLogError {
    /// The file is not a regular file below the task folder (a link, a FIFO,
    /// a path that leaves the folder); nothing was read.
    #[error(
        "refusing to read {}: {why}; orch reads only regular files in a task folder (was a link planted there?)",
        path.display()
    )]
    Refused {
        /// The file.
        path: PathBuf,
        /// What it is.
        why: &'static str,
    },
    /// The task folder cannot be opened.
    #[error("cannot open the task folder {}: {error}", path.display())]
    Folder {
        /// The folder.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The file cannot be opened.
    #[error("cannot open {}: {error}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        error: nix::errno::Errno,
    },
    /// The opened file's kind cannot be read.
    #[error("cannot read {}: {error}", path.display())]
    Metadata {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The file went away between being found and being opened.
    #[error("{} went away while it was opened; try again", .0.display())]
    Gone(PathBuf),
    /// Reading the log failed.
    #[error("cannot read the task's output log: {0}")]
    Read(std::io::Error),
    /// Writing what was read failed (the reader's output is closed).
    #[error("cannot write the task's output log out: {0}")]
    Output(std::io::Error),
    /// The store failed while the job was followed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The newest copy of `name` in the task's attempt archive
/// (`task_dir/attempts/N/name`).
#[must_use]
pub fn archived(task_dir: &Path, name: &std::ffi::OsStr) -> Option<PathBuf> {
    let entries = std::fs::read_dir(task_dir.join("attempts")).ok()?;
    entries
        .flatten()
        .filter_map(|e| {
            let n: u64 = e.file_name().to_str()?.parse().ok()?;
            let path = e.path().join(name);
            // Not followed: a link planted there is refused when opened.
            std::fs::symlink_metadata(&path)
                .is_ok()
                .then_some((n, path))
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, path)| path)
}

/// `log` if it exists, else its newest archived copy.
#[must_use]
pub fn current_or_archived(task_dir: &Path, log: &Path) -> Option<PathBuf> {
    if std::fs::symlink_metadata(log).is_ok() {
        Some(log.to_path_buf())
    } else {
        log.file_name().and_then(|name| archived(task_dir, name))
    }
}

/// Opens `path`, a file under `task_dir`, for reading without following a
/// symbolic link anywhere below `task_dir`: every component is opened with
/// `O_NOFOLLOW` relative to the one before, and only a regular file is read.
/// `None` when it does not exist.
///
/// # Errors
///
/// [`TaskLogError::Refused`] when it is a link, not a regular file, or
/// outside the folder; [`TaskLogError::Folder`], [`TaskLogError::Open`] or
/// [`TaskLogError::Metadata`] when it cannot be opened.
pub fn open_task_file(task_dir: &Path, path: &Path) -> Result<Option<File>, TaskLogError> {
    use nix::errno::Errno;
    use nix::fcntl::{OFlag, openat};
    use nix::sys::stat::Mode;
    let refuse = |why: &'static str| TaskLogError::Refused {
        path: path.to_path_buf(),
        why,
    };
    let Ok(below) = path.strip_prefix(task_dir) else {
        return Err(refuse("it is outside the task folder"));
    };
    let mut names = Vec::new();
    for component in below.components() {
        match component {
            std::path::Component::Normal(name) => names.push(name),
            std::path::Component::Prefix(_)
            | std::path::Component::RootDir
            | std::path::Component::CurDir
            | std::path::Component::ParentDir => {
                return Err(refuse("its path leaves the task folder"));
            }
        }
    }
    let mut fd: std::os::fd::OwnedFd = match File::open(task_dir) {
        Ok(dir) => dir.into(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(TaskLogError::Folder {
                path: task_dir.to_path_buf(),
                error,
            });
        }
    };
    for (i, name) in names.iter().enumerate() {
        let last = i + 1 == names.len();
        // O_NONBLOCK: opening a planted FIFO must not hang; it is refused below.
        let kind = if last {
            OFlag::O_NONBLOCK
        } else {
            OFlag::O_DIRECTORY
        };
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | kind;
        fd = match openat(&fd, *name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(Errno::ELOOP) => return Err(refuse("it is a symbolic link")),
            Err(Errno::ENOTDIR) => return Err(refuse("a folder on its path is not a folder")),
            Err(error) => {
                return Err(TaskLogError::Open {
                    path: path.to_path_buf(),
                    error,
                });
            }
        };
    }
    let file = File::from(fd);
    let metadata = file.metadata().map_err(|error| TaskLogError::Metadata {
        path: path.to_path_buf(),
        error,
    })?;
    if !metadata.file_type().is_file() {
        return Err(refuse("it is not a regular file"));
    }
    Ok(Some(file))
}

/// Copies what `file` holds past what was read to `out`, and flushes it.
///
/// # Errors
///
/// [`TaskLogError::Read`] or [`TaskLogError::Output`].
pub fn drain(file: &mut File, out: &mut impl Write) -> Result<(), TaskLogError> {
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(TaskLogError::Read)?;
        if n == 0 {
            return out.flush().map_err(TaskLogError::Output);
        }
        out.write_all(&buf[..n]).map_err(TaskLogError::Output)?;
    }
}

/// Copies the log at `log` (or its newest archived copy) to `out`; `false`
/// when there is neither.
///
/// # Errors
///
/// As [`open_task_file`] and [`drain`]; [`TaskLogError::Gone`] when the
/// file went away while it was opened.
pub fn copy(task_dir: &Path, log: &Path, out: &mut impl Write) -> Result<bool, TaskLogError> {
    let Some(path) = current_or_archived(task_dir, log) else {
        return Ok(false);
    };
    let Some(mut file) = open_task_file(task_dir, &path)? else {
        return Err(TaskLogError::Gone(path));
    };
    drain(&mut file, out)?;
    Ok(true)
}

/// Follows the log at `log` of `job` until the job ends: the open file is
/// read to its end every [`POLL`]; a new run of the job (after a release or
/// a rescue) writes a new file at the path, which is then opened in its
/// turn; a job that ended before its file was opened leaves what it wrote,
/// where it is (a cancel archives it).
///
/// # Errors
///
/// As [`open_task_file`] and [`drain`]; [`TaskLogError::Store`] when the
/// job cannot be read.
pub fn follow(
    store: &Store,
    job: JobId,
    task_dir: &Path,
    log: &Path,
    out: &mut impl Write,
) -> Result<(), TaskLogError> {
    let mut open: Option<(File, u64)> = None;
    loop {
        let state = store.job(job)?.state;
        let ended = matches!(state, JobState::Done | JobState::Failed);
        if state == JobState::Running || ended {
            let now_at_path = std::fs::symlink_metadata(log).ok().map(|m| m.ino());
            let stale = match (&open, now_at_path) {
                (Some((_, ino)), Some(at)) => *ino != at,
                (None, Some(_)) => true,
                (_, None) => false,
            };
            if stale && !ended {
                if let Some((mut file, _)) = open.take() {
                    drain(&mut file, out)?;
                }
                if let (Some(file), Some(ino)) = (open_task_file(task_dir, log)?, now_at_path) {
                    open = Some((file, ino));
                }
            }
        }
        if ended && open.is_none() {
            // It ended before its file was opened here: what it left, where
            // it is (a cancel archives it).
            if let Some(path) = current_or_archived(task_dir, log)
                && let Some(file) = open_task_file(task_dir, &path)?
            {
                open = Some((file, 0));
            }
        }
        if let Some((file, _)) = open.as_mut() {
            drain(file, out)?;
        }
        if ended {
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}

/// The files a stage's run leaves, in the order [`stage_output`] reads them:
/// its output log, then its artifact (a reserved agent that prints nothing,
/// such as the deploy finalizer, leaves only the artifact). `None` for a
/// stage that runs no role.
#[must_use]
pub fn stage_files(task_dir: &Path, stage: orch_pipeline::Stage) -> Option<(PathBuf, PathBuf)> {
    let spec = stage.artifact()?;
    let artifact = crate::workspace::artifact_path(task_dir, spec);
    let [log, _] = crate::workspace::sidecars(&artifact);
    Some((log, artifact))
}

/// Copies a finished stage's output to `out`: its output log (or its newest
/// archived copy), else its artifact. `false` when there is neither.
///
/// # Errors
///
/// As [`copy`].
pub fn stage_output(
    task_dir: &Path,
    log: &Path,
    artifact: &Path,
    out: &mut impl Write,
) -> Result<bool, TaskLogError> {
    if copy(task_dir, log, out)? {
        return Ok(true);
    }
    copy(task_dir, artifact, out)
}

/// Follows a task from stage to stage until it is done or blocked, as
/// `orch task log --follow` does: from its latest job on, each job's output
/// under a header line (`==> STAGE · ROLE · job ID <==`), followed while it
/// runs ([`follow`]); a stage whose role printed nothing shows its artifact;
/// a shadow runner's verdict and output beside the LLM role follow under
/// their own header. Returns when the task is no longer active and every
/// job of it was shown.
///
/// # Errors
///
/// As [`follow`].
pub fn follow_task(
    store: &Store,
    task: orch_store::TaskId,
    task_dir: &Path,
    out: &mut impl Write,
) -> Result<(), TaskLogError> {
    let header = |out: &mut dyn Write, text: String| -> Result<(), TaskLogError> {
        writeln!(out, "==> {text} <==")
            .and_then(|()| out.flush())
            .map_err(TaskLogError::Output)
    };
    // From the latest job on (the one running, or the last that ran).
    let mut from = store.task_jobs(task)?.last().map_or(0, |job| job.id.get());
    loop {
        let jobs = store.task_jobs(task)?;
        if let Some(job) = jobs.iter().find(|job| job.id.get() >= from) {
            // A queued job is waited for by `follow` (it ends failed if
            // the task is cancelled meanwhile).
            from = job.id.get() + 1;
            let Some((log, artifact)) = stage_files(task_dir, job.stage) else {
                continue;
            };
            header(
                out,
                format!("{} · {} · job {}", job.stage, job.role, job.id),
            )?;
            follow(store, job.id, task_dir, &log, out)?;
            if current_or_archived(task_dir, &log).is_none() {
                copy(task_dir, &artifact, out)?;
            }
            let shadow = crate::workspace::shadow_path(&artifact);
            if std::fs::symlink_metadata(&shadow).is_ok() {
                header(
                    out,
                    format!("{} · shadow runner · job {}", job.stage, job.id),
                )?;
                let [shadow_log, _] = crate::workspace::sidecars(&shadow);
                copy(task_dir, &shadow_log, out)?;
                copy(task_dir, &shadow, out)?;
            }
            continue;
        }
        let status = store.task(task)?.status;
        if status != orch_store::TaskStatus::Active {
            header(out, format!("task {task} is {status}"))?;
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}
