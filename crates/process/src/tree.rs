//! Finding a process's descendants through `/proc`.
//!
//! The supervisor is a child subreaper, so every descendant of the suite is a
//! descendant of the supervisor whatever it did (a new group, a new session, a
//! double fork): orphans are reparented to the supervisor, not to init. The
//! walk follows `/proc/PID/task/TID/children` from the supervisor down; where
//! the kernel lacks that file (`CONFIG_PROC_CHILDREN` off) it falls back to
//! reading every `/proc/PID/stat` and following parent pids.
//!
//! When the supervisor itself is gone (killed by the run it supervised), the
//! runner finds what is left by two traits the kernel keeps or the run
//! carries: the session the supervisor opened ([`in_session`]), which every
//! process that did not start a session of its own stays in, and the run's
//! marker in the environment ([`carrying_marker`]).

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::io::Read;

/// A live (or zombie) descendant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Descendant {
    pub(crate) pid: i32,
    /// Its process group.
    pub(crate) pgid: i32,
}

/// Every descendant of `root`, parents before children.
pub(crate) fn descendants(root: i32) -> Vec<Descendant> {
    if fs::metadata(format!("/proc/{root}/task/{root}/children")).is_ok() {
        walk(root, children_from_task_files)
    } else {
        let by_parent = parent_map();
        walk(root, |pid| by_parent.get(&pid).cloned().unwrap_or_default())
    }
}

fn walk(root: i32, mut children: impl FnMut(i32) -> Vec<i32>) -> Vec<Descendant> {
    let mut out = Vec::new();
    let mut queue = VecDeque::from([root]);
    // A bound against a cycle that cannot happen but must not hang us either.
    let mut budget = 1_000_000usize;
    while let Some(pid) = queue.pop_front() {
        for child in children(pid) {
            budget = budget.saturating_sub(1);
            if budget == 0 {
                return out;
            }
            out.push(Descendant {
                pid: child,
                pgid: stat(child).map_or(0, |s| s.pgid),
            });
            queue.push_back(child);
        }
    }
    out
}

fn children_from_task_files(pid: i32) -> Vec<i32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        if let Ok(text) = fs::read_to_string(task.path().join("children")) {
            out.extend(
                text.split_ascii_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    out
}

fn parent_map() -> BTreeMap<i32, Vec<i32>> {
    let mut map: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for pid in all_pids() {
        if let Some(stat) = stat(pid) {
            map.entry(stat.ppid).or_default().push(pid);
        }
    }
    map
}

/// Every process id in `/proc`.
fn all_pids() -> impl Iterator<Item = i32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
}

/// Every process in session `sid` but `except`.
pub(crate) fn in_session(sid: i32, except: i32) -> Vec<i32> {
    all_pids()
        .filter(|pid| *pid != except)
        .filter(|pid| stat(*pid).is_some_and(|s| s.session == sid))
        .collect()
}

/// How much of a process's environment is read when looking for a marker.
const ENVIRON_READ_MAX: u64 = 1024 * 1024;

/// Every process whose environment holds the entry `marker` (`KEY=VALUE`),
/// but `except`.
pub(crate) fn carrying_marker(marker: &[u8], except: i32) -> Vec<i32> {
    all_pids()
        .filter(|pid| *pid != except)
        .filter(|pid| {
            let mut environ = Vec::new();
            fs::File::open(format!("/proc/{pid}/environ"))
                .and_then(|file| file.take(ENVIRON_READ_MAX).read_to_end(&mut environ))
                .is_ok_and(|_| environ.split(|b| *b == 0).any(|entry| entry == marker))
        })
        .collect()
}

/// The command line of `pid`, arguments joined by spaces, cut to `max`
/// characters; empty when it cannot be read (the process is gone, or a
/// kernel thread).
pub(crate) fn command_line(pid: i32, max: usize) -> String {
    let mut bytes = Vec::new();
    let read = fs::File::open(format!("/proc/{pid}/cmdline"))
        .and_then(|file| file.take(4 * max as u64).read_to_end(&mut bytes));
    if read.is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    text.trim_end_matches('\0')
        .replace('\0', " ")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect()
}

#[derive(Debug, Clone, Copy)]
struct Stat {
    ppid: i32,
    pgid: i32,
    session: i32,
}

/// Reads the parent pid and group of `pid` from `/proc/PID/stat`.
fn stat(pid: i32) -> Option<Stat> {
    let text = fs::read(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// `PID (COMM) STATE PPID PGRP ...`; COMM may hold spaces and parentheses, so
/// the fields start after the last `)`.
fn parse_stat(text: &[u8]) -> Option<Stat> {
    let close = text.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(text.get(close + 1..)?).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let _state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgid = fields.next()?.parse().ok()?;
    let session = fields.next()?.parse().ok()?;
    Some(Stat {
        ppid,
        pgid,
        session,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let stat = parse_stat(b"42 (a) b (c)) S 7 42 40 0 -1").unwrap();
        assert_eq!((stat.ppid, stat.pgid, stat.session), (7, 42, 40));
        assert!(parse_stat(b"garbage").is_none());
    }

    #[test]
    fn this_process_has_a_parent_in_both_walks() {
        let me = i32::try_from(std::process::id()).unwrap();
        let parent = stat(me).unwrap().ppid;
        let by_parent = parent_map();
        assert!(by_parent.get(&parent).is_some_and(|c| c.contains(&me)));
        assert!(descendants(parent).iter().any(|d| d.pid == me));
        let session = stat(me).unwrap().session;
        assert!(in_session(session, 0).contains(&me));
        assert!(!in_session(session, me).contains(&me));
    }

    #[test]
    fn this_process_is_found_by_an_entry_of_its_environment() {
        let me = i32::try_from(std::process::id()).unwrap();
        let (key, value) = std::env::vars_os().next().unwrap();
        let mut entry = key.into_encoded_bytes();
        entry.push(b'=');
        entry.extend(value.into_encoded_bytes());
        assert!(carrying_marker(&entry, 0).contains(&me));
        assert!(carrying_marker(b"NO_SUCH_KEY_ANYWHERE=1", 0).is_empty());
        assert!(command_line(me, 200).len() <= 200);
        assert!(!command_line(me, 200).is_empty());
        assert_eq!(command_line(-1, 200), "");
    }
}
