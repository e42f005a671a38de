//! The real `orch` binary against hostile input: durations too large for the
//! clock, configuration values that are not UTF-8, one folder registered
//! under two names, and a symbolic link planted in a task folder.

#![expect(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]
#![expect(
    clippy::disallowed_methods,
    reason = "end-to-end tests start the real orch binary"
)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ORCH: &str = env!("CARGO_BIN_EXE_orch");

/// A temporary `$HOME` with an orch home inside.
struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        World {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn home(&self) -> PathBuf {
        self.path().join("home")
    }

    fn orch(&self, args: &[&str]) -> Command {
        let mut command = Command::new(ORCH);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path())
            .env("ORCH_HOME", self.home())
            .env("ORCH_AGENT", "custom")
            .env("ORCH_AGENT_CMD", "true");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.orch(args).output().unwrap()
    }

    /// A plain folder (no git) to register.
    fn folder(&self, name: &str) -> PathBuf {
        let dir = self.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn repo_add(&self, name: &str, path: &Path) -> Output {
        self.run(&[
            "repo",
            "add",
            name,
            "--path",
            path.to_str().unwrap(),
            "--staging-cmd",
            "true",
        ])
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}, stdout {:?}, stderr {:?}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        stderr(output)
    )
}

#[test]
fn a_huge_cancel_wait_is_a_usage_error_not_a_panic() {
    let world = World::new();
    let output = world.run(&["task", "cancel", "1", "--wait", "18446744073709551615"]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let text = stderr(&output);
    assert!(text.contains("--wait"), "{text}");
    assert!(text.contains("0..=86400"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn every_seconds_key_past_its_range_stops_with_exit_2_naming_it() {
    let world = World::new();
    for key in [
        "ORCH_AGENT_TIMEOUT_SECS",
        "ORCH_STAGING_RUNNER_TIMEOUT_SECS",
        "ORCH_STAGING_RUNNER_GRACE_SECS",
        "ORCH_STAGING_RUNNER_DEFER_SECS",
        "ORCH_TEST_RUNNER_TIMEOUT_SECS",
        "ORCH_TEST_RUNNER_GRACE_SECS",
        "ORCH_TEST_RUNNER_DEFER_SECS",
        "ORCH_LEASE_SECS",
        "ORCH_POST_DEPLOY_WINDOW_SECS",
        "ORCH_AGENT_DEFER_SECS",
        "ORCH_AGENT_LINGER_SECS",
        "ORCH_AGENT_FIRST_OUTPUT_SECS",
        "ORCH_AGENT_STALL_SECS",
        "ORCH_SETUP_TIMEOUT_SECS",
    ] {
        for huge in ["18446744073709551615", "604801"] {
            // Every command reads the configuration first.
            let output = world
                .orch(&["repo", "list"])
                .env(key, huge)
                .output()
                .unwrap();
            assert_eq!(
                output.status.code(),
                Some(2),
                "{key}: {}",
                describe(&output)
            );
            let text = stderr(&output);
            assert!(text.contains(key), "{text}");
            assert!(text.contains("out of range (from "), "{text}");
            assert!(text.contains("to 604800"), "{text}");
            assert!(!text.contains("panicked"), "{text}");
        }
    }
}

#[test]
fn serve_does_not_start_with_a_post_deploy_window_the_clock_cannot_hold() {
    // It used to start, and the first post-deploy job killed a worker
    // thread silently while /healthz said ok.
    let world = World::new();
    let mut child = world
        .orch(&["serve"])
        .env("ORCH_HTTP_ADDR", "127.0.0.1:0")
        .env("ORCH_POST_DEPLOY_WINDOW_SECS", "18446744073709551615")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A hang check, not a benchmark: a serve that started would run on.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve started with ORCH_POST_DEPLOY_WINDOW_SECS=18446744073709551615");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut text = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut text).unwrap();
    assert_eq!(status.code(), Some(2), "{text}");
    assert!(text.contains("ORCH_POST_DEPLOY_WINDOW_SECS"), "{text}");
}

#[test]
fn a_non_utf8_orch_value_is_exit_2_naming_the_key() {
    let world = World::new();
    let output = world
        .orch(&["repo", "list"])
        .env("ORCH_HOME", OsStr::from_bytes(b"/tmp/orch-\xff"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let text = stderr(&output);
    assert!(text.contains("ORCH_HOME"), "{text}");
    assert!(text.contains("not UTF-8"), "{text}");
    // Nothing went to the default home instead.
    assert!(!world.path().join(".local/share/orch").exists());
    let output = world
        .orch(&["repo", "list"])
        .env("ORCH_GIT", OsStr::from_bytes(b"git\xfe"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        stderr(&output).contains("ORCH_GIT"),
        "{}",
        describe(&output)
    );
}

#[test]
fn a_folder_is_registered_once_whatever_the_path_says() {
    let world = World::new();
    let folder = world.folder("app");
    let added = world.repo_add("app", &folder);
    assert!(added.status.success(), "{}", describe(&added));
    // The same folder under another name: directly, through `..`, and
    // through a symbolic link.
    let link = world.path().join("link-to-app");
    std::os::unix::fs::symlink(&folder, &link).unwrap();
    let dotted = folder.join("..").join("app");
    for path in [folder.clone(), dotted, link] {
        let output = world.repo_add("again", &path);
        assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
        let text = stderr(&output);
        assert!(text.contains("registered already"), "{text}");
        assert!(text.contains("\"app\""), "{text}");
    }
    // And `repo update` cannot move another repository onto it.
    let other = world.folder("other");
    let added = world.repo_add("other", &other);
    assert!(added.status.success(), "{}", describe(&added));
    let output = world.run(&[
        "repo",
        "update",
        "other",
        "--path",
        folder.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(stderr(&output).contains("\"app\""), "{}", describe(&output));
    // Only one repository has the folder.
    let list = world.run(&["repo", "list"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert_eq!(text.matches("\"again\"").count(), 0, "{text}");
}

#[test]
fn task_log_refuses_a_link_planted_in_the_task_folder() {
    let world = World::new();
    let folder = world.folder("app");
    let added = world.repo_add("app", &folder);
    assert!(added.status.success(), "{}", describe(&added));
    let task = world.run(&["task", "add", "--repo", "app", "--title", "t"]);
    assert!(task.status.success(), "{}", describe(&task));
    // Where the log would be, as `task log` says before any run.
    let before = world.run(&["task", "log", "1"]);
    assert!(before.status.success(), "{}", describe(&before));
    let text = stderr(&before);
    let log = text
        .split_once("no output of stage ")
        .and_then(|(_, rest)| rest.split_once(" yet ("))
        .and_then(|(_, rest)| rest.split_once(" does not exist)"))
        .map(|(path, _)| PathBuf::from(path))
        .unwrap_or_else(|| panic!("no log path in {text:?}"));
    // An agent writes in the task folder: it plants a link to a secret.
    let secret = world.path().join("secret.txt");
    std::fs::write(&secret, "TOP-SECRET-TOKEN\n").unwrap();
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&secret, &log).unwrap();
    let output = world.run(&["task", "log", "1"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("TOP-SECRET"),
        "{}",
        describe(&output)
    );
    assert!(
        stderr(&output).contains("symbolic link"),
        "{}",
        describe(&output)
    );
    // A FIFO is refused too, without hanging.
    std::fs::remove_file(&log).unwrap();
    nix::unistd::mkfifo(&log, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let output = world.run(&["task", "log", "1"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        stderr(&output).contains("not a regular file"),
        "{}",
        describe(&output)
    );
}
