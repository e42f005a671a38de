//! The kernel sandbox against hostile programs, with real processes and the
//! real kernel (Landlock, network namespaces): a program in the sandbox, and
//! everything it starts, writes only where its policy says, cannot read or
//! list what is hidden, cannot reach the network when it is off, and cannot
//! signal processes outside the sandbox — while the process that started it
//! stays unconfined. Every test first checks that the kernel has what it
//! tests (this machine and CI's have Landlock ABI 7), and fails, never skips,
//! when it does not: a sandbox test that cannot run is not a pass.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a panic is the failure report"
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use orch_process::exec::{
    self, Ending, Enforcement, EnvPolicy, ExecOutcome, ExecSpec, Finished, Network, NetworkLevel,
    Program, SandboxLevel, SandboxMode, SandboxPolicy, SupervisorProgram, ToolErrorKind,
};
use orch_process::sandbox;
use orch_self_deploy::ProcessExit;
use orch_tests::ProcessMarker;

fn supervisor() -> SupervisorProgram {
    SupervisorProgram::Path(PathBuf::from(env!("CARGO_BIN_EXE_orch-supervisor")))
}

/// A room: a worktree the program may write, a checkout it may only read,
/// and a home it may not even see, with a task folder inside it that it may
/// read.
struct Room {
    _top: tempfile::TempDir,
    worktree: PathBuf,
    checkout: PathBuf,
    home: PathBuf,
    task: PathBuf,
}

impl Room {
    fn new() -> Room {
        assert!(
            sandbox::landlock_abi() >= sandbox::REQUIRED_ABI,
            "this kernel has Landlock ABI {}; these tests need {} (they fail rather than skip)",
            sandbox::landlock_abi(),
            sandbox::REQUIRED_ABI
        );
        let top = tempfile::tempdir().unwrap();
        let root = top.path().canonicalize().unwrap();
        let worktree = root.join("home/worktrees/1");
        let checkout = root.join("checkout");
        let home = root.join("home");
        let task = root.join("home/tasks/1");
        for dir in [
            &worktree,
            &checkout,
            &task,
            &home.join("tasks/2"),
            &home.join("worktrees/2"),
        ] {
            fs::create_dir_all(dir).unwrap();
        }
        fs::write(checkout.join("README"), "the user's").unwrap();
        fs::write(home.join("orch.db"), "secret database").unwrap();
        fs::write(
            home.join("tasks/2/10-test-report.md"),
            "test_status: PASSED\n",
        )
        .unwrap();
        fs::write(task.join("01-analysis.md"), "analysis\n").unwrap();
        Room {
            _top: top,
            worktree,
            checkout,
            home,
            task,
        }
    }

    fn policy(&self, mode: SandboxMode) -> SandboxPolicy {
        SandboxPolicy::new(mode)
            .writable(&self.worktree)
            .hidden(&self.home)
            .readable(&self.task)
    }

    fn run(&self, marker: &ProcessMarker, script: &str, policy: SandboxPolicy) -> ExecOutcome {
        let mut env = EnvPolicy::scrubbed();
        env.set
            .push((marker.env_key().into(), marker.token().into()));
        let spec = ExecSpec::new(
            Program::Shell(format!("{script}\n# {}", marker.token())),
            &self.worktree,
        )
        .supervisor(supervisor())
        .env(env)
        .timeout(Some(Duration::from_secs(30)))
        .grace(Duration::from_millis(300))
        .sandbox(policy);
        exec::run(&spec)
    }
}

fn finished(outcome: ExecOutcome) -> Finished {
    match outcome {
        ExecOutcome::Finished(finished) => finished,
        ExecOutcome::Failed(error) => panic!("expected a finished run, got {error:?}"),
    }
}

fn printed(finished: &Finished) -> String {
    let mut bytes = finished.output.head.clone();
    bytes.extend_from_slice(&finished.output.tail);
    String::from_utf8_lossy(&bytes).into_owned()
}

fn code(finished: &Finished) -> i32 {
    if let Ending::Exited(ProcessExit::Code(code)) = finished.ending {
        code
    } else {
        panic!("expected an exit code, got {:?}", finished.ending)
    }
}

