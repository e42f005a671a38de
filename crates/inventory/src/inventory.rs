//! The inventory itself: the TOML block of `docs/architecture/llm-call-sites.md`
//! read into typed values, and the classification computed from each call
//! site's two bits.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where the inventory lives, relative to the repository root.
pub const INVENTORY_DOC: &str = "docs/architecture/llm-call-sites.md";

/// The line that opens the inventory block (alone on its line).
pub const BLOCK_BEGIN: &str = "<!-- inventory:begin -->";

/// The line that closes the inventory block (alone on its line).
pub const BLOCK_END: &str = "<!-- inventory:end -->";

/// The file name the parse errors name, so that a message says which
/// document to fix.
const DOC_NAME: &str = "llm-call-sites.md";

/// The map of every place orch may call an LLM, and of the deterministic
/// paths that decide without one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// S0: the single transport every LLM call goes through.
    pub transport: TransportEntry,
    /// One entry per LLM role and stage (C1 … C6).
    #[serde(rename = "call_site", default)]
    pub call_sites: Vec<CallSite>,
    /// The paths that decide without an LLM: reserved agents, gates,
    /// transitions, the dispatch that consults the reserved agents.
    #[serde(rename = "deterministic", default)]
    pub deterministic: Vec<DeterministicPath>,
    /// The places where agent output steers the task outside its verdict
    /// key (K1 …), each with its mitigation.
    #[serde(rename = "consumption", default)]
    pub consumption: Vec<Consumption>,
    /// The allow-list of process-start sites: every function that starts a
    /// process directly, or calls the process machinery of another crate.
    #[serde(rename = "process_start", default)]
    pub process_starts: Vec<ProcessStart>,
    /// What the code scan leaves out.
    #[serde(default)]
    pub scan: Scan,
}

/// A place where agent output, other than the verdict line, steers the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consumption {
    /// `K1` ….
    pub id: String,
    /// What the agent produces (an exit code, a cost line, a git action).
    pub output: String,
    /// What orch does with it.
    pub effect: String,
    /// Code locations, `path/to/file.rs::function`.
    pub locations: Vec<String>,
    /// Why that is acceptable, or what bounds it.
    pub mitigation: String,
}

/// One allowed process-start site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessStart {
    /// `path/to/file.rs::function`.
    pub location: String,
    /// What it starts and why there.
    pub why: String,
}

/// What the code scan leaves out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scan {
    /// Packages that are test support: never a dependency of another
    /// member (only a dev-dependency, which the check verifies), so their
    /// process starts never ship.
    #[serde(default)]
    pub test_support: Vec<String>,
}

/// S0: the one function that starts an LLM agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportEntry {
    /// `S0`.
    pub id: String,
    /// A short name, e.g. `launcher::spawn`.
    pub name: String,
    /// The configuration that names the agent command, e.g.
    /// `AgentConfig::command`.
    pub setting: String,
    /// Code locations, `path/to/file.rs::function` (or `::Type::method`);
    /// the first is the transport itself.
    pub locations: Vec<String>,
}

/// One LLM call site: a role at its stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallSite {
    /// `C1` … `C6`.
    pub id: String,
    /// The LLM role, as `orch_pipeline::Role` names it (e.g. `tester`).
    pub role: String,
    /// The stage it serves, as `orch_pipeline::Stage` names it.
    pub stage: String,
    /// The artifact the role writes (`orch_pipeline::ARTIFACTS`).
    pub artifact: String,
    /// The verdict key in that artifact (`orch_pipeline::ARTIFACTS`).
    pub verdict_key: String,
    /// The gate that reads it (`orch_pipeline::QG_CHECKS`).
    pub gate: String,
    /// The role's prompt file, relative to the root (`crates/launcher/prompts/<role>.md`).
    pub prompt: String,
    /// Code locations on the call path, `path/to/file.rs::function`.
    pub locations: Vec<String>,
    /// C or P: whether the LLM's output decides control flow through the
    /// verdict key (a value other than the passing one moves the task
    /// elsewhere), rather than only producing an artifact.
    pub control_path: bool,
    /// Whether the verdict can be computed by code: an oracle whose answer
    /// is the verdict (an exit code, a comparison), not a judgment.
    pub deterministic_oracle: bool,
    /// The oracle, when there is one (required then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oracle: Option<String>,
    /// Why the LLM stays at this site (required unless it is avoidable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// The reserved agent that serves this site in the LLM's place, when
    /// one does (the deployer: `staging-runner`; the tester: `test-runner`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implemented_by: Option<String>,
    /// What serves the site when that reserved agent cannot (`llm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// Whether that reserved agent can also run beside the LLM, which then
    /// decides, so that their agreement is measured before the switch (the
    /// tester: `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<bool>,
}

