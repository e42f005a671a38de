//! `orch repo add|update|remove|list`: the repository's checks are the
//! launcher's ([`orch_launcher::repos`]), its JSON is [`RepoView`]; this
//! turns flags into requests, stores and prints.

use std::path::{Path, PathBuf};

use orch_launcher::repos::{self, RepoError, RepoRequest};
use orch_launcher::views::{RemovedRepoView, RepoView, render};
use orch_launcher::worktree::Git;
use orch_store::{RepoChange, Store};

use super::{Globals, Setup, now_ms, print_json, print_view};
use crate::cli::{RepoAddArgs, RepoCommand, RepoUpdateArgs};
use crate::{CliError, Ending};

/// Runs an `orch repo` command.
pub(crate) fn run(
    setup: &Setup,
    globals: &Globals,
    command: RepoCommand,
) -> Result<Ending, CliError> {
    match command {
        RepoCommand::Add(args) => add(setup, &args),
        RepoCommand::Update(args) => update(setup, &args),
        RepoCommand::Remove { name, blocked_too } => remove(setup, &name, blocked_too),
        RepoCommand::List => list(setup, globals),
        RepoCommand::Check { name } => check(setup, globals, &name),
    }
}

/// `orch repo list`.
fn list(setup: &Setup, globals: &Globals) -> Result<Ending, CliError> {
    let repos = setup.open_store()?.repos()?;
    let views = repos.iter().map(RepoView::new).collect::<Vec<_>>();
    print_view(globals, &views, || render::repo_list(&views, now_ms()))?;
    Ok(Ending::Done)
}

/// `orch repo check`: the repository's commands tried once in a throwaway
/// tree; exit 1 when any did not pass.
fn check(setup: &Setup, globals: &Globals, name: &str) -> Result<Ending, CliError> {
    let store = setup.open_store()?;
    let Some(repo) = store.repo_by_name(name)? else {
        return Err(CliError::Tool(format!(
            "there is no repository {name:?}; see `orch repo list`"
        )));
    };
    drop(store);
    let report = orch_launcher::repo_check::check_repo(&repo, &setup.launcher())
        .map_err(|error| CliError::Tool(format!("repository {name:?}: {error}")))?;
    print_view(globals, &report, || {
        orch_launcher::repo_check::render(&report)
    })?;
    Ok(if report.passed {
        Ending::Done
    } else {
        Ending::Failed
    })
}

/// `orch repo add`.
fn add(setup: &Setup, args: &RepoAddArgs) -> Result<Ending, CliError> {
    repos::check_name(&args.name)?;
    let path = repos::checked_folder(&args.path)?;
    let store = setup.open_store()?;
    let mut request = RepoRequest::new(&args.name, &path, &args.staging_cmd);
    request.base_ref.clone_from(&args.base);
    request.deploy_command.clone_from(&args.deploy_cmd);
    request.health_command.clone_from(&args.health_cmd);
    request.test_command.clone_from(&args.test_cmd);
    request.setup_command.clone_from(&args.setup_cmd);
    request.suite.clone_from(&args.suite);
    request.suite_network = args.network;
    request.cache_dirs.clone_from(&args.cache_dir);
    request.pass_env.clone_from(&args.pass_env);
    let checked = repos::validate(&store, &Git::new(&setup.launcher()), &setup.home, &request)?;
    let id = store
        .add_repo(&checked.repo)
        .map_err(|error| CliError::BadArgument(error.to_string()))?;
    let repo = store.repo(id)?;
    print_json(&RepoView::new(&repo).with_isolation(Some(checked.isolation)))?;
    Ok(Ending::Done)
}

/// A blank optional command clears it.
fn optional(command: Option<&String>) -> Option<Option<String>> {
    command.map(|c| Some(c.clone()).filter(|c| !c.trim().is_empty()))
}

