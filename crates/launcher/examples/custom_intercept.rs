//! Drives orch's engine from your own program, with an intercept of your
//! own: every LLM role of the pipeline is served here by deterministic code
//! (it writes the role's artifact with the passing verdict), while orch's
//! reserved agents (staging runner, deploy finalizer, post-deploy monitor)
//! serve their stages as in `orch serve`. No LLM and no network.
//!
//! ```text
//! cargo run -p orch-launcher --example custom_intercept
//! ```
//!
//! Prints each job as it ends and the task's final status (`done`).
#![expect(
    clippy::print_stdout,
    reason = "an example: it says what it did on stdout"
)]

use std::error::Error;
use std::time::{Duration, SystemTime};

use orch_launcher::{
    Engine, Intercept, Intercepted, JobContext, Launch, LauncherConfig, RunControl, RunOutcome,
    RunRecord, StopSignal, reserved,
};
use orch_store::{LeaseOwner, NewRepo, Store, Transport};

/// Serves every job no reserved agent claims: the analyst, architect,
/// developer, reviewer, tester (and the LLM deployer, when the staging
/// runner is not in scope) write their artifact with the passing verdict.
struct Approver;

impl Intercept for Approver {
    fn name(&self) -> &'static str {
        "approver"
    }

    fn claims(&self, _ctx: &JobContext, _config: &LauncherConfig) -> bool {
        // Consulted after orch's reserved agents: whatever reaches it is an
        // LLM role.
        true
    }

    fn run(
        &self,
        ctx: &JobContext,
        _config: &LauncherConfig,
        _control: &RunControl,
    ) -> Intercepted {
        let started = SystemTime::now();
        let verdict = format!(
            "# {} by the approver\n\n{}: {}\n",
            ctx.stage, ctx.spec.verdict_key, ctx.spec.pass_value
        );
        let (outcome, detail) = match std::fs::write(&ctx.artifact, verdict) {
            Ok(()) => (RunOutcome::Passed, "approved".to_owned()),
            Err(error) => (
                RunOutcome::ToolError,
                format!("cannot write the artifact: {error}"),
            ),
        };
        Intercepted::Served(Launch::Ran {
            record: RunRecord {
                role: ctx.role,
                transport: Transport::Deterministic,
                started,
                duration: started.elapsed().unwrap_or(Duration::ZERO),
                exit_code: None,
                outcome,
                usage: orch_launcher::usage::Usage::default(),
                detail,
                sandbox: None,
            },
            alert: None,
        })
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    // The process runner re-executes this program as its supervisor.
    orch_process::supervisor::main_if_requested();

    let dir = std::env::temp_dir().join(format!("orch-example-{}", std::process::id()));
    let home = dir.join("home");
    let folder = dir.join("project");
    std::fs::create_dir_all(&home)?;
    std::fs::create_dir_all(&folder)?;

    let store = Store::open(dir.join("orch.db"))?;
    let mut repo = NewRepo::new("project", folder.to_string_lossy().as_ref(), "true");
    repo.deploy_command = Some("echo deployed".into());
    let repo = store.add_repo(&repo)?;

    let mut intercepts = reserved::default_intercepts();
    intercepts.push(Box::new(Approver));
    let config = LauncherConfig::new(&home);
    let engine = Engine::new(store, config, LeaseOwner::new("example", "worker-0"))
        .with_intercepts(intercepts);

    let (task, _) = engine.create_task(repo, "an example task")?;
    let stop = StopSignal::default();
    while let Some(report) = engine.run_next(&stop)? {
        println!(
            "{} · {} · served by {} · {:?}",
            report.stage,
            report.role,
            report.intercepted_by().unwrap_or("spawn"),
            report.end
        );
    }
    let status = engine.store().task(task)?.status;
    println!("task {task}: {status}");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
