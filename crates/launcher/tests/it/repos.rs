//! `orch_launcher::repos` without git: a name, a folder, one registration
//! per canonical path (a link or `..` to a registered folder is the same
//! folder), suite patterns and cache folders, each refusal saying what to do.
//! The git half (`isolation`, `validate`) runs processes, so it is tested
//! through the binary (`bins/orch/tests/it/e2e.rs`, `hostile_cli.rs`).

use std::fs;
use std::path::PathBuf;

use orch_launcher::repos::{self, RepoError};
use orch_store::{NewRepo, Store};

#[test]
fn a_folder_is_registered_once_whatever_path_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("orch.db")).unwrap();
    let app = dir.path().join("app");
    fs::create_dir_all(app.join("sub")).unwrap();
    store
        .add_repo(&NewRepo::new("app", app.to_string_lossy(), "true"))
        .unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&app, &link).unwrap();
    for other in [link.clone(), app.join("sub/..")] {
        let error = repos::registered_once(&store, &other, None).unwrap_err();
        assert!(
            matches!(&error, RepoError::Registered { owner, .. } if owner == "app"),
            "{error}"
        );
        assert!(error.to_string().contains("`orch repo remove app` first"));
        // The repository itself may keep its folder (`repo update --path`).
        assert_eq!(
            repos::registered_once(&store, &other, Some("app")).unwrap(),
            app.canonicalize().unwrap()
        );
    }
    assert!(matches!(
        repos::registered_once(&store, &dir.path().join("none"), None),
        Err(RepoError::Unresolvable { .. })
    ));
}

#[test]
fn names_folders_suites_and_cache_folders_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(repos::check_name(" "), Err(RepoError::BlankName)));
    repos::check_name("app").unwrap();
    assert!(matches!(
        repos::checked_folder(&dir.path().join("none")),
        Err(RepoError::NotAFolder(_))
    ));
    assert!(repos::checked_folder(dir.path()).unwrap().is_absolute());
    assert!(matches!(
        repos::suite_patterns(Some("tests/[")),
        Err(RepoError::Suite(_))
    ));
    assert_eq!(
        repos::suite_patterns(Some("tests/**, staging.sh")).unwrap(),
        ["tests/**", "staging.sh"]
    );

    let home = dir.path().join("home");
    let cache = dir.path().join("cache");
    fs::create_dir_all(home.join("inner")).unwrap();
    fs::create_dir_all(&cache).unwrap();
    let refused = |dirs: &[PathBuf]| match repos::cache_dirs(dirs, &home) {
        Err(RepoError::CacheDir { why, .. }) => why,
        other => panic!("not refused: {other:?}"),
    };
    assert!(refused(&[PathBuf::from("relative")]).starts_with("not an absolute path"));
    assert!(refused(&[dir.path().join("none")]).starts_with("no such folder"));
    assert!(refused(&[home.join("inner")]).contains("orch's home"));
    assert!(refused(&[dir.path().to_path_buf()]).contains("orch's home"));
    assert_eq!(
        repos::cache_dirs(&[cache.clone(), PathBuf::new()], &home).unwrap(),
        [cache.to_string_lossy().into_owned()]
    );
}
