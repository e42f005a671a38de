//! The drift checks: the inventory against the pipeline's tables and the
//! code, and the code against its single-transport rule.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use orch_pipeline::{ARTIFACTS, Role, RoleKind, Stage, gates_for};

use crate::inventory::{Classification, Inventory, InventoryError, PathKind};
use crate::source::{self, FnInfo};

/// The one function allowed to start the agent CLI.
pub const TRANSPORT_LOCATION: &str = "crates/launcher/src/spawn.rs::spawn";

/// The LLM roles a suite runner serves, the runner, and whether it has a
/// shadow mode there: one type in the launcher, configured per stage.
const SUITE_RUNNERS: [(Role, Role, bool); 2] = [
    (Role::Deployer, Role::StagingRunner, false),
    (Role::Tester, Role::TestRunner, true),
];

/// The documents the inventory keeps, relative to the root; each must exist.
pub const DOCUMENTS: [&str; 6] = [
    "docs/architecture/llm-call-sites.md",
    "docs/architecture/llm-determinization-roadmap.md",
    "docs/architecture/llm-usage-policy.md",
    "docs/overview/pipeline.md",
    "docs/overview/agents.md",
    "docs/overview/quality-and-security.md",
];

/// Folders the second-transport scan does not enter: build output, hidden
/// folders, and test code (`tests/`, `benches/`), whose harnesses start the
/// binary or a scripted agent on purpose.
const SKIPPED_DIRS: [&str; 3] = ["target", "tests", "benches"];

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
        }
    }
}

/// Every drift between the inventory in [`crate::INVENTORY_DOC`], the
/// pipeline's tables, the documents and the Rust sources under `root`; empty
/// when they agree. Reads files under `root` only; never fails: what cannot
/// be read is itself a drift.
#[must_use]
pub fn check(root: &Path) -> Vec<Drift> {
    let mut out = Vec::new();
    check_documents(root, &mut out);
    let mut sources = Sources::new(root);
    match Inventory::load(root) {
        Ok(inventory) => {
            check_call_sites(&inventory, &mut out);
            check_deterministic(&inventory, &mut out);
            check_locations(&inventory, &mut sources, &mut out);
        }
        Err(error) => out.push(Drift::Inventory(error)),
    }
    check_transports(root, &mut sources, &mut out);
    out
}

fn check_documents(root: &Path, out: &mut Vec<Drift>) {
    for document in DOCUMENTS {
        let path = root.join(document);
        let Ok(text) = fs::read_to_string(&path) else {
            out.push(Drift::MissingDocument {
                path: document.to_owned(),
            });
            continue;
        };
        let dir = path.parent().unwrap_or(root);
        for target in relative_links(&text) {
            let file = target.split('#').next().unwrap_or_default();
            if !file.is_empty() && !dir.join(file).exists() {
                out.push(Drift::BrokenLink {
                    document: document.to_owned(),
                    target,
                });
            }
        }
    }
}

/// The targets of `[text](target)` links that are neither URLs nor anchors.
fn relative_links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = rest[..end].trim();
        if !target.is_empty()
            && !target.contains("://")
            && !target.starts_with('#')
            && !target.starts_with("mailto:")
            && !target.contains(char::is_whitespace)
        {
            out.push(target.to_owned());
        }
        rest = &rest[end..];
    }
    out
}

