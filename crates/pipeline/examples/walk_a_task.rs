//! Walks one task through the pipeline with nothing but the contracts: each
//! stage's artifact gets its verdict line, the stage's gates read it, and the
//! transition table says where the task goes. The first review asks for
//! changes, so the task rolls back to development once and spends a
//! developer retry. No file, no process, no clock: the crate is pure.
//!
//! `cargo run -p orch-pipeline --example walk_a_task`

use orch_pipeline::{Stage, gates_for, next_stage, render_verdict_line};

/// Developer retries a task may spend on rollbacks (orch's default).
const BUDGET: u32 = 3;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut stage = Stage::Analysis;
    let mut retries = 0;
    let mut reviews = 0;
    while !stage.is_terminal() {
        let spec = stage
            .artifact()
            .ok_or_else(|| format!("stage {stage} has no artifact"))?;
        // The first review is not the passing value: the reviewer asks for
        // changes.
        let value = if stage == Stage::Review && reviews == 0 {
            reviews += 1;
            spec.values
                .iter()
                .find(|v| **v != spec.pass_value)
                .copied()
                .unwrap_or(spec.pass_value)
        } else {
            spec.pass_value
        };
        let artifact = format!(
            "# {stage}\n\n{}",
            render_verdict_line(spec.verdict_key, value)
        );
        let mut verdict = orch_pipeline::Verdict::Pass;
        for gate in gates_for(stage) {
            let result = gate.evaluate(Some(artifact.as_bytes()));
            if !result.passed {
                verdict = result.verdict_class();
            }
        }
        let role = stage.role().map_or("-", |r| r.as_str());
        let decision = next_stage(stage, verdict, retries, BUDGET)?;
        println!(
            "{:<15} {role:<20} {:<34} {:?} -> {}",
            stage.as_str(),
            format!("{}: {value}", spec.verdict_key),
            decision.kind,
            decision.to
        );
        retries = decision.developer_retries;
        stage = decision.to;
    }
    println!("the task is {stage}, {retries} developer retry spent");
    if stage != Stage::Done || retries != 1 {
        return Err(format!("expected done with 1 retry, got {stage} with {retries}").into());
    }
    Ok(())
}