#[test]
fn a_sandboxed_program_writes_its_worktree_and_nothing_else() {
    let room = Room::new();
    let marker = ProcessMarker::new("sandbox-writes");
    let checkout = room.checkout.display();
    let home = room.home.display();
    let run = finished(room.run(
        &marker,
        &format!(
            "echo made > made.txt && mkdir -p src && echo x > src/lib.rs && echo ok-worktree
             echo forged > {checkout}/README 2>/dev/null && echo WROTE-CHECKOUT
             echo planted > {checkout}/new-file 2>/dev/null && echo WROTE-NEW-FILE
             rm -f {checkout}/README 2>/dev/null && echo REMOVED-CHECKOUT
             echo x > {home}/orch.db 2>/dev/null && echo WROTE-DB
             echo x > {home}/tasks/2/10-test-report.md 2>/dev/null && echo WROTE-OTHER-TASK
             echo x > {home}/worktrees/2/src.rs 2>/dev/null && echo WROTE-OTHER-WORKTREE
             echo x > $HOME/orch-sandbox-escape-{token} 2>/dev/null && echo WROTE-HOME
             echo x > /dev/null && echo ok-dev-null
             exit 0",
            token = marker.token()
        ),
        room.policy(SandboxMode::Required),
    ));
    let out = printed(&run);
    assert_eq!(code(&run), 0, "{out}");
    assert!(
        out.contains("ok-worktree") && out.contains("ok-dev-null"),
        "{out}"
    );
    for forbidden in [
        "WROTE-CHECKOUT",
        "WROTE-NEW-FILE",
        "REMOVED-CHECKOUT",
        "WROTE-DB",
        "WROTE-OTHER-TASK",
        "WROTE-OTHER-WORKTREE",
        "WROTE-HOME",
    ] {
        assert!(!out.contains(forbidden), "{forbidden}: {out}");
    }
    assert_eq!(
        fs::read_to_string(room.checkout.join("README")).unwrap(),
        "the user's"
    );
    assert!(!room.checkout.join("new-file").exists());
    assert_eq!(
        fs::read_to_string(room.home.join("orch.db")).unwrap(),
        "secret database"
    );
    assert_eq!(
        fs::read_to_string(room.worktree.join("made.txt")).unwrap(),
        "made\n"
    );
    let escape = PathBuf::from(std::env::var_os("HOME").unwrap())
        .join(format!("orch-sandbox-escape-{}", marker.token()));
    assert!(!escape.exists());
    assert_eq!(run.sandbox.filesystem, Enforcement::Full);
    assert_eq!(run.sandbox.mode, SandboxMode::Required);
    assert!(run.sandbox.scoped);
    // The process that started the run is not confined.
    fs::write(room.checkout.join("after"), "orch may still write").unwrap();
    marker.assert_no_survivors();
}

#[test]
fn what_is_hidden_cannot_be_read_or_listed_but_the_task_folder_can() {
    let room = Room::new();
    let marker = ProcessMarker::new("sandbox-reads");
    let home = room.home.display();
    let run = finished(room.run(
        &marker,
        &format!(
            "cat {home}/orch.db 2>/dev/null && echo READ-DB
             cat {home}/tasks/2/10-test-report.md 2>/dev/null && echo READ-OTHER-TASK
             ls {home}/tasks 2>/dev/null && echo LISTED-TASKS
             cat {task}/01-analysis.md && echo ok-own-task
             cat {checkout}/README && echo ok-checkout
             cat /etc/hostname >/dev/null 2>&1; ls /usr/bin >/dev/null && echo ok-system
             exit 0",
            task = room.task.display(),
            checkout = room.checkout.display(),
        ),
        room.policy(SandboxMode::Required),
    ));
    let out = printed(&run);
    for forbidden in [
        "secret database",
        "READ-DB",
        "READ-OTHER-TASK",
        "LISTED-TASKS",
    ] {
        assert!(!out.contains(forbidden), "{forbidden}: {out}");
    }
    for allowed in ["ok-own-task", "ok-checkout", "ok-system", "the user's"] {
        assert!(out.contains(allowed), "{allowed}: {out}");
    }
    marker.assert_no_survivors();
}

#[test]
fn descendants_stay_in_the_sandbox_even_when_they_leave_the_group() {
    let room = Room::new();
    let marker = ProcessMarker::new("sandbox-descendants");
    let checkout = room.checkout.display();
    let run = finished(room.run(
        &marker,
        &format!(
            "setsid sh -c 'echo x > {checkout}/escaped 2>/dev/null && echo ESCAPED; echo child-done' 
             (sh -c 'echo x > {checkout}/forked 2>/dev/null && echo FORKED' &) ; sleep 0.3
             exit 0"
        ),
        room.policy(SandboxMode::Required),
    ));
    let out = printed(&run);
    assert!(out.contains("child-done"), "{out}");
    assert!(!out.contains("ESCAPED") && !out.contains("FORKED"), "{out}");
    assert!(!room.checkout.join("escaped").exists());
    assert!(!room.checkout.join("forked").exists());
    marker.assert_no_survivors();
}

