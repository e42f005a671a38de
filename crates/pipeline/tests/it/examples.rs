//! The package's examples run, so that they cannot rot: each exits 0 (it
//! checks its own result) and prints something.

#![expect(
    clippy::disallowed_methods,
    reason = "the test runs the example program cargo built"
)]

#[test]
fn the_example_runs_offline_and_succeeds() {
    let name = "walk_a_task";
    let program = orch_tests::example_program(name).unwrap();
    let output = std::process::Command::new(&program).output().unwrap();
    assert!(
        output.status.success() && !output.stdout.is_empty(),
        "{name}: {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
