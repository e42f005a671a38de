use super::*;

fn workspace(files: &[(&str, &str)]) -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    let ws = Workspace::load(dir.path(), &[]);
    (dir, ws)
}

const MANIFESTS: [(&str, &str); 3] = [
    ("Cargo.toml", "[workspace]\nmembers = [\"crates/*\"]\n"),
    ("crates/a/Cargo.toml", "[package]\nname = \"orch-a\"\n"),
    (
        "crates/b/Cargo.toml",
        "[package]\nname = \"orch-b\"\n[dependencies]\norch-a = { path = \"../a\" }\n",
    ),
];

fn unit<'a>(ws: &'a Workspace, location: &str) -> &'a Unit {
    ws.units
        .iter()
        .find(|u| u.location() == location)
        .unwrap_or_else(|| {
            panic!(
                "no {location}: {:?}",
                ws.units.iter().map(Unit::location).collect::<Vec<_>>()
            )
        })
}

#[test]
fn paths_resolve_through_modules_reexports_super_and_self() {
    let mut files = MANIFESTS.to_vec();
    files.extend([
        ("crates/a/src/lib.rs", "mod inner;\npub use inner::deep as exported;\n"),
        (
            "crates/a/src/inner.rs",
            "pub mod deep { pub fn go() { super::helper(); } }\nfn helper() { self::leaf(); }\nfn leaf() {}\n",
        ),
        (
            "crates/b/src/lib.rs",
            "use orch_a::exported::go as run;\npub fn caller() { run(); }\n",
        ),
    ]);
    let (_dir, ws) = workspace(&files);
    assert!(ws.problems.is_empty(), "{:?}", ws.problems);
    let caller = unit(&ws, "crates/b/src/lib.rs::caller");
    let targets: Vec<String> = caller
        .refs
        .iter()
        .flat_map(|(p, _)| ws.resolve(p))
        .map(|i| ws.units[i].location())
        .collect();
    assert_eq!(targets, ["crates/a/src/inner.rs::deep::go"]);
    let go = unit(&ws, "crates/a/src/inner.rs::deep::go");
    let targets: Vec<String> = go
        .refs
        .iter()
        .flat_map(|(p, _)| ws.resolve(p))
        .map(|i| ws.units[i].location())
        .collect();
    assert_eq!(targets, ["crates/a/src/inner.rs::helper"]);
}

#[test]
fn an_include_in_a_body_is_read_and_test_modules_are_not_followed() {
    let mut files = MANIFESTS.to_vec();
    files.extend([
        (
            "crates/a/src/lib.rs",
            "pub fn f() { include!(\"body.rs\") }\n#[cfg(test)]\nmod tests;\n",
        ),
        (
            "crates/a/src/body.rs",
            "{ std::process::Command::new(\"sh\") }",
        ),
    ]);
    let (_dir, ws) = workspace(&files);
    // `mod tests;` has no file, but it is test code: not followed.
    assert!(ws.problems.is_empty(), "{:?}", ws.problems);
    assert_eq!(
        unit(&ws, "crates/a/src/lib.rs::f").primitives,
        ["Command::new"]
    );
}

#[test]
fn primitives_are_recognised_and_lookalikes_are_not() {
    let p = |s: &str| primitive(&s.split("::").map(str::to_owned).collect::<Vec<_>>());
    assert_eq!(
        p("std::process::Command::new").as_deref(),
        Some("Command::new")
    );
    assert_eq!(p("clap::Command::new"), None);
    assert_eq!(p("libc::system").as_deref(), Some("libc::system"));
    assert_eq!(p("system"), None);
    assert_eq!(p("Arc::clone"), None);
    assert_eq!(p("libc::syscall"), None);
    assert_eq!(
        p("nix::unistd::execvpe").as_deref(),
        Some("nix::unistd::execvpe")
    );
    assert_eq!(p("vfork").as_deref(), Some("vfork"));
}

#[test]
fn include_paths_are_computed_from_literals_and_the_manifest_dir() {
    let mut toks = Vec::new();
    flatten(
        TokenStream::from_str("concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/x.rs\")").unwrap(),
        &mut toks,
    );
    assert_eq!(
        eval_str(&toks, Path::new("/crate")).as_deref(),
        Some("/crate/x.rs")
    );
    let mut toks = Vec::new();
    flatten(
        TokenStream::from_str("concat!(env!(\"OUT_DIR\"), \"/x.rs\")").unwrap(),
        &mut toks,
    );
    assert_eq!(eval_str(&toks, Path::new("/crate")), None);
}
