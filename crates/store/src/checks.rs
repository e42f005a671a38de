//! Checks of values the store is handed: digests and commit names.

use crate::error::{Result, StoreError};

pub(crate) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && is_lower_hex(s)
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A git object name: 40 (SHA-1) or 64 (SHA-256) lower-case hex digits.
pub(crate) fn check_commit(what: &'static str, commit: Option<&str>) -> Result<()> {
    match commit {
        Some(c) if !(matches!(c.len(), 40 | 64) && is_lower_hex(c)) => {
            Err(StoreError::InvalidInput {
                what,
                why: "a commit is 40 or 64 lower-case hex digits (a full object name)",
            })
        }
        _ => Ok(()),
    }
}
