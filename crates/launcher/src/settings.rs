//! The settings types and limits that `config`, `preset`, `sandbox` and the
//! engine share, below them all (each is re-exported where it was named
//! before: `preset::AgentKind`, `sandbox::{SandboxConfig, default_mode}`,
//! `MAX_ARTIFACT_BYTES`). Their behaviour stays with their modules: the
//! preset table implements [`AgentKind`], the sandbox [`SandboxConfig`].

use std::path::PathBuf;

use orch_process::exec::SandboxMode;
use orch_process::sandbox;

/// Which agent CLI orch runs (`ORCH_AGENT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AgentKind {
    /// Claude Code (`@anthropic-ai/claude-code`).
    #[default]
    Claude,
    /// Codex CLI (`@openai/codex`).
    Codex,
    /// Gemini CLI (`@google/gemini-cli`).
    Gemini,
    /// Any other program: `ORCH_AGENT_CMD`, no credential but those named.
    Custom,
}

/// The sandbox settings (`ORCH_SANDBOX`, `ORCH_SANDBOX_AGENT_DIRS`,
/// `ORCH_SANDBOX_CACHE_DIRS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// How strictly runs are confined.
    pub mode: SandboxMode,
    /// Folders and files the agent CLI writes its own state to (its
    /// preset's, e.g. Claude Code's `~/.claude` and `~/.claude.json`, and
    /// `ORCH_SANDBOX_AGENT_DIRS`): writable for agents only.
    pub agent_dirs: Vec<PathBuf>,
    /// Caches every kind of run may write (cargo, npm, pip, go), besides the
    /// repository's own `--cache-dir`s.
    pub cache_dirs: Vec<PathBuf>,
    /// More paths no run may read: the database and its files when they live
    /// outside orch's home.
    pub hidden: Vec<PathBuf>,
}

/// `required` where the kernel can enforce the whole sandbox, else
/// `best-effort` (which runs, and records with every run what was
/// enforced: never a silent downgrade).
#[must_use]
pub fn default_mode() -> SandboxMode {
    if sandbox::check_required().is_ok() {
        SandboxMode::Required
    } else {
        SandboxMode::BestEffort
    }
}

/// The most bytes of an artifact a gate reads; a larger artifact fails
/// closed (no reader of markdown reads a gigabyte either).
pub const MAX_ARTIFACT_BYTES: u64 = 256 * 1024 * 1024;
