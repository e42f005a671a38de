//! The staging runner on its own: run a repository's staging suite (here a
//! two-line shell script) in a checkout, write the staging log with its
//! verdict line, and read the verdict back with the pipeline's gate, as orch
//! does for stage `deploy-staging`.
//!
//! `cargo run -p orch-staging-runner --example run_a_suite`

use std::time::Duration;

use orch_staging_runner::{RunSpec, run_to_log};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    orch_staging_runner::supervisor::main_if_requested();
    let dir = std::env::temp_dir().join(format!("orch-staging-example-{}", std::process::id()));
    let checkout = dir.join("checkout");
    std::fs::create_dir_all(&checkout)?;
    std::fs::write(
        checkout.join("staging.sh"),
        "echo 'suite: 3 checks'\necho ok\n",
    )?;
    let spec = RunSpec::new("sh staging.sh", &checkout).timeout(Some(Duration::from_secs(60)));
    let log = dir.join("15-staging-log.md");
    let staging = run_to_log(&spec, &log);
    println!("summary: {}", serde_json::to_string(&staging.summary())?);
    let text = std::fs::read(&log)?;
    let gate = orch_pipeline::check_staging_status(&text);
    println!(
        "gate: passed {} with verdict {:?}",
        gate.passed, gate.verdict
    );
    std::fs::remove_dir_all(&dir)?;
    if !gate.passed {
        return Err("a suite that exits 0 passes staging".into());
    }
    Ok(())
}