/// `orch repo update`.
fn update(setup: &Setup, args: &RepoUpdateArgs) -> Result<Ending, CliError> {
    let path = match &args.path {
        Some(path) => Some(repos::checked_folder(path)?.to_string_lossy().into_owned()),
        None => None,
    };
    if args
        .staging_cmd
        .as_deref()
        .is_some_and(|c| c.trim().is_empty())
    {
        return Err(RepoError::BlankStagingCommand.into());
    }
    let store = setup.open_store()?;
    let path = match path {
        Some(path) => Some(
            repos::registered_once(&store, Path::new(&path), Some(&args.name))?
                .to_string_lossy()
                .into_owned(),
        ),
        None => None,
    };
    // The folder and base in force after the change are checked as `repo
    // add` checks them, and the isolation they give is reported.
    let current = store.repo_by_name(&args.name)?;
    let base_ref = match args.base.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(base) => Some(Some(base.to_owned())),
    };
    let isolation = match &current {
        Some(repo) if path.is_some() || base_ref.is_some() => {
            let folder = path.clone().unwrap_or_else(|| repo.path.clone());
            let base = match &base_ref {
                Some(base) => base.clone(),
                None => repo.base_ref.clone(),
            };
            Some(repos::isolation(
                &Git::new(&setup.launcher()),
                Path::new(&folder),
                base.as_deref(),
            )?)
        }
        // An unknown repository is the store's to say (exit 2).
        Some(_) | None => None,
    };
    let suite_paths = match &args.suite {
        Some(text) => Some(repos::suite_patterns(Some(text))?),
        None => None,
    };
    // "" clears the list: the runs write only the worktree and the defaults.
    let cache_dirs = match &args.cache_dir {
        Some(text) => Some(repos::cache_dirs(
            &text
                .split(',')
                .map(|d| PathBuf::from(d.trim()))
                .collect::<Vec<_>>(),
            &setup.home,
        )?),
        None => None,
    };
    let change = RepoChange {
        test_runner_mode: args.test_runner.clone().map(|setting| setting.0),
        suite_network: args.network,
        cache_dirs,
        suite_paths,
        setup_command: optional(args.setup_cmd.as_ref()),
        path,
        base_ref,
        test_command: optional(args.test_cmd.as_ref()),
        staging_command: args.staging_cmd.clone(),
        deploy_command: optional(args.deploy_cmd.as_ref()),
        health_command: optional(args.health_cmd.as_ref()),
        pass_env: args.pass_env.as_ref().map(|list| {
            list.split(',')
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect()
        }),
    };
    let repo = store.update_repo(&args.name, &change)?;
    print_json(&RepoView::new(&repo).with_isolation(isolation))?;
    Ok(Ending::Done)
}

/// `orch repo remove`: the rows in one transaction, then the task folders
/// (a later task could otherwise be given a removed one's id and folder).
fn remove(setup: &Setup, name: &str, blocked_too: bool) -> Result<Ending, CliError> {
    let store: Store = setup.open_store()?;
    // The worktrees its finished tasks kept (`--keep-worktree`, or one with
    // changes left in it): read before the rows go, removed after.
    let worktrees: Vec<(String, PathBuf)> = match store.repo_by_name(name)? {
        Some(repo) => store
            .tasks_where(None, Some(repo.id), u32::MAX)?
            .into_iter()
            .filter_map(|task| {
                task.worktree
                    .map(|dir| (repo.path.clone(), PathBuf::from(dir)))
            })
            .collect(),
        None => Vec::new(),
    };
    let removed = store.remove_repo_with(name, blocked_too)?;
    let launcher = setup.launcher();
    let git = orch_launcher::worktree::Git::new(&launcher);
    let mut kept_worktrees = Vec::new();
    for (repo_path, dir) in &worktrees {
        // A later task may be given a removed one's id, and so its folder;
        // the branch stays (it holds the work). One with uncommitted changes
        // is kept, and said.
        match git.remove(Path::new(repo_path), dir) {
            Ok(true) => {}
            Ok(false) => kept_worktrees.push(dir.to_string_lossy().into_owned()),
            Err(error) => {
                eprintln!(
                    "warning: cannot remove the worktree {}: {error}; remove it by hand (git worktree remove)",
                    dir.display()
                );
                kept_worktrees.push(dir.to_string_lossy().into_owned());
            }
        }
    }
    for task in &removed.tasks {
        let dir = launcher.task_dir(task.get());
        if let Err(error) = std::fs::remove_dir_all(&dir)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!(
                "warning: cannot remove the folder {} of removed task {task}: {error}; remove it by hand",
                dir.display()
            );
        }
    }
    print_json(&RemovedRepoView::new(name, &removed, kept_worktrees))?;
    Ok(Ending::Done)
}
