//! What the drift checks report: [`Drift`], one disagreement that displays
//! as one line saying what to fix, and the code locations the checks name
//! ([`TRANSPORT_LOCATION`] and its kin, read by [`parse_location`]). Below
//! the checks themselves (`drift`, `scan`, `prose`, `tables`), which all
//! report through it.

use std::fmt;

use orch_pipeline::{Role, Stage};

use crate::inventory::{Classification, InventoryError, PathKind};

/// The one function allowed to start the agent CLI.
pub const TRANSPORT_LOCATION: &str = "crates/launcher/src/spawn.rs::spawn";

/// The one function allowed to call the transport.
pub const LAUNCH_LOCATION: &str = "crates/launcher/src/launch.rs::launch_job";

/// The default registry of reserved agents.
pub const REGISTRY_LOCATION: &str = "crates/launcher/src/reserved/mod.rs::default_intercepts";

/// One disagreement between the inventory, the pipeline and the code; each
/// displays as one line that says what to fix.
#[derive(Debug)]
pub enum Drift {
    /// The inventory block cannot be read.
    Inventory(InventoryError),
    /// A required document is missing.
    MissingDocument {
        /// Its path, relative to the root.
        path: String,
    },
    /// A relative link in one of the documents points nowhere.
    BrokenLink {
        /// The document.
        document: String,
        /// The link's target as written.
        target: String,
    },
    /// Two entries share an id.
    DuplicateId {
        /// The id.
        id: String,
    },
    /// An LLM role of the pipeline has no call site.
    MissingCallSite {
        /// The role.
        role: Role,
    },
    /// An LLM role has more than one call site.
    DuplicateCallSite {
        /// The role.
        role: Role,
        /// The ids of its entries.
        ids: Vec<String>,
    },
    /// A call site names no role of the pipeline.
    UnknownRole {
        /// The entry.
        id: String,
        /// The name it gives.
        role: String,
    },
    /// A call site names a reserved agent, which never calls an LLM.
    NotAnLlmRole {
        /// The entry.
        id: String,
        /// The role.
        role: Role,
    },
    /// A call site names no stage of the pipeline.
    UnknownStage {
        /// The entry.
        id: String,
        /// The name it gives.
        stage: String,
    },
    /// A call site's stage is not the one its role is assigned to.
    WrongStage {
        /// The entry.
        id: String,
        /// The role.
        role: Role,
        /// The stage the entry names.
        stage: Stage,
    },
    /// A field of a call site disagrees with `ARTIFACTS` or `QG_CHECKS`.
    ContractMismatch {
        /// The entry.
        id: String,
        /// `verdict_key`, `artifact` or `gate`.
        field: &'static str,
        /// What the inventory says.
        inventory: String,
        /// What the code says.
        code: String,
    },
    /// The control-path bit disagrees with the verdict key's values: a key
    /// with a failing value the role may write is a control path.
    ControlPathMismatch {
        /// The entry.
        id: String,
        /// The bit in the inventory.
        inventory: bool,
        /// The verdict key's accepted values.
        values: Vec<&'static str>,
    },
    /// A site that keeps the LLM gives no reason.
    MissingJustification {
        /// The entry.
        id: String,
        /// Its computed classification.
        classification: Classification,
    },
    /// A site with a deterministic oracle does not say what it is.
    MissingOracle {
        /// The entry.
        id: String,
    },
    /// The site of a role a suite runner serves (the deployer: the staging
    /// runner; the tester: the test runner, with shadow mode) does not say
    /// that the runner implements it with the LLM as fallback.
    NotImplementedByRunner {
        /// The entry.
        id: String,
        /// The LLM role.
        role: Role,
        /// The suite runner that serves it.
        runner: Role,
        /// Whether the runner also runs in shadow mode at this site.
        shadow: bool,
        /// Its `implemented_by`.
        implemented_by: Option<String>,
        /// Its `fallback`.
        fallback: Option<String>,
    },
    /// A site's `implemented_by` names no reserved agent of the inventory.
    UnknownImplementer {
        /// The entry.
        id: String,
        /// The name.
        name: String,
    },
    /// A reserved agent is not listed as a deterministic path.
    MissingReservedAgent {
        /// The role.
        role: Role,
    },
    /// A reserved-agent path names no reserved agent.
    UnknownReservedAgent {
        /// The entry.
        id: String,
        /// The name.
        name: String,
    },
    /// No deterministic path of a required kind (gates, transitions).
    MissingPathKind {
        /// The kind.
        kind: PathKind,
    },
    /// The inventory's transport is not [`TRANSPORT_LOCATION`].
    TransportMismatch {
        /// The first location of the inventory's transport.
        inventory: String,
    },
    /// A code location is not `path/to/file.rs::function`.
    BadLocation {
        /// The entry.
        id: String,
        /// The location.
        location: String,
    },
    /// A code location's file does not exist.
    MissingFile {
        /// The entry.
        id: String,
        /// The location.
        location: String,
    },
    /// A code location's function does not exist in its file.
    MissingFunction {
        /// The entry.
        id: String,
        /// The location.
        location: String,
    },
    /// A Rust file does not parse, so it cannot be checked.
    UnparsableSource {
        /// The file, relative to the root.
        file: String,
        /// The parser's message.
        error: String,
    },
    /// A function other than the transport starts a process and reads the
    /// agent-command setting.
    SecondTransport {
        /// The file, relative to the root.
        file: String,
        /// The function, qualified.
        function: String,
        /// What starts a process in it.
        starts: String,
        /// What reads the agent command in it.
        reads: String,
    },
    /// The transport itself no longer looks like one to the scan (it starts
    /// no process, or reads no agent command, or is gone).
    TransportNotRecognised,
    /// A `mod x;` of a crate names a file that does not exist.
    MissingModule {
        /// The file looked for, relative to the root.
        file: String,
        /// The module.
        module: String,
    },
    /// An `include!` whose file cannot be computed or read.
    UnresolvedInclude {
        /// The including file.
        file: String,
        /// The macro's argument, or what went wrong.
        what: String,
    },
    /// A `Cargo.toml` that cannot be read.
    BadManifest {
        /// The manifest.
        file: String,
        /// The error.
        error: String,
    },
    /// A function starts a process (directly, or through another crate's
    /// process machinery) and is not on the allow-list.
    ProcessStartNotAllowed {
        /// `file.rs::function`.
        location: String,
        /// What starts the process.
        starts: String,
    },
    /// An allow-list entry starts no process (any more).
    StaleProcessStart {
        /// The entry's location.
        location: String,
    },
    /// A function other than `launch_job` calls the transport.
    SpawnCaller {
        /// `file.rs::function`.
        location: String,
    },
    /// A reserved agent of the inventory is not in the default registry.
    NotRegistered {
        /// The entry.
        id: String,
        /// The reserved agent.
        name: String,
        /// Its `intercept`, if the entry gives one.
        intercept: Option<String>,
        /// What the registry holds.
        registry: Vec<String>,
    },
    /// A call site's `implemented_by` names a reserved agent that the
    /// default registry does not hold, or that serves another stage.
    ImplementerNotRegistered {
        /// The call site.
        id: String,
        /// The reserved agent.
        name: String,
        /// Why.
        why: String,
    },
    /// The tree's pipeline tables differ from the ones this check was built
    /// with, so checking the tree against them would be wrong.
    TablesDiffer {
        /// The file.
        file: String,
        /// The items that differ.
        items: Vec<String>,
    },
    /// A prose table of the inventory document disagrees with the block.
    ProseMismatch {
        /// The entry.
        id: String,
        /// What disagrees.
        what: String,
    },
    /// A consumption point without a mitigation.
    MissingMitigation {
        /// The entry.
        id: String,
    },
    /// A test-support package is a normal dependency of another member, so
    /// its code (which the scan leaves out) would ship.
    TestSupportDependency {
        /// The test-support package.
        package: String,
        /// The member that depends on it.
        dependent: String,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::Inventory(error) => write!(f, "{error}"),
            Drift::MissingDocument { path } => {
                write!(
                    f,
                    "{path}: missing; the LLM inventory keeps this document, write it"
                )
            }
            Drift::BrokenLink { document, target } => {
                write!(
                    f,
                    "{document}: link to {target} points to no file; fix the link"
                )
            }
            Drift::DuplicateId { id } => {
                write!(
                    f,
                    "inventory: id {id} is used twice; give each entry its own id"
                )
            }
            Drift::MissingCallSite { role } => write!(
                f,
                "inventory: LLM role {role} has no call site; add a [[call_site]] for it"
            ),
            Drift::DuplicateCallSite { role, ids } => write!(
                f,
                "inventory: LLM role {role} has {} call sites ({}); keep exactly one",
                ids.len(),
                ids.join(", ")
            ),
            Drift::UnknownRole { id, role } => write!(
                f,
                "inventory {id}: role {role:?} is not a role of the pipeline (orch_pipeline::Role); fix the name"
            ),
            Drift::NotAnLlmRole { id, role } => write!(
                f,
                "inventory {id}: role {role} is a reserved agent, not an LLM role; list it under [[deterministic]]"
            ),
            Drift::UnknownStage { id, stage } => write!(
                f,
                "inventory {id}: stage {stage:?} is not a stage of the pipeline (orch_pipeline::Stage); fix the name"
            ),
            Drift::WrongStage { id, role, stage } => write!(
                f,
                "inventory {id}: role {role} does not serve stage {stage} (Stage::role); name the stage it serves"
            ),
            Drift::ContractMismatch {
                id,
                field,
                inventory,
                code,
            } => write!(
                f,
                "inventory {id}: {field} is {inventory:?} but the pipeline says {code:?}; update the inventory"
            ),
            Drift::ControlPathMismatch {
                id,
                inventory,
                values,
            } => write!(
                f,
                "inventory {id}: control_path = {inventory}, but the verdict key accepts {values:?} ({}); set control_path = {}",
                if values.len() > 1 {
                    "a failing value the role may write steers the task"
                } else {
                    "one value only: the role cannot steer the task"
                },
                values.len() > 1
            ),
            Drift::MissingJustification { id, classification } => write!(
                f,
                "inventory {id}: classified {classification}, so the LLM stays; give a justification"
            ),
            Drift::MissingOracle { id } => write!(
                f,
                "inventory {id}: deterministic_oracle = true but no oracle is named; say what computes the verdict"
            ),
            Drift::NotImplementedByRunner {
                id,
                role,
                runner,
                shadow,
                implemented_by,
                fallback,
            } => write!(
                f,
                "inventory {id}: the {role} is implemented by the {} with the LLM as fallback{}; set implemented_by = \"{runner}\" and fallback = \"llm\"{} (found {implemented_by:?}, {fallback:?})",
                runner.as_str().replace('-', " "),
                if *shadow { " and a shadow mode" } else { "" },
                if *shadow { " and shadow = true" } else { "" },
            ),
            Drift::UnknownImplementer { id, name } => write!(
                f,
                "inventory {id}: implemented_by = {name:?} names no reserved agent of the inventory; fix the name"
            ),
            Drift::MissingReservedAgent { role } => write!(
                f,
                "inventory: reserved agent {role} is not listed; add a [[deterministic]] with kind = \"reserved-agent\" and name = \"{role}\""
            ),
            Drift::UnknownReservedAgent { id, name } => write!(
                f,
                "inventory {id}: {name:?} is not a reserved agent of the pipeline; fix the name or the kind"
            ),
            Drift::MissingPathKind { kind } => write!(
                f,
                "inventory: no [[deterministic]] of kind {kind}; list the {kind} code"
            ),
            Drift::TransportMismatch { inventory } => write!(
                f,
                "inventory S0: the transport is {TRANSPORT_LOCATION}, but the inventory names {inventory:?} first; fix the inventory"
            ),
            Drift::BadLocation { id, location } => write!(
                f,
                "inventory {id}: location {location:?} is not `path/to/file.rs::function` (or `::Type::method`); fix it"
            ),
            Drift::MissingFile { id, location } => write!(
                f,
                "inventory {id}: location {location}: the file does not exist; update the location"
            ),
            Drift::MissingFunction { id, location } => write!(
                f,
                "inventory {id}: location {location}: no such function in the file; update the location"
            ),
            Drift::UnparsableSource { file, error } => write!(
                f,
                "{file}: does not parse as Rust ({error}), so it cannot be checked for a second transport"
            ),
            Drift::SecondTransport {
                file,
                function,
                starts,
                reads,
            } => write!(
                f,
                "{file}::{function}: starts a process ({starts}) and reads the agent command ({reads}); only {TRANSPORT_LOCATION} may start an agent: call orch_launcher::spawn instead"
            ),
            Drift::TransportNotRecognised => write!(
                f,
                "{TRANSPORT_LOCATION}: the scan no longer sees it start a process with the agent command; if the transport moved, update TRANSPORT_LOCATION and the inventory"
            ),
            Drift::MissingModule { file, module } => write!(
                f,
                "{file}: module {module} is declared but its file does not exist; add the file or remove the `mod`"
            ),
            Drift::UnresolvedInclude { file, what } => write!(
                f,
                "{file}: include!({what}) cannot be followed, so the code it pulls in cannot be checked; include a path relative to the file (or concat!(env!(\"CARGO_MANIFEST_DIR\"), …))"
            ),
            Drift::BadManifest { file, error } => {
                write!(f, "{file}: cannot be read ({error}); fix the manifest")
            }
            Drift::ProcessStartNotAllowed { location, starts } => write!(
                f,
                "{location}: starts a process ({starts}) but is not on the allow-list of process-start sites; start processes through an allowed site, or add a [[process_start]] entry saying why"
            ),
            Drift::StaleProcessStart { location } => write!(
                f,
                "inventory: [[process_start]] {location} starts no process; remove the entry"
            ),
            Drift::SpawnCaller { location } => write!(
                f,
                "{location}: calls the transport (orch_launcher::spawn) directly, skipping the reserved agents and the spend ceiling; only {LAUNCH_LOCATION} may call it: call launch_job"
            ),
            Drift::NotRegistered {
                id,
                name,
                intercept,
                registry,
            } => match intercept {
                None => write!(
                    f,
                    "inventory {id}: reserved agent {name} gives no intercept; set intercept to its entry in {REGISTRY_LOCATION} (one of: {})",
                    registry.join(", ")
                ),
                Some(intercept) => write!(
                    f,
                    "inventory {id}: reserved agent {name} is {intercept}, which {REGISTRY_LOCATION} does not register (it holds: {}); register it, or its stage falls to the LLM",
                    registry.join(", ")
                ),
            },
            Drift::ImplementerNotRegistered { id, name, why } => write!(
                f,
                "inventory {id}: implemented_by = {name:?}, but {why}; register the intercept or fix the inventory"
            ),
            Drift::TablesDiffer { file, items } => write!(
                f,
                "{file}: the pipeline tables ({}) differ from the ones this check was built with; build the check from this tree (cargo run -p orch -- inventory check --root .) and run it again",
                items.join(", ")
            ),
            Drift::ProseMismatch { id, what } => write!(
                f,
                "{}: the prose table row {id} disagrees with the inventory block: {what}; make them agree",
                crate::INVENTORY_DOC
            ),
            Drift::MissingMitigation { id } => write!(
                f,
                "inventory {id}: a consumption point needs a mitigation; say what bounds it"
            ),
            Drift::TestSupportDependency { package, dependent } => write!(
                f,
                "{dependent}: depends on the test-support package {package}, whose code the scan leaves out; make it a dev-dependency"
            ),
        }
    }
}

/// A code location: a file and the qualified name of a function in it.
pub(crate) struct Location<'a> {
    pub(crate) file: &'a str,
    pub(crate) item: Vec<&'a str>,
}

pub(crate) fn parse_location(location: &str) -> Option<Location<'_>> {
    let at = location.find(".rs::")?;
    let file = &location[..at + 3];
    let item: Vec<&str> = location[at + 5..].split("::").collect();
    if file.is_empty()
        || item
            .iter()
            .any(|s| s.is_empty() || s.contains(char::is_whitespace))
    {
        return None;
    }
    Some(Location { file, item })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_split_into_file_and_qualified_name() {
        let l = parse_location("crates/launcher/src/reserved.rs::StagingRunner::run").unwrap();
        assert_eq!(l.file, "crates/launcher/src/reserved.rs");
        assert_eq!(l.item, ["StagingRunner", "run"]);
        assert!(parse_location("crates/launcher/src/spawn.rs").is_none());
        assert!(parse_location("crates/launcher/src/spawn.rs::").is_none());
        assert!(parse_location("spawn").is_none());
    }
}
