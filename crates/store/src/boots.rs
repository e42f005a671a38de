//! The limits of a boot id and the SQL that finds the boots holding jobs:
//! what the id types and the `/queue` snapshot's plan test share with the
//! boot guard (`crate::boot_guard`), in a module that imports nothing.

/// The longest boot id, in bytes (and characters: all are ASCII).
pub const MAX_BOOT_ID_LEN: usize = 64;

/// The boots, other than `?1`, that hold a running job.
pub(crate) const LEASING_BOOTS_SQL: &str = "SELECT DISTINCT lease_boot_id FROM jobs \
     WHERE state = 'running' AND lease_boot_id <> ?1 ORDER BY lease_boot_id";