impl CallSite {
    /// The site's classification, computed from its two bits.
    #[must_use]
    pub fn classification(&self) -> Classification {
        Classification::of(self.control_path, self.deterministic_oracle)
    }
}

/// A path that decides without an LLM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeterministicPath {
    /// `D1` ….
    pub id: String,
    /// The reserved agent's role name (e.g. `staging-runner`), or the
    /// table or function the path is (e.g. `QG_CHECKS`).
    pub name: String,
    /// What kind of path it is.
    pub kind: PathKind,
    /// The stage it serves, when it serves one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Code locations, `path/to/file.rs::function`.
    pub locations: Vec<String>,
    /// For a reserved agent: its entry in the launcher's default registry
    /// (`default_intercepts`), as written there, e.g. `SuiteRunner::testing()`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intercept: Option<String>,
}

/// The kinds of deterministic path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PathKind {
    /// A reserved agent, intercepted before the transport.
    ReservedAgent,
    /// The quality gates that read a verdict.
    Gate,
    /// The transition table that moves a task.
    Transition,
    /// The dispatch that consults the reserved agents before the transport.
    Dispatch,
}

impl PathKind {
    /// Every kind.
    pub const ALL: [PathKind; 4] = [
        PathKind::ReservedAgent,
        PathKind::Gate,
        PathKind::Transition,
        PathKind::Dispatch,
    ];

    /// The kind as the inventory block spells it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            PathKind::ReservedAgent => "reserved-agent",
            PathKind::Gate => "gate",
            PathKind::Transition => "transition",
            PathKind::Dispatch => "dispatch",
        }
    }
}

impl fmt::Display for PathKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do with a call site, computed from its two bits — never written
/// by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Classification {
    /// An *avoidable LLM control path*: the LLM's verdict steers the task
    /// and code can compute that verdict. Replace it.
    Avoidable,
    /// A control path without a computable oracle: the verdict is judgment.
    /// Keep the LLM, with the justification the inventory gives.
    Keep,
    /// The LLM only produces an artifact; its verdict cannot send the task
    /// anywhere but on (or to a fail-closed stop when nothing was written).
    NotControlPath,
}

impl Classification {
    /// Every classification.
    pub const ALL: [Classification; 3] = [
        Classification::Avoidable,
        Classification::Keep,
        Classification::NotControlPath,
    ];

    /// The predicate: *avoidable* = control path ∧ deterministic oracle;
    /// *keep* = control path without an oracle; everything else is not a
    /// control path.
    #[must_use]
    pub const fn of(control_path: bool, deterministic_oracle: bool) -> Classification {
        match (control_path, deterministic_oracle) {
            (true, true) => Classification::Avoidable,
            (true, false) => Classification::Keep,
            (false, _) => Classification::NotControlPath,
        }
    }

    /// `avoidable`, `keep` or `not-control-path`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Classification::Avoidable => "avoidable",
            Classification::Keep => "keep",
            Classification::NotControlPath => "not-control-path",
        }
    }
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the inventory could not be read; each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The document could not be read.
    #[error("{}: cannot be read ({source}); the inventory lives there", path.display())]
    Io {
        /// The document's path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// No begin marker.
    #[error(
        "{DOC_NAME}: no inventory block between {BLOCK_BEGIN} and {BLOCK_END}; add one, each marker alone on its line, around a ```toml fenced block"
    )]
    NoBlock,
    /// More than one begin marker.
    #[error("{DOC_NAME}: {count} lines are {BLOCK_BEGIN}; keep exactly one inventory block")]
    MultipleBlocks {
        /// How many begin markers.
        count: usize,
    },
    /// A begin marker without an end marker after it.
    #[error(
        "{DOC_NAME}: the inventory block opened at line {line} is never closed; add a line {BLOCK_END} after its fenced block"
    )]
    Unterminated {
        /// The begin marker's line (1-based).
        line: usize,
    },
    /// No ```toml fence inside the markers.
    #[error(
        "{DOC_NAME}: the inventory block at line {line} holds no ```toml fenced block; put the inventory in one"
    )]
    NoTomlFence {
        /// The begin marker's line (1-based).
        line: usize,
    },
    /// The fence is not closed before the end marker.
    #[error(
        "{DOC_NAME}: the ```toml fence opened at line {line} is not closed before {BLOCK_END}; close it with ```"
    )]
    UnclosedFence {
        /// The fence's line (1-based).
        line: usize,
    },
    /// The TOML does not parse, or does not have the inventory's shape.
    #[error(
        "{DOC_NAME}: the inventory block is not a valid inventory (its TOML starts at document line {first_line}; line numbers below count from there): {message}"
    )]
    Toml {
        /// The document line of the TOML's first line (1-based).
        first_line: usize,
        /// The parser's message, on one line.
        message: String,
    },
}

