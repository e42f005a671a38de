//! The reads and writes of the store, one file per table (`transitions`
//! holds `gate_decisions`, written and read with their transition). Each
//! file adds its methods to [`Store`](crate::Store) and exposes the
//! in-transaction inserts that other writes share. The jobs queue's state
//! machine over the `jobs` rows is `crate::queue`; writes that span several
//! tables for an operator are `crate::operator`.

pub(crate) mod agent_runs;
pub(crate) mod alerts;
pub(crate) mod effects;
pub(crate) mod jobs;
pub(crate) mod repos;
pub(crate) mod tasks;
pub(crate) mod transitions;
