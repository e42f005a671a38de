//! The checks that read the code: locations, the process-start allow-list,
//! the single transport and its one caller, and the registry of reserved
//! agents.

use std::collections::BTreeSet;
use std::path::Path;

use crate::code::{Unit, Workspace};
use crate::finding::{
    Drift, LAUNCH_LOCATION, REGISTRY_LOCATION, TRANSPORT_LOCATION, parse_location,
};
use crate::inventory::{Inventory, PathKind};

pub(crate) fn check_locations(
    root: &Path,
    inventory: &Inventory,
    ws: &Workspace,
    out: &mut Vec<Drift>,
) {
    let entries = std::iter::once((&inventory.transport.id, &inventory.transport.locations))
        .chain(inventory.call_sites.iter().map(|s| (&s.id, &s.locations)))
        .chain(
            inventory
                .deterministic
                .iter()
                .map(|d| (&d.id, &d.locations)),
        )
        .chain(inventory.consumption.iter().map(|c| (&c.id, &c.locations)));
    for (id, locations) in entries {
        for location in locations {
            let Some(parsed) = parse_location(location) else {
                out.push(Drift::BadLocation {
                    id: id.clone(),
                    location: location.clone(),
                });
                continue;
            };
            if !root.join(parsed.file).is_file() {
                out.push(Drift::MissingFile {
                    id: id.clone(),
                    location: location.clone(),
                });
                continue;
            }
            // Only code that ships counts: a `#[cfg(test)]` stub of the
            // same name is not the function.
            let found = ws.units.iter().any(|u| {
                !u.test
                    && u.file == parsed.file
                    && u.qualified.len() >= parsed.item.len()
                    && u.qualified[u.qualified.len() - parsed.item.len()..]
                        .iter()
                        .zip(&parsed.item)
                        .all(|(a, b)| a == b)
            });
            if !found {
                out.push(Drift::MissingFunction {
                    id: id.clone(),
                    location: location.clone(),
                });
            }
        }
    }
}

/// The last two segments of a path as written: `exec::start`.
fn short(shown: &str) -> String {
    let parts: Vec<&str> = shown.split("::").collect();
    parts[parts.len().saturating_sub(2)..].join("::")
}

/// Each unit's resolved edges (callee, the path as written).
fn edges(ws: &Workspace) -> Vec<Vec<(usize, String)>> {
    ws.units
        .iter()
        .map(|u| {
            let mut e: Vec<(usize, String)> = Vec::new();
            for (path, shown) in &u.refs {
                for v in ws.resolve(path) {
                    if !e.iter().any(|(w, _)| *w == v) {
                        e.push((v, shown.clone()));
                    }
                }
            }
            e
        })
        .collect()
}

/// The transitive process-start evidence of every unit: its own primitive,
/// a call into another crate's unit that starts one (`exec::start`), or a
/// call to a unit of its crate that does (`helper() → …`). Nothing is
/// inherited through `skip` (the transport, whose callers are checked
/// apart).
fn starters(
    ws: &Workspace,
    edges: &[Vec<(usize, String)>],
    skip: Option<usize>,
) -> Vec<Option<String>> {
    let mut evidence: Vec<Option<String>> = ws
        .units
        .iter()
        .map(|u| {
            if u.test {
                None
            } else {
                u.primitives.first().cloned()
            }
        })
        .collect();
    loop {
        let mut changed = false;
        for (i, unit) in ws.units.iter().enumerate() {
            if evidence[i].is_some() || unit.test {
                continue;
            }
            for (v, shown) in &edges[i] {
                if Some(*v) == skip || *v == i || ws.units[*v].test {
                    continue;
                }
                if let Some(found) = &evidence[*v] {
                    let callee = &ws.units[*v];
                    evidence[i] = Some(if callee.krate == unit.krate {
                        format!(
                            "{}() → {found}",
                            callee.qualified.last().cloned().unwrap_or_default()
                        )
                    } else {
                        short(shown)
                    });
                    changed = true;
                    break;
                }
            }
        }
        if !changed {
            return evidence;
        }
    }
}

/// Whether `unit` starts a process *itself*: a primitive, or a call into
/// another crate's unit that starts one (the process machinery's entry
/// points). Returns the evidence.
fn start_site(
    ws: &Workspace,
    unit: &Unit,
    edges: &[(usize, String)],
    evidence: &[Option<String>],
) -> Option<String> {
    if let Some(p) = unit.primitives.first() {
        return Some(p.clone());
    }
    edges.iter().find_map(|(v, shown)| {
        let callee = &ws.units[*v];
        (callee.krate != unit.krate && !callee.test && evidence[*v].is_some()).then(|| short(shown))
    })
}

