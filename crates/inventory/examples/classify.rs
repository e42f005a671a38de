//! The LLM call-site inventory on its own: parse an inventory block (the
//! TOML a repository's `docs/architecture/llm-call-sites.md` carries), say
//! how each call site is classified, and rank the roadmap of what to make
//! deterministic first (here with no recorded runs).
//!
//! `cargo run -p orch-inventory --example classify`

use orch_inventory::{Inventory, roadmap};

const DOC: &str = r#"
<!-- inventory:begin -->
```toml
[transport]
id = "S0"
name = "launcher::spawn"
setting = "AgentConfig::command"
locations = ["crates/launcher/src/spawn.rs::spawn"]

[[call_site]]
id = "C1"
role = "analyst"
stage = "analysis"
artifact = "01-analysis.md"
verdict_key = "analysis_status"
gate = "check_analysis_status"
prompt = "crates/launcher/prompts/analyst.md"
locations = ["crates/launcher/src/spawn.rs::spawn"]
control_path = true
deterministic_oracle = false

[[call_site]]
id = "C5"
role = "tester"
stage = "testing"
artifact = "10-test-report.md"
verdict_key = "test_status"
gate = "check_test_status"
prompt = "crates/launcher/prompts/tester.md"
locations = ["crates/launcher/src/spawn.rs::spawn"]
control_path = true
deterministic_oracle = true
oracle = "the test suite's exit code"
```
<!-- inventory:end -->
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let inventory = Inventory::parse(DOC)?;
    for site in &inventory.call_sites {
        println!(
            "{} {:<8} at {:<9} -> {:?}",
            site.id,
            site.role,
            site.stage,
            site.classification()
        );
    }
    let plan = roadmap(&inventory, &[]);
    println!("roadmap: {}", plan.summary);
    for (rank, candidate) in plan.candidates.iter().enumerate() {
        println!("  {}. {}", rank + 1, candidate.role);
    }
    if plan.candidates.first().map(|c| c.role.as_str()) != Some("tester") {
        return Err("the tester, whose verdict has an oracle, should rank first".into());
    }
    Ok(())
}
