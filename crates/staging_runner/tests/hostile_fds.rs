//! A descriptor the embedding program left inheritable (no `FD_CLOEXEC`)
//! must not reach the suite: the runner hands the suite exactly stdin,
//! stdout and stderr.
//!
//! Alone in its own test binary: an inheritable descriptor leaks into every
//! child that any thread of the test process starts, so it would disturb the
//! other tests (and they it).

mod common;

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::time::Duration;

use common::Marker;
use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use orch_staging_runner::{Outcome, run};

#[test]
fn inherited_descriptors_do_not_reach_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("inherited.txt");
    let file = File::create(&victim).unwrap();
    fcntl(&file, FcntlArg::F_SETFD(FdFlag::empty())).unwrap();
    let n = file.as_raw_fd();
    assert!(n > 2);

    let marker = Marker::new("inherited-fd");
    // `ls` lists the shell's descriptors from a process of its own, so the
    // listing holds no descriptor opened for the listing itself.
    let command = format!(
        "echo BEGIN; ls /proc/$$/fd; echo END; ls -l /proc/$$/fd; echo pwned >&{n}; echo pwned >>/proc/$$/fd/{n}; true"
    );
    let spec = marker
        .spec(&command, dir.path())
        .timeout(Some(Duration::from_secs(10)))
        .grace(Duration::from_millis(300));
    let outcome = run(&spec);
    let Outcome::Executed(executed) = &outcome else {
        drop(file);
        marker.assert_no_survivors();
        unreachable!("expected an executed suite, got {outcome:?}");
    };
    let text = String::from_utf8_lossy(&executed.output.head).into_owned();
    let fds: Vec<&str> = text
        .lines()
        .skip_while(|line| *line != "BEGIN")
        .skip(1)
        .take_while(|line| *line != "END")
        .collect();
    let written = fs::read_to_string(&victim).unwrap();
    drop(file);
    marker.assert_no_survivors();
    assert_eq!(
        fds,
        ["0", "1", "2"],
        "the suite holds more than stdin, stdout and stderr (fd {n} is the test's inheritable file):\n{text}"
    );
    assert_eq!(
        written, "",
        "the suite wrote through an inherited descriptor"
    );
}
