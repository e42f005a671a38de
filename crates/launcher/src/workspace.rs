//! A task's folder: where its artifacts are written, and the attempt archive
//! that keeps a gate from ever reading an earlier round's artifact.
//!
//! ```text
//! <home>/tasks/<task id>/
//!     01-analysis.md                 the stage's artifact (the gate reads it)
//!     01-analysis.output.log         what its role printed (capped)
//!     01-analysis.prompt.md          the prompt an LLM role was given
//!     10-test-report.shadow.md       a shadow runner's verdict (no gate reads it)
//!     attempts/1/01-analysis.md      an earlier round's artifact and sidecars
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use orch_pipeline::ArtifactSpec;

/// The sidecar files that belong to an artifact: `NAME.output.log` (what the
/// role printed) and `NAME.prompt.md` (what an LLM role was asked).
#[must_use]
pub fn sidecars(artifact: &Path) -> [PathBuf; 2] {
    let stem = artifact
        .file_stem()
        .map_or_else(|| "artifact".into(), |s| s.to_string_lossy().into_owned());
    [
        artifact.with_file_name(format!("{stem}.output.log")),
        artifact.with_file_name(format!("{stem}.prompt.md")),
    ]
}

/// Where a suite runner in shadow mode writes its verdict beside the stage's
/// artifact, for no gate to read: `10-test-report.md` →
/// `10-test-report.shadow.md` (its raw output goes to
/// `10-test-report.shadow.output.log`).
#[must_use]
pub fn shadow_path(artifact: &Path) -> PathBuf {
    let stem = artifact
        .file_stem()
        .map_or_else(|| "artifact".into(), |s| s.to_string_lossy().into_owned());
    artifact.with_file_name(format!("{stem}.shadow.md"))
}

/// The artifact path of `spec` in `task_dir`.
#[must_use]
pub fn artifact_path(task_dir: &Path, spec: &ArtifactSpec) -> PathBuf {
    task_dir.join(spec.file_name)
}

/// Moves the artifact at `artifact` and its sidecars, if any is there, into
/// the next free `attempts/<n>/` folder of `task_dir`; returns that folder,
/// or `None` when there was nothing to move. Creates `task_dir` when missing.
///
/// # Errors
///
/// The I/O error of creating a folder or renaming a file; the caller must not
/// run the role then (a gate could read the stale artifact).
pub fn archive_previous(task_dir: &Path, artifact: &Path) -> io::Result<Option<PathBuf>> {
    fs::create_dir_all(task_dir)?;
    let mut present = Vec::new();
    let shadow = shadow_path(artifact);
    let shadow_output = orch_staging_runner::sidecar_path_for(&shadow);
    for path in std::iter::once(artifact.to_path_buf())
        .chain(sidecars(artifact))
        .chain([shadow, shadow_output])
    {
        // symlink_metadata: a planted link is moved away too, never followed.
        if fs::symlink_metadata(&path).is_ok() {
            present.push(path);
        }
    }
    if present.is_empty() {
        return Ok(None);
    }
    let attempts = task_dir.join("attempts");
    fs::create_dir_all(&attempts)?;
    let mut n = 1u32;
    let folder = loop {
        let candidate = attempts.join(n.to_string());
        match fs::create_dir(&candidate) {
            Ok(()) => break candidate,
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => n += 1,
            Err(error) => return Err(error),
        }
    };
    for path in present {
        if let Some(name) = path.file_name() {
            fs::rename(&path, folder.join(name))?;
        }
    }
    Ok(Some(folder))
}

/// The artifacts of the stages before `stage` that exist in `task_dir`, in
/// stage order: what a role may read of the earlier rounds' work.
#[must_use]
pub fn earlier_artifacts(task_dir: &Path, stage: orch_pipeline::Stage) -> Vec<PathBuf> {
    orch_pipeline::ARTIFACTS
        .iter()
        .take_while(|spec| spec.stage != stage)
        .map(|spec| artifact_path(task_dir, spec))
        .filter(|path| path.is_file())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_artifact_and_its_sidecars_move_to_the_next_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let task = dir.path().join("tasks/7");
        let artifact = task.join("15-staging-log.md");
        assert_eq!(archive_previous(&task, &artifact).unwrap(), None);
        fs::write(&artifact, "staging_status: PASSED\n").unwrap();
        fs::write(task.join("15-staging-log.output.log"), "out").unwrap();
        let first = archive_previous(&task, &artifact).unwrap().unwrap();
        assert_eq!(first, task.join("attempts/1"));
        assert!(!artifact.exists());
        assert!(first.join("15-staging-log.md").is_file());
        assert!(first.join("15-staging-log.output.log").is_file());
        fs::write(&artifact, "again").unwrap();
        let second = archive_previous(&task, &artifact).unwrap().unwrap();
        assert_eq!(second, task.join("attempts/2"));
        assert_eq!(
            fs::read_to_string(second.join("15-staging-log.md")).unwrap(),
            "again"
        );
    }
}