#[test]
fn a_sandboxed_program_cannot_signal_processes_outside_it() {
    let room = Room::new();
    let outside = ProcessMarker::new("sandbox-signal-victim");
    // A process outside the sandbox, started unconfined by the same runner.
    let mut env = EnvPolicy::scrubbed();
    env.set
        .push((outside.env_key().into(), outside.token().into()));
    let victim_spec = ExecSpec::new(
        Program::Shell(format!(
            "echo $$ > {}/victim.pid; sleep 20 # {}",
            room.checkout.display(),
            outside.token()
        )),
        &room.checkout,
    )
    .supervisor(supervisor())
    .env(env)
    .timeout(Some(Duration::from_secs(30)))
    .grace(Duration::from_millis(300));
    let victim = exec::start(&victim_spec);
    let pid_file = room.checkout.join("victim.pid");
    let mut pid = String::new();
    for _ in 0..200 {
        if let Ok(text) = fs::read_to_string(&pid_file)
            && text.ends_with('\n')
        {
            pid = text.trim().to_owned();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!pid.is_empty(), "the victim never started");

    let marker = ProcessMarker::new("sandbox-signal");
    let me = std::process::id();
    let run = finished(room.run(
        &marker,
        &format!(
            "kill -0 {me} 2>/dev/null && echo CAN-SIGNAL-RUNNER
             kill -KILL {pid} 2>/dev/null && echo KILLED-VICTIM
             sleep 0.2 & kill $! && echo ok-own-child
             exit 0"
        ),
        room.policy(SandboxMode::Required),
    ));
    let out = printed(&run);
    assert!(out.contains("ok-own-child"), "{out}");
    assert!(
        !out.contains("CAN-SIGNAL-RUNNER") && !out.contains("KILLED-VICTIM"),
        "{out}"
    );
    // The victim is alive: cancel it and see it ended by us, not by the run.
    let cancel = victim.canceller();
    cancel.cancel();
    let ended = finished(victim.wait());
    assert!(
        matches!(ended.ending, Ending::Cancelled(_)),
        "the victim was killed by the sandboxed run: {:?}",
        ended.ending
    );
    marker.assert_no_survivors();
    outside.assert_no_survivors();
}

/// A TCP listener on the host's loopback, outside any sandbox.
fn listener() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// A perl one-liner that connects to 127.0.0.1:PORT and says whether it could.
fn connect(port: u16) -> String {
    format!(
        "perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(PeerAddr => \"127.0.0.1:{port}\", Timeout => 2) ? \"CONNECTED\\n\" : \"refused\\n\"'"
    )
}

#[test]
fn with_the_network_off_nothing_outside_is_reached_but_loopback_works_inside() {
    let room = Room::new();
    let (_host, port) = listener();
    let marker = ProcessMarker::new("sandbox-net-off");
    let run = finished(room.run(
        &marker,
        &format!(
            "{}
             perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(Listen => 1, LocalAddr => \"127.0.0.1:0\") or die \"no loopback: $!\"; $c = IO::Socket::INET->new(PeerAddr => \"127.0.0.1:\" . $s->sockport) or die \"no connect: $!\"; print \"ok-loopback\\n\"'",
            connect(port)
        ),
        room.policy(SandboxMode::Required).network(Network::Off),
    ));
    let out = printed(&run);
    assert!(!out.contains("CONNECTED"), "{out}");
    assert!(out.contains("ok-loopback"), "{out}");
    assert_eq!(run.sandbox.network, NetworkLevel::Namespace);
    marker.assert_no_survivors();

    let marker = ProcessMarker::new("sandbox-net-on");
    let run = finished(room.run(
        &marker,
        &connect(port),
        room.policy(SandboxMode::Required).network(Network::On),
    ));
    assert!(printed(&run).contains("CONNECTED"), "{}", printed(&run));
    assert_eq!(run.sandbox.network, NetworkLevel::Host);
    marker.assert_no_survivors();
}

#[test]
fn best_effort_and_off_record_what_they_enforced() {
    let room = Room::new();
    let marker = ProcessMarker::new("sandbox-levels");
    let run = finished(room.run(&marker, "exit 0", room.policy(SandboxMode::BestEffort)));
    assert_eq!(run.sandbox.mode, SandboxMode::BestEffort);
    assert_eq!(run.sandbox.filesystem, Enforcement::Full);
    assert_eq!(run.sandbox.landlock_abi, sandbox::landlock_abi());
    let run = finished(room.run(&marker, "exit 0", SandboxPolicy::off()));
    assert_eq!(run.sandbox, SandboxLevel::unconfined());
    // Without a sandbox the same hostile write goes through: the tests above
    // fail for the sandbox's reason, not the file system's.
    let run = finished(room.run(
        &marker,
        &format!("echo forged > {}/README", room.checkout.display()),
        SandboxPolicy::off(),
    ));
    assert_eq!(code(&run), 0);
    assert_eq!(
        fs::read_to_string(room.checkout.join("README")).unwrap(),
        "forged\n"
    );
    marker.assert_no_survivors();
}

#[test]
fn a_policy_that_cannot_be_applied_is_a_tool_error_and_nothing_runs() {
    let room = Room::new();
    let marker = ProcessMarker::new("sandbox-refused");
    let proof = room.worktree.join("ran");
    let outcome = room.run(
        &marker,
        &format!("touch {}", proof.display()),
        SandboxPolicy::new(SandboxMode::Required).writable("relative/path"),
    );
    let ExecOutcome::Failed(error) = outcome else {
        panic!("a bad policy must not run: {outcome:?}");
    };
    assert_eq!(error.kind, ToolErrorKind::SandboxUnavailable);
    assert!(error.message.contains("not absolute"), "{}", error.message);
    assert!(!Path::new(&proof).exists());
}
