//! What counts as a process start: the exec family, the names that start a
//! process only from `libc` or `nix`, and `Command::new` (not `clap`'s).

use std::collections::BTreeMap;

/// Function names that start a process whatever crate they come from (the
/// `libc`/`nix` exec family, fork and spawn).
const EXEC_FAMILY: &[&str] = &[
    "execv",
    "execve",
    "execvp",
    "execvpe",
    "execl",
    "execle",
    "execlp",
    "execveat",
    "fexecve",
    "posix_spawn",
    "posix_spawnp",
    "fork",
    "vfork",
    "popen",
];

/// Names that start a process only from `libc` or `nix` (too common
/// elsewhere: `Arc::clone`).
const LIBC_ONLY: &[&str] = &["system", "clone", "clone3"];

/// Crates whose `Command::new` builds something other than a process.
const NOT_PROCESSES: &[&str] = &["clap"];

/// `libc::system` for a bare `system` under `use libc::*` (or `nix`): the
/// names that start a process only from those crates.
pub(super) fn libc_glob(
    segs: &[String],
    aliases: &BTreeMap<String, Vec<String>>,
) -> Option<Vec<String>> {
    let [name] = segs else { return None };
    if !LIBC_ONLY.contains(&name.as_str()) {
        return None;
    }
    aliases
        .iter()
        .find(|(key, target)| {
            key.starts_with('*') && target.iter().any(|s| s == "libc" || s == "nix")
        })
        .map(|(_, target)| {
            target
                .iter()
                .chain(std::iter::once(name))
                .cloned()
                .collect()
        })
}

/// A direct process start, when `path` is one.
pub(super) fn primitive(path: &[String]) -> Option<String> {
    let last = path.last()?;
    let n = path.len();
    if n >= 2
        && last == "new"
        && path[n - 2] == "Command"
        && !path
            .first()
            .is_some_and(|f| NOT_PROCESSES.contains(&f.as_str()))
    {
        return Some("Command::new".to_owned());
    }
    let from_libc = path.iter().any(|s| s == "libc" || s == "nix");
    if EXEC_FAMILY.contains(&last.as_str()) || (from_libc && LIBC_ONLY.contains(&last.as_str())) {
        let shown: Vec<&str> = path
            .iter()
            .map(String::as_str)
            .skip_while(|s| !matches!(*s, "libc" | "nix"))
            .collect();
        return Some(if shown.is_empty() {
            last.clone()
        } else {
            shown.join("::")
        });
    }
    None
}

pub(super) fn push_once(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}