pub(crate) fn check_transports(
    inventory: Option<&Inventory>,
    ws: &Workspace,
    out: &mut Vec<Drift>,
) {
    let transport = ws
        .units
        .iter()
        .position(|u| !u.test && u.location() == TRANSPORT_LOCATION);
    let edges = edges(ws);
    let evidence = starters(ws, &edges, None);
    let inherited = starters(ws, &edges, transport);
    let allowed: BTreeSet<&str> = inventory
        .map(|i| {
            i.process_starts
                .iter()
                .map(|p| p.location.as_str())
                .collect()
        })
        .unwrap_or_default();
    let mut transport_seen = false;
    let mut sites = BTreeSet::new();
    for (i, unit) in ws.units.iter().enumerate() {
        if unit.test {
            continue;
        }
        let location = unit.location();
        if Some(i) == transport {
            transport_seen = evidence[i].is_some() && !unit.reads.is_empty();
        } else if let (Some(starts), Some(reads)) = (&inherited[i], unit.reads.first()) {
            out.push(Drift::SecondTransport {
                file: unit.file.clone(),
                function: unit.name(),
                starts: starts.clone(),
                reads: reads.clone(),
            });
            continue;
        }
        if let Some(starts) = start_site(ws, unit, &edges[i], &evidence) {
            sites.insert(location.clone());
            if inventory.is_some() && !allowed.contains(location.as_str()) {
                out.push(Drift::ProcessStartNotAllowed {
                    location: location.clone(),
                    starts,
                });
            }
        }
        if location != LAUNCH_LOCATION
            && let Some(t) = transport
            && edges[i].iter().any(|(v, _)| *v == t)
        {
            out.push(Drift::SpawnCaller { location });
        }
    }
    for entry in allowed {
        if !sites.contains(entry) {
            out.push(Drift::StaleProcessStart {
                location: entry.to_owned(),
            });
        }
    }
    if !transport_seen {
        out.push(Drift::TransportNotRecognised);
    }
}

/// The entries of the default registry, as written, without blanks
/// (`SuiteRunner::testing()`).
fn registry(ws: &Workspace) -> Vec<String> {
    let Some(unit) = ws
        .units
        .iter()
        .find(|u| !u.test && u.location() == REGISTRY_LOCATION)
    else {
        return Vec::new();
    };
    let compact: String = unit.text.split_whitespace().collect();
    let mut out = Vec::new();
    let mut rest = compact.as_str();
    while let Some(at) = rest.find("Box::new(") {
        rest = &rest[at + "Box::new(".len()..];
        let mut depth = 1usize;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push(rest[..end].to_owned());
        rest = &rest[end..];
    }
    out
}

/// Every reserved agent is registered; every `implemented_by` names one
/// that is, at the call site's stage.
pub(crate) fn check_registry(inventory: &Inventory, ws: &Workspace, out: &mut Vec<Drift>) {
    let registry = registry(ws);
    let compact = |s: &str| s.split_whitespace().collect::<String>();
    let mut registered = BTreeSet::new();
    for path in &inventory.deterministic {
        if path.kind != PathKind::ReservedAgent {
            continue;
        }
        match &path.intercept {
            Some(intercept) if registry.contains(&compact(intercept)) => {
                registered.insert(path.name.as_str());
            }
            intercept => out.push(Drift::NotRegistered {
                id: path.id.clone(),
                name: path.name.clone(),
                intercept: intercept.clone(),
                registry: registry.clone(),
            }),
        }
    }
    for site in &inventory.call_sites {
        let Some(name) = &site.implemented_by else {
            continue;
        };
        let Some(path) = inventory
            .deterministic
            .iter()
            .find(|d| d.kind == PathKind::ReservedAgent && d.name == *name)
        else {
            continue; // UnknownImplementer says it.
        };
        let why = if !registered.contains(name.as_str()) {
            Some(format!("{REGISTRY_LOCATION} does not register {name}"))
        } else if path.stage.as_deref() != Some(site.stage.as_str()) {
            Some(format!(
                "{name} serves stage {}, not {}",
                path.stage.as_deref().unwrap_or("none"),
                site.stage
            ))
        } else {
            None
        };
        if let Some(why) = why {
            out.push(Drift::ImplementerNotRegistered {
                id: site.id.clone(),
                name: name.clone(),
                why,
            });
        }
    }
}

pub(crate) fn check_consumption(inventory: &Inventory, out: &mut Vec<Drift>) {
    for point in &inventory.consumption {
        if point.mitigation.trim().is_empty() {
            out.push(Drift::MissingMitigation {
                id: point.id.clone(),
            });
        }
    }
}

pub(crate) fn check_test_support(inventory: &Inventory, ws: &Workspace, out: &mut Vec<Drift>) {
    for package in &inventory.scan.test_support {
        for manifest in &ws.manifests {
            if manifest.dependencies.contains(package) {
                out.push(Drift::TestSupportDependency {
                    package: package.clone(),
                    dependent: manifest.package.clone(),
                });
            }
        }
    }
}