fn check_call_sites(inventory: &Inventory, out: &mut Vec<Drift>) {
    let mut ids = BTreeSet::new();
    let all_ids = std::iter::once(&inventory.transport.id)
        .chain(inventory.call_sites.iter().map(|s| &s.id))
        .chain(inventory.deterministic.iter().map(|d| &d.id));
    for id in all_ids {
        if !ids.insert(id.as_str()) {
            out.push(Drift::DuplicateId { id: id.clone() });
        }
    }
    let reserved_names: BTreeSet<&str> = inventory
        .deterministic
        .iter()
        .filter(|d| d.kind == PathKind::ReservedAgent)
        .map(|d| d.name.as_str())
        .collect();
    let mut by_role: BTreeMap<Role, Vec<String>> = BTreeMap::new();
    for site in &inventory.call_sites {
        let id = &site.id;
        let role = match Role::from_str(&site.role) {
            Ok(role) => role,
            Err(_) => {
                out.push(Drift::UnknownRole {
                    id: id.clone(),
                    role: site.role.clone(),
                });
                continue;
            }
        };
        if role.kind() == RoleKind::Reserved {
            out.push(Drift::NotAnLlmRole {
                id: id.clone(),
                role,
            });
            continue;
        }
        by_role.entry(role).or_default().push(id.clone());
        let classification = site.classification();
        if classification != Classification::Avoidable
            && site.justification.as_deref().is_none_or(blank)
        {
            out.push(Drift::MissingJustification {
                id: id.clone(),
                classification,
            });
        }
        if site.deterministic_oracle && site.oracle.as_deref().is_none_or(blank) {
            out.push(Drift::MissingOracle { id: id.clone() });
        }
        if let Some((_, runner, shadow)) = SUITE_RUNNERS.iter().find(|(r, ..)| *r == role)
            && (site.implemented_by.as_deref() != Some(runner.as_str())
                || site.fallback.as_deref() != Some("llm")
                || (*shadow && site.shadow != Some(true)))
        {
            out.push(Drift::NotImplementedByRunner {
                id: id.clone(),
                role,
                runner: *runner,
                shadow: *shadow,
                implemented_by: site.implemented_by.clone(),
                fallback: site.fallback.clone(),
            });
        }
        if let Some(name) = &site.implemented_by
            && !reserved_names.contains(name.as_str())
        {
            out.push(Drift::UnknownImplementer {
                id: id.clone(),
                name: name.clone(),
            });
        }
        let Ok(stage) = Stage::from_str(&site.stage) else {
            out.push(Drift::UnknownStage {
                id: id.clone(),
                stage: site.stage.clone(),
            });
            continue;
        };
        if stage.role() != Some(role) {
            out.push(Drift::WrongStage {
                id: id.clone(),
                role,
                stage,
            });
        }
        check_contract(site, stage, out);
    }
    for role in Role::ALL {
        if role.kind() != RoleKind::Llm {
            continue;
        }
        match by_role.get(&role).map(Vec::as_slice) {
            None | Some([]) => out.push(Drift::MissingCallSite { role }),
            Some([_]) => {}
            Some(ids) => out.push(Drift::DuplicateCallSite {
                role,
                ids: ids.to_vec(),
            }),
        }
    }
}

fn blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// The site's verdict key, artifact, gate and control-path bit against
/// `ARTIFACTS` and `QG_CHECKS`.
fn check_contract(site: &crate::CallSite, stage: Stage, out: &mut Vec<Drift>) {
    let Some(spec) = ARTIFACTS.iter().find(|a| a.stage == stage) else {
        return;
    };
    let mismatch = |field, inventory: &str, code: &str| Drift::ContractMismatch {
        id: site.id.clone(),
        field,
        inventory: inventory.to_owned(),
        code: code.to_owned(),
    };
    if site.verdict_key != spec.verdict_key {
        out.push(mismatch("verdict_key", &site.verdict_key, spec.verdict_key));
    }
    if site.artifact != spec.file_name {
        out.push(mismatch("artifact", &site.artifact, spec.file_name));
    }
    let gates: Vec<&str> = gates_for(stage).iter().map(|g| g.name()).collect();
    if !gates.contains(&site.gate.as_str()) {
        out.push(mismatch("gate", &site.gate, &gates.join(", ")));
    }
    let steers = spec.values.len() > 1;
    if site.control_path != steers {
        out.push(Drift::ControlPathMismatch {
            id: site.id.clone(),
            inventory: site.control_path,
            values: spec.values.to_vec(),
        });
    }
}

fn check_deterministic(inventory: &Inventory, out: &mut Vec<Drift>) {
    let first = inventory.transport.locations.first().map(String::as_str);
    if first != Some(TRANSPORT_LOCATION) {
        out.push(Drift::TransportMismatch {
            inventory: first.unwrap_or_default().to_owned(),
        });
    }
    let mut listed = BTreeSet::new();
    for path in &inventory.deterministic {
        if path.kind != PathKind::ReservedAgent {
            continue;
        }
        match Role::from_str(&path.name) {
            Ok(role) if role.kind() == RoleKind::Reserved => {
                listed.insert(role);
            }
            Ok(_) | Err(_) => out.push(Drift::UnknownReservedAgent {
                id: path.id.clone(),
                name: path.name.clone(),
            }),
        }
    }
    for role in Role::ALL {
        if role.kind() == RoleKind::Reserved && !listed.contains(&role) {
            out.push(Drift::MissingReservedAgent { role });
        }
    }
    for kind in PathKind::ALL {
        if !inventory.deterministic.iter().any(|d| d.kind == kind) {
            out.push(Drift::MissingPathKind { kind });
        }
    }
}

/// A code location: a file and the qualified name of a function in it.
struct Location<'a> {
    file: &'a str,
    item: Vec<&'a str>,
}

fn parse_location(location: &str) -> Option<Location<'_>> {
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

