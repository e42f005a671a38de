//! Stages and roles (DESIGN §3.1, §3.2).

use std::fmt;
use std::str::FromStr;

/// A stage of the pipeline, in pipeline order, followed by the two terminal
/// states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// The analyst reads the task and writes what is asked.
    Analysis,
    /// The architect decides how it will be built.
    Architecture,
    /// The developer builds it.
    Development,
    /// The reviewer approves or requests changes.
    Review,
    /// The tester runs the tests.
    Testing,
    /// The staging suite runs (the deployer, or the staging runner in its place).
    DeployStaging,
    /// The change is deployed.
    Deploy,
    /// The deployed change is watched.
    PostDeploy,
    /// Terminal: the task is finished.
    Done,
    /// Terminal: the task needs a human.
    Blocked,
}

impl Stage {
    /// Every stage in pipeline order, the terminal states last.
    pub const ALL: [Stage; 10] = [
        Stage::Analysis,
        Stage::Architecture,
        Stage::Development,
        Stage::Review,
        Stage::Testing,
        Stage::DeployStaging,
        Stage::Deploy,
        Stage::PostDeploy,
        Stage::Done,
        Stage::Blocked,
    ];

    /// The stage's name as it appears in the database, artifacts and the API.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Analysis => "analysis",
            Stage::Architecture => "architecture",
            Stage::Development => "development",
            Stage::Review => "review",
            Stage::Testing => "testing",
            Stage::DeployStaging => "deploy-staging",
            Stage::Deploy => "deploy",
            Stage::PostDeploy => "post-deploy",
            Stage::Done => "done",
            Stage::Blocked => "blocked",
        }
    }

    /// Whether the task stops here (`done` or `blocked`): no role runs.
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        match self {
            Stage::Done | Stage::Blocked => true,
            Stage::Analysis
            | Stage::Architecture
            | Stage::Development
            | Stage::Review
            | Stage::Testing
            | Stage::DeployStaging
            | Stage::Deploy
            | Stage::PostDeploy => false,
        }
    }

    /// The role a job at this stage is assigned to, or `None` for a terminal
    /// state. `deploy-staging` is the `deployer`'s; the staging runner serves
    /// it by intercepting deployer jobs, so it is not named here.
    #[must_use]
    pub const fn role(self) -> Option<Role> {
        match self {
            Stage::Analysis => Some(Role::Analyst),
            Stage::Architecture => Some(Role::Architect),
            Stage::Development => Some(Role::Developer),
            Stage::Review => Some(Role::Reviewer),
            Stage::Testing => Some(Role::Tester),
            Stage::DeployStaging => Some(Role::Deployer),
            Stage::Deploy => Some(Role::DeployFinalizer),
            Stage::PostDeploy => Some(Role::PostDeployMonitor),
            Stage::Done | Stage::Blocked => None,
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a stage (or a role) was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {found:?}: expected one of {expected}")]
pub struct ParseNameError {
    /// `"stage"` or `"role"`.
    pub what: &'static str,
    /// The text that was given.
    pub found: String,
    /// The accepted names, comma-separated.
    pub expected: String,
}

impl FromStr for Stage {
    type Err = ParseNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == s)
            .ok_or_else(|| ParseNameError {
                what: "stage",
                found: s.to_owned(),
                expected: join_names(Stage::ALL.iter().map(|s| s.as_str())),
            })
    }
}

/// Whether a role is an LLM agent or deterministic code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoleKind {
    /// Spawned as an LLM agent CLI through the single transport.
    Llm,
    /// A reserved agent: deterministic code intercepted before the transport.
    Reserved,
}

/// A role: who runs a stage (DESIGN §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// LLM: writes the analysis.
    Analyst,
    /// LLM: writes the architecture.
    Architect,
    /// LLM: writes the code.
    Developer,
    /// LLM: reviews the change.
    Reviewer,
    /// LLM: runs and reports the tests (replaced by the test runner where
    /// its mode is `on`).
    Tester,
    /// LLM: runs the staging suite (replaced by the staging runner where enabled).
    Deployer,
    /// Reserved: finalizes the deploy.
    DeployFinalizer,
    /// Reserved: watches the deployed change.
    PostDeployMonitor,
    /// Reserved: runs the staging suite in the deployer's place.
    StagingRunner,
    /// Reserved: runs the repository's test command in the tester's place
    /// (or beside it, in shadow mode).
    TestRunner,
}

impl Role {
    /// Every role: the LLM roles first, then the reserved agents.
    pub const ALL: [Role; 10] = [
        Role::Analyst,
        Role::Architect,
        Role::Developer,
        Role::Reviewer,
        Role::Tester,
        Role::Deployer,
        Role::DeployFinalizer,
        Role::PostDeployMonitor,
        Role::StagingRunner,
        Role::TestRunner,
    ];

    /// The role's name as it appears in the database, prompts and the API.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Analyst => "analyst",
            Role::Architect => "architect",
            Role::Developer => "developer",
            Role::Reviewer => "reviewer",
            Role::Tester => "tester",
            Role::Deployer => "deployer",
            Role::DeployFinalizer => "deploy-finalizer",
            Role::PostDeployMonitor => "post-deploy-monitor",
            Role::StagingRunner => "staging-runner",
            Role::TestRunner => "test-runner",
        }
    }

    /// Whether the role is an LLM agent or a reserved (deterministic) agent.
    #[must_use]
    pub const fn kind(self) -> RoleKind {
        match self {
            Role::Analyst
            | Role::Architect
            | Role::Developer
            | Role::Reviewer
            | Role::Tester
            | Role::Deployer => RoleKind::Llm,
            Role::DeployFinalizer
            | Role::PostDeployMonitor
            | Role::StagingRunner
            | Role::TestRunner => RoleKind::Reserved,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ParseNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| ParseNameError {
                what: "role",
                found: s.to_owned(),
                expected: join_names(Role::ALL.iter().map(|r| r.as_str())),
            })
    }
}

fn join_names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for stage in Stage::ALL {
            assert_eq!(stage.as_str().parse::<Stage>(), Ok(stage));
        }
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
    }

    #[test]
    fn unknown_names_are_typed_errors() {
        let err = "Deploy-Staging".parse::<Stage>().unwrap_err();
        assert!(err.to_string().contains("unknown stage \"Deploy-Staging\""));
        assert!(err.to_string().contains("deploy-staging"));
        let err = "qa".parse::<Role>().unwrap_err();
        assert_eq!(err.what, "role");
    }

    #[test]
    fn only_terminal_states_have_no_role() {
        for stage in Stage::ALL {
            assert_eq!(stage.role().is_none(), stage.is_terminal(), "{stage}");
        }
    }
}
