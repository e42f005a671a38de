//! The LLM call-site inventory of orch: where orch may call an LLM, which of
//! those calls code could make instead, and whether the map still matches
//! the code.
//!
//! The map is prose for people and a TOML block for this crate, both in
//! `docs/architecture/llm-call-sites.md` ([`INVENTORY_DOC`]). [`Inventory`]
//! is that block, typed: the single transport ([`TransportEntry`], S0), one
//! [`CallSite`] per LLM role and stage (C1 … C6), and the
//! [`DeterministicPath`]s that decide without an LLM (reserved agents,
//! gates, transitions, the dispatch).
//!
//! **The predicate.** Each call site carries two bits: `control_path` (the
//! LLM's verdict decides where the task goes) and `deterministic_oracle`
//! (code can compute that verdict). Its [`Classification`] is computed from
//! them, never written by hand: *avoidable* = control path ∧ oracle;
//! *keep* = control path without an oracle; otherwise *not-control-path*.
//!
//! **The drift checks.** [`check`] compares the inventory with
//! `orch_pipeline` (every LLM role has exactly one site, every reserved agent
//! is listed, verdict keys, artifacts and gates match `ARTIFACTS` and
//! `QG_CHECKS`, the control-path bit matches the verdict key's values), the
//! prose tables of the document with its block, the tree's pipeline tables
//! with the ones this crate was built with ([`Drift::TablesDiffer`]), and the
//! block with the code: every code location names a function that ships
//! (not a `#[cfg(test)]` stub), every reserved agent is registered in
//! [`REGISTRY_LOCATION`] as its `intercept` says, and every `implemented_by`
//! names one registered at that stage. Each [`Drift`] displays as one line
//! that says what to fix.
//!
//! **The code scan** parses the workspace as the compiler does, from each
//! member's crate roots, following `mod`, `#[path]` and `include!`, skipping
//! no folder by its name, reading macro bodies and statics as code, and
//! resolving paths across modules and crates (`use` aliases, `type` aliases,
//! `pub use` re-exports). It reports any function, macro or static that
//! starts a process and is not on the `[[process_start]]` allow-list
//! (whatever the command's source: `Command::new`, the `libc`/`nix` exec
//! family, `fork`, `vfork`, `posix_spawn`, `system`, `popen`, or a call into
//! another crate's process machinery), any function other than
//! [`TRANSPORT_LOCATION`] that starts a process (through functions of its
//! crate too) and reads the agent-command setting, and any caller of the
//! transport other than [`LAUNCH_LOCATION`]. Test code (`#[test]`,
//! `#[cfg(test)]`, integration tests, benches) and the test-support crates
//! the block names (checked to be dev-dependencies only) are left out.
//! *Limits:* calls are resolved by path, not by type: a method call
//! (`x.run()`), a trait object or a closure stored elsewhere is not
//! followed, and a glob import names nothing (but a bare `system` under
//! `use libc::*` is `libc::system`); `include!` of generated code
//! (`OUT_DIR`) is reported as not followable. The clippy `disallowed-methods`
//! list backs the allow-list at build time.
//!
//! **The roadmap.** [`roadmap`] takes run figures ([`RoleRunStats`], which
//! the binary fills from the store) and ranks the avoidable sites by what
//! replacing them saves per run, saying where a figure is missing.
//!
//! ````
//! use orch_inventory::{Classification, Inventory, roadmap};
//!
//! let doc = r#"
//! <!-- inventory:begin -->
//! ```toml
//! [transport]
//! id = "S0"
//! name = "launcher::spawn"
//! setting = "AgentConfig::command"
//! locations = ["crates/launcher/src/spawn.rs::spawn"]
//!
//! [[call_site]]
//! id = "C5"
//! role = "tester"
//! stage = "testing"
//! artifact = "10-test-report.md"
//! verdict_key = "test_status"
//! gate = "check_test_status"
//! prompt = "crates/launcher/prompts/tester.md"
//! locations = ["crates/launcher/src/spawn.rs::spawn"]
//! control_path = true
//! deterministic_oracle = true
//! oracle = "the test suite's exit code"
//! ```
//! <!-- inventory:end -->
//! "#;
//! let inventory = Inventory::parse(doc)?;
//! assert_eq!(inventory.call_sites[0].classification(), Classification::Avoidable);
//!
//! let plan = roadmap(&inventory, &[]);
//! assert!(plan.summary.starts_with("no runs recorded"));
//! assert_eq!(plan.candidates[0].role, "tester");
//! # Ok::<(), orch_inventory::InventoryError>(())
//! ````
//!
//! What it never does: no I/O beyond reading the documents and sources
//! under the root it is given (it writes nothing), no database (it does not
//! depend on `orch-store`; figures come in as values), no process, no
//! network, no environment variable.

mod code;
mod drift;
mod evidence;
mod finding;
mod inventory;
mod prose;
mod roadmap;
mod scan;
mod tables;
mod verdicts;

pub use drift::{DOCUMENTS, check};
pub use evidence::{Recommendation, RepoDecision, ShadowPairs, SwitchPolicy, upper_bound};
pub use finding::{Drift, LAUNCH_LOCATION, REGISTRY_LOCATION, TRANSPORT_LOCATION};
pub use inventory::{
    BLOCK_BEGIN, BLOCK_END, CallSite, Classification, Consumption, DeterministicPath,
    INVENTORY_DOC, Inventory, InventoryError, PathKind, ProcessStart, Scan, TransportEntry,
};
pub use roadmap::{
    Candidate, Figure, ParseTransportError, RepoRunner, RepoStatus, Roadmap, RoadmapInput,
    RoleRunStats, RunnerState, ShadowFigures, Transport, roadmap, roadmap_from, roadmap_with,
};
pub use verdicts::{RunCostRecord, VerdictCosts, VerdictRecord, verdict_costs};