fn check_locations(inventory: &Inventory, sources: &mut Sources, out: &mut Vec<Drift>) {
    let entries = std::iter::once((&inventory.transport.id, &inventory.transport.locations))
        .chain(inventory.call_sites.iter().map(|s| (&s.id, &s.locations)))
        .chain(
            inventory
                .deterministic
                .iter()
                .map(|d| (&d.id, &d.locations)),
        );
    for (id, locations) in entries {
        for location in locations {
            let Some(parsed) = parse_location(location) else {
                out.push(Drift::BadLocation {
                    id: id.clone(),
                    location: location.clone(),
                });
                continue;
            };
            let drift = match sources.functions(parsed.file) {
                Parsed::Missing => Some(Drift::MissingFile {
                    id: id.clone(),
                    location: location.clone(),
                }),
                // Reported once by the transport scan (or here, for a file
                // the scan skips).
                Parsed::Unparsable(error) => Some(Drift::UnparsableSource {
                    file: parsed.file.to_owned(),
                    error,
                }),
                Parsed::Functions(fns) => {
                    let found = fns.iter().any(|f| {
                        f.qualified.len() >= parsed.item.len()
                            && f.qualified[f.qualified.len() - parsed.item.len()..]
                                .iter()
                                .zip(&parsed.item)
                                .all(|(a, b)| a == b)
                    });
                    (!found).then(|| Drift::MissingFunction {
                        id: id.clone(),
                        location: location.clone(),
                    })
                }
            };
            if let Some(drift) = drift
                && !out.iter().any(|d| same_unparsable(d, &drift))
            {
                out.push(drift);
            }
        }
    }
}

fn same_unparsable(a: &Drift, b: &Drift) -> bool {
    matches!((a, b), (Drift::UnparsableSource { file: x, .. }, Drift::UnparsableSource { file: y, .. }) if x == y)
}

fn check_transports(root: &Path, sources: &mut Sources, out: &mut Vec<Drift>) {
    let mut files = Vec::new();
    rust_files(root, root, &mut files);
    let (allowed_file, allowed_fn) = TRANSPORT_LOCATION
        .split_once(".rs::")
        .map(|(f, n)| (format!("{f}.rs"), n))
        .unwrap_or_default();
    let mut transport_seen = false;
    for file in files {
        match sources.functions(&file) {
            Parsed::Missing => {}
            Parsed::Unparsable(error) => {
                let drift = Drift::UnparsableSource {
                    file: file.clone(),
                    error,
                };
                if !out.iter().any(|d| same_unparsable(d, &drift)) {
                    out.push(drift);
                }
            }
            Parsed::Functions(fns) => {
                for f in fns.iter().filter(|f| !f.test) {
                    let (Some(starts), Some(reads)) = (f.starts.first(), f.reads.first()) else {
                        continue;
                    };
                    if file == allowed_file && f.name() == allowed_fn {
                        transport_seen = true;
                        continue;
                    }
                    out.push(Drift::SecondTransport {
                        file: file.clone(),
                        function: f.name(),
                        starts: starts.clone(),
                        reads: reads.clone(),
                    });
                }
            }
        }
    }
    if !transport_seen {
        out.push(Drift::TransportNotRecognised);
    }
}

/// Every `.rs` file under `dir`, relative to `root` with `/` separators,
/// sorted; skips [`SKIPPED_DIRS`], hidden folders and symbolic links.
fn rust_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        if kind.is_dir() {
            if !name.starts_with('.') && !SKIPPED_DIRS.contains(&name.as_ref()) {
                rust_files(root, &path, out);
            }
        } else if kind.is_file()
            && name.ends_with(".rs")
            && let Ok(relative) = path.strip_prefix(root)
        {
            let parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
}

/// A file as the checks see it.
#[derive(Clone)]
enum Parsed {
    Missing,
    Unparsable(String),
    Functions(Vec<FnInfo>),
}

/// Parsed files, each parsed once.
struct Sources {
    root: PathBuf,
    cache: BTreeMap<String, Parsed>,
}

impl Sources {
    fn new(root: &Path) -> Sources {
        Sources {
            root: root.to_owned(),
            cache: BTreeMap::new(),
        }
    }

    fn functions(&mut self, file: &str) -> Parsed {
        if let Some(parsed) = self.cache.get(file) {
            return parsed.clone();
        }
        let parsed = match fs::read_to_string(self.root.join(file)) {
            Err(_) => Parsed::Missing,
            Ok(text) => match source::functions(&text) {
                Ok(fns) => Parsed::Functions(fns),
                Err(error) => Parsed::Unparsable(error.to_string()),
            },
        };
        self.cache.insert(file.to_owned(), parsed.clone());
        parsed
    }
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

    #[test]
    fn only_relative_links_are_followed() {
        let links = relative_links(
            "see [a](../staging-runner.md), [b](https://x.invalid/), [c](#top), [d](pipeline.md#stages)",
        );
        assert_eq!(links, ["../staging-runner.md", "pipeline.md#stages"]);
    }
}
