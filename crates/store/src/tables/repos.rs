//! The `repos` table: adding and reading repositories.

use rusqlite::{OptionalExtension, params};

use crate::error::{Result, StoreError, sql};
use crate::records::repos::{NewRepo, Repo};
use crate::rows::{REPO_COLUMNS, repo_from_row};
use crate::store::Store;
use crate::types::RepoId;

/// Checks a repository's optional commands and its `pass_env` names, and
/// returns the names as stored: comma-separated.
pub(crate) fn validate_repo(repo: &NewRepo) -> Result<String> {
    let blank = |c: &Option<String>| c.as_deref().is_some_and(|c| c.trim().is_empty());
    if blank(&repo.deploy_command) {
        return Err(StoreError::InvalidInput {
            what: "deploy_command",
            why: "it is blank; give None when the repository has nothing to deploy",
        });
    }
    if blank(&repo.health_command) {
        return Err(StoreError::InvalidInput {
            what: "health_command",
            why: "it is blank; give None when there is nothing to probe",
        });
    }
    if blank(&repo.test_command) {
        return Err(StoreError::InvalidInput {
            what: "test_command",
            why: "it is blank; give None when the repository has no test command",
        });
    }
    if blank(&repo.setup_command) {
        return Err(StoreError::InvalidInput {
            what: "setup_command",
            why: "it is blank; give None when the repository's worktrees need no setup",
        });
    }
    for dir in &repo.cache_dirs {
        let why = if !dir.starts_with('/') {
            Some(
                "a cache folder is not an absolute path; give it from the root, e.g. /home/me/.cache/pip",
            )
        } else if dir.contains(',') || dir.contains('\0') {
            Some("a cache folder contains ',' or NUL; give each folder as its own entry")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(StoreError::InvalidInput {
                what: "cache_dirs",
                why,
            });
        }
    }
    for pattern in &repo.suite_paths {
        let why = if pattern.trim().is_empty() {
            "a suite path is empty; remove the empty entry"
        } else if pattern.contains(',') {
            "a suite path contains ','; give each pattern as its own entry"
        } else if pattern.contains('\0') {
            "a suite path contains a NUL byte; no path can hold it"
        } else {
            continue;
        };
        return Err(StoreError::InvalidInput {
            what: "suite_paths",
            why,
        });
    }
    if blank(&repo.base_ref) {
        return Err(StoreError::InvalidInput {
            what: "base_ref",
            why: "it is blank; give None to start tasks from the checkout's HEAD",
        });
    }
    for name in &repo.pass_env {
        let why = if name.is_empty() {
            "an environment variable name is empty; remove the empty entry"
        } else if name.contains(',') {
            "an environment variable name contains ','; give each name as its own entry"
        } else if name.contains('=') {
            "an environment variable name contains '='; give names only, never values"
        } else if name.contains('\0') {
            "an environment variable name contains a NUL byte; no environment can hold it"
        } else {
            continue;
        };
        return Err(StoreError::InvalidInput {
            what: "pass_env",
            why,
        });
    }
    Ok(repo.pass_env.join(","))
}

impl Store {
    /// Adds a repository.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidInput`] if a `pass_env` name is empty or holds
    /// `,`, `=` or NUL, or a deploy or health command is blank (give `None`
    /// instead); [`StoreError::Sqlite`] if the name is taken or empty, the
    /// path is empty, or SQLite fails. Nothing is written on an error.
    pub fn add_repo(&self, repo: &NewRepo) -> Result<RepoId> {
        let pass_env = validate_repo(repo)?;
        let now = self.now_ms();
        self.write("add_repo", |tx| {
            tx.execute(
                "INSERT INTO repos (name, path, staging_command, deploy_command, health_command, \
                 pass_env, created_ms, base_ref, test_command, suite_paths, setup_command, \
                 suite_network, cache_dirs) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    repo.name,
                    repo.path,
                    repo.staging_command,
                    repo.deploy_command,
                    repo.health_command,
                    pass_env,
                    now,
                    repo.base_ref,
                    repo.test_command,
                    repo.suite_paths.join(","),
                    repo.setup_command,
                    repo.suite_network.as_str(),
                    repo.cache_dirs.join(",")
                ],
            )
            .map_err(sql("add_repo"))?;
            Ok(RepoId::new(tx.last_insert_rowid()))
        })
    }

    /// Every repository, ordered by name.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn repos(&self) -> Result<Vec<Repo>> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {REPO_COLUMNS} FROM repos ORDER BY name"))
            .map_err(sql("repos"))?;
        stmt.query_map([], repo_from_row)
            .map_err(sql("repos"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql("repos"))
    }

    /// The repository named `name`, if any.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn repo_by_name(&self, name: &str) -> Result<Option<Repo>> {
        self.conn
            .query_row(
                &format!("SELECT {REPO_COLUMNS} FROM repos WHERE name = ?1"),
                [name],
                repo_from_row,
            )
            .optional()
            .map_err(sql("repo_by_name"))
    }

    /// The repository with id `id`.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] if there is none.
    pub fn repo(&self, id: RepoId) -> Result<Repo> {
        self.conn
            .query_row(
                &format!("SELECT {REPO_COLUMNS} FROM repos WHERE id = ?1"),
                [id],
                repo_from_row,
            )
            .optional()
            .map_err(sql("repo"))?
            .ok_or(StoreError::NotFound {
                table: "repos",
                id: id.get(),
            })
    }
}
