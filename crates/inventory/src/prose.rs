//! The prose tables of the inventory document against its TOML block: the
//! call-site table (C…), the deterministic-path table (D…) and the
//! consumption table (K…) say what the block says.

#![allow(
    clippy::wildcard_enum_match_arm,
    reason = "syntax and token kinds, not contracts: only a few kinds matter to the scan"
)]

use std::collections::BTreeSet;

use orch_pipeline::{ARTIFACTS, Stage};

use crate::finding::{Drift, parse_location};
use crate::inventory::{Inventory, PathKind};

/// The cells of every table row whose first cell is an id starting with
/// `prefix` followed by a digit.
fn rows(text: &str, prefix: char) -> Vec<Vec<&str>> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let inner = line.strip_prefix('|')?.strip_suffix('|')?;
            let cells: Vec<&str> = inner.split('|').map(str::trim).collect();
            let id = cells.first()?;
            let mut chars = id.chars();
            (chars.next() == Some(prefix) && chars.next().is_some_and(|c| c.is_ascii_digit()))
                .then_some(cells)
        })
        .collect()
}

fn unticked(cell: &str) -> &str {
    cell.trim().trim_matches('`')
}

/// The backticked words of a cell, in order.
fn ticked(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

pub(crate) fn check_prose(text: &str, inventory: &Inventory, out: &mut Vec<Drift>) {
    let mut mismatch = |id: &str, what: String| {
        out.push(Drift::ProseMismatch {
            id: id.to_owned(),
            what,
        });
    };
    // C: id | role | stage | artifact | verdict key (values) | gate | axis | class
    let mut seen = BTreeSet::new();
    for cells in rows(text, 'C') {
        let id = cells[0];
        seen.insert(id.to_owned());
        let Some(site) = inventory.call_sites.iter().find(|s| s.id == id) else {
            mismatch(id, "the block has no such call site".to_owned());
            continue;
        };
        if cells.len() != 8 {
            mismatch(id, format!("{} cells, expected 8", cells.len()));
            continue;
        }
        let key = ticked(cells[4]);
        let values: Vec<&str> = Stage::from_str_opt(&site.stage)
            .and_then(|stage| ARTIFACTS.iter().find(|a| a.stage == stage))
            .map(|a| a.values.to_vec())
            .unwrap_or_default();
        let axis = if site.control_path { "C" } else { "P" };
        let checks = [
            ("role", cells[1], site.role.as_str()),
            ("stage", cells[2], site.stage.as_str()),
            ("artifact", unticked(cells[3]), site.artifact.as_str()),
            (
                "verdict key",
                key.first().copied().unwrap_or_default(),
                site.verdict_key.as_str(),
            ),
            ("gate", unticked(cells[5]), site.gate.as_str()),
            ("axis", cells[6], axis),
        ];
        for (field, prose, block) in checks {
            if prose != block {
                mismatch(
                    id,
                    format!("{field} is {prose:?} there, {block:?} in the block"),
                );
            }
        }
        if key.get(1..).unwrap_or_default() != values.as_slice() {
            mismatch(
                id,
                format!(
                    "verdict values are {:?} there, {values:?} in the pipeline",
                    key.get(1..).unwrap_or_default()
                ),
            );
        }
        let class = site.classification().as_str();
        if cells[7].split_whitespace().next() != Some(class) {
            mismatch(
                id,
                format!("class is {:?} there, {class} computed", cells[7]),
            );
        }
    }
    for site in &inventory.call_sites {
        if !seen.contains(&site.id) {
            mismatch(
                &site.id,
                "the call site has no row in the prose table".to_owned(),
            );
        }
    }
    // D: id | name | kind | where (`file.rs`: `fn`, `fn`; `file.rs`: `fn`)
    let mut seen = BTreeSet::new();
    for cells in rows(text, 'D') {
        let id = cells[0];
        seen.insert(id.to_owned());
        let Some(path) = inventory.deterministic.iter().find(|d| d.id == id) else {
            mismatch(id, "the block has no such deterministic path".to_owned());
            continue;
        };
        if cells.len() != 4 {
            mismatch(id, format!("{} cells, expected 4", cells.len()));
            continue;
        }
        if unticked(cells[1]) != path.name {
            mismatch(
                id,
                format!("name is {:?} there, {:?} in the block", cells[1], path.name),
            );
        }
        let kind = match path.kind {
            PathKind::ReservedAgent => "reserved agent",
            PathKind::Gate => "gates",
            PathKind::Transition => "transitions",
            PathKind::Dispatch => "dispatch",
        };
        if !cells[2].starts_with(kind) {
            mismatch(
                id,
                format!("kind is {:?} there, {kind} in the block", cells[2]),
            );
        }
        if let Some(stage) = &path.stage
            && !cells[2].contains(&format!("stage `{stage}`"))
        {
            mismatch(id, format!("the kind cell does not name stage `{stage}`"));
        }
        // Every (file, function) of the cell is a location, and back.
        let mut named = Vec::new();
        for segment in cells[3].split(';') {
            let Some((file, fns)) = segment.split_once(':').filter(|(f, _)| f.contains(".rs`"))
            else {
                mismatch(
                    id,
                    format!("{:?} is not `file.rs`: `function`, …", segment.trim()),
                );
                continue;
            };
            let file = unticked(file);
            for function in ticked(fns) {
                named.push((file.to_owned(), function.to_owned()));
            }
        }
        let locations: Vec<(String, String)> = path
            .locations
            .iter()
            .filter_map(|l| {
                let p = parse_location(l)?;
                Some((p.file.to_owned(), p.item.join("::")))
            })
            .collect();
        for (file, function) in &named {
            if !locations
                .iter()
                .any(|(f, n)| f.ends_with(&format!("/{file}")) && n == function)
            {
                mismatch(
                    id,
                    format!("{file}: {function} is not one of its locations"),
                );
            }
        }
        for (file, function) in &locations {
            if !named
                .iter()
                .any(|(f, n)| file.ends_with(&format!("/{f}")) && n == function)
            {
                mismatch(
                    id,
                    format!("location {file}::{function} is not in the prose"),
                );
            }
        }
    }
    for path in &inventory.deterministic {
        if !seen.contains(&path.id) {
            mismatch(
                &path.id,
                "the path has no row in the prose table".to_owned(),
            );
        }
    }
    // K: id | agent output | what it steers | mitigation
    let ids: BTreeSet<String> = rows(text, 'K').iter().map(|c| c[0].to_owned()).collect();
    for point in &inventory.consumption {
        if !ids.contains(&point.id) {
            mismatch(
                &point.id,
                "the consumption point has no row in the prose table".to_owned(),
            );
        }
    }
    for id in &ids {
        if !inventory.consumption.iter().any(|c| c.id == *id) {
            mismatch(id, "the block has no such consumption point".to_owned());
        }
    }
}

trait FromStrOpt: Sized {
    fn from_str_opt(s: &str) -> Option<Self>;
}

impl FromStrOpt for Stage {
    fn from_str_opt(s: &str) -> Option<Stage> {
        s.parse().ok()
    }
}
