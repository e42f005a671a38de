//! The records: what a row of each table is as a Rust value, and what an
//! insert takes, one file per table. The mapping from a row is in
//! `crate::rows`; the reads and writes of each table in `crate::tables`.

pub(crate) mod agent_runs;
pub(crate) mod alerts;
pub(crate) mod effects;
pub(crate) mod jobs;
pub(crate) mod repos;
pub(crate) mod tasks;
pub(crate) mod transitions;

// The paths `snapshot` and `shadow` import (`crate::records::…`).
pub(crate) use crate::checks::check_commit;
pub(crate) use crate::records::alerts::Alert;
pub(crate) use crate::rows::alert_from_row;