impl Inventory {
    /// Reads [`INVENTORY_DOC`] under `root` and parses its block.
    ///
    /// # Errors
    ///
    /// [`InventoryError::Io`] when the document cannot be read, and every
    /// error of [`Inventory::parse`].
    pub fn load(root: &Path) -> Result<Inventory, InventoryError> {
        let path = root.join(INVENTORY_DOC);
        let text = fs::read_to_string(&path).map_err(|source| InventoryError::Io {
            path: path.clone(),
            source,
        })?;
        Inventory::parse(&text)
    }

    /// Parses the inventory block of a markdown document: the one ```toml
    /// fenced block between the lines [`BLOCK_BEGIN`] and [`BLOCK_END`].
    ///
    /// # Errors
    ///
    /// An [`InventoryError`] naming what is missing or malformed.
    pub fn parse(markdown: &str) -> Result<Inventory, InventoryError> {
        let (first_line, toml_text) = block(markdown)?;
        toml::from_str(&toml_text).map_err(|error| InventoryError::Toml {
            first_line,
            message: error
                .to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        })
    }

    /// The call site of `role`, when there is exactly one.
    #[must_use]
    pub fn call_site(&self, role: &str) -> Option<&CallSite> {
        let mut found = self.call_sites.iter().filter(|s| s.role == role);
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }
}

/// The TOML text of the block and the document line it starts at.
fn block(markdown: &str) -> Result<(usize, String), InventoryError> {
    let lines: Vec<&str> = markdown.lines().collect();
    let begins: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim() == BLOCK_BEGIN)
        .map(|(i, _)| i)
        .collect();
    let begin = match begins.as_slice() {
        [] => return Err(InventoryError::NoBlock),
        [one] => *one,
        more => return Err(InventoryError::MultipleBlocks { count: more.len() }),
    };
    let end = lines
        .iter()
        .enumerate()
        .skip(begin + 1)
        .find(|(_, l)| l.trim() == BLOCK_END)
        .map(|(i, _)| i)
        .ok_or(InventoryError::Unterminated { line: begin + 1 })?;
    let inner = &lines[begin + 1..end];
    let fence = inner
        .iter()
        .position(|l| {
            let t = l.trim();
            t.starts_with("```") && t.trim_start_matches('`').trim() == "toml"
        })
        .ok_or(InventoryError::NoTomlFence { line: begin + 1 })?;
    let body = &inner[fence + 1..];
    let close =
        body.iter()
            .position(|l| l.trim() == "```")
            .ok_or(InventoryError::UnclosedFence {
                line: begin + 1 + fence + 1,
            })?;
    let first_line = begin + 1 + fence + 2;
    Ok((first_line, body[..close].join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "\
# doc
<!-- inventory:begin -->
```toml
[transport]
id = \"S0\"
name = \"launcher::spawn\"
setting = \"AgentConfig::command\"
locations = [\"crates/launcher/src/spawn.rs::spawn\"]
```
<!-- inventory:end -->
";

    #[test]
    fn the_predicate_is_the_conjunction_of_the_two_bits() {
        assert_eq!(Classification::of(true, true), Classification::Avoidable);
        assert_eq!(Classification::of(true, false), Classification::Keep);
        assert_eq!(
            Classification::of(false, true),
            Classification::NotControlPath
        );
        assert_eq!(
            Classification::of(false, false),
            Classification::NotControlPath
        );
    }

    #[test]
    fn a_minimal_block_parses() {
        let inventory = Inventory::parse(MINIMAL).unwrap();
        assert_eq!(inventory.transport.id, "S0");
        assert!(inventory.call_sites.is_empty());
    }

    #[test]
    fn a_missing_block_says_what_to_add() {
        let message = Inventory::parse("# nothing here\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "llm-call-sites.md: no inventory block between <!-- inventory:begin --> and <!-- inventory:end -->; add one, each marker alone on its line, around a ```toml fenced block"
        );
    }

    #[test]
    fn structural_errors_are_typed() {
        let unterminated = MINIMAL.replace("<!-- inventory:end -->", "");
        assert!(matches!(
            Inventory::parse(&unterminated),
            Err(InventoryError::Unterminated { line: 2 })
        ));
        let twice = format!("{MINIMAL}{MINIMAL}");
        assert!(matches!(
            Inventory::parse(&twice),
            Err(InventoryError::MultipleBlocks { count: 2 })
        ));
        let no_fence = MINIMAL.replace("```toml", "```");
        assert!(matches!(
            Inventory::parse(&no_fence),
            Err(InventoryError::NoTomlFence { line: 2 })
        ));
    }

    #[test]
    fn an_unknown_field_is_a_toml_error_with_the_document_line() {
        let typo = MINIMAL.replace("setting =", "settings =");
        let error = Inventory::parse(&typo).unwrap_err();
        assert!(matches!(error, InventoryError::Toml { first_line: 4, .. }));
        assert!(error.to_string().contains("settings"), "{error}");
    }
}
