//! The kernel sandbox every run can be put in: Linux Landlock for the file
//! system and signals, a network namespace (or Landlock's TCP rules) for the
//! network.
//!
//! A [`SandboxPolicy`] says what a run may do: the hierarchies it may write
//! ([`SandboxPolicy::writable`]: a task's worktree, its private `TMPDIR`, its
//! output folder, declared caches), the hierarchies it must not even read
//! ([`SandboxPolicy::hidden`]: orch's home, with its database, other tasks'
//! folders and worktrees), exceptions inside those it may read
//! ([`SandboxPolicy::readable`]: its own task folder), and whether it may use
//! the network. Everything else is read-only.
//!
//! The supervisor applies the policy to **itself**, just before it starts
//! the program, so that it binds the program and every descendant and never
//! the process that embeds this crate. What was enforced comes back as a
//! [`SandboxLevel`] on [`crate::exec::Finished::sandbox`]. With
//! [`SandboxMode::Required`] a kernel that cannot enforce the policy makes
//! the run a tool error ([`crate::exec::ToolErrorKind::SandboxUnavailable`])
//! instead of running it unconfined; with [`SandboxMode::BestEffort`] it runs
//! with what the kernel enforces, and the level says what that was. Never a
//! silent downgrade.
//!
//! What it does not do: it limits neither CPU nor memory, and reads outside
//! the hidden hierarchies stay allowed (the program runs as the same user and
//! sees what that user sees: `/etc`, `$HOME`, the user's checkout).
//! Landlock rules name the files that exist when the run starts: a file
//! created later in a folder whose siblings were granted one by one (an
//! ancestor of a hidden hierarchy) is not readable to the run.

use std::fmt;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
};
use serde::{Deserialize, Serialize};

/// How strictly a policy is enforced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    /// No sandbox: the program runs with the rights of the user.
    #[default]
    Off,
    /// Enforce what the kernel can, run anyway, and record what was enforced.
    BestEffort,
    /// Enforce the whole policy or refuse to start the program.
    Required,
}

impl SandboxMode {
    /// Every mode, in a fixed order.
    pub const ALL: [SandboxMode; 3] = [
        SandboxMode::Off,
        SandboxMode::BestEffort,
        SandboxMode::Required,
    ];

    /// `off`, `best-effort` or `required`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            SandboxMode::Off => "off",
            SandboxMode::BestEffort => "best-effort",
            SandboxMode::Required => "required",
        }
    }

    /// Reads `off`, `best-effort` or `required`.
    ///
    /// # Errors
    ///
    /// The text, when it names no mode.
    pub fn parse(text: &str) -> Result<SandboxMode, String> {
        SandboxMode::ALL
            .into_iter()
            .find(|mode| mode.as_str() == text.trim())
            .ok_or_else(|| {
                format!("{text:?} is not a sandbox mode; use required, best-effort or off")
            })
    }
}

impl fmt::Display for SandboxMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a run may use the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Network {
    /// The host's network, as the user has it.
    #[default]
    On,
    /// None: a network namespace of its own with only a loopback interface,
    /// or, where no namespace can be made, no TCP (Landlock).
    Off,
}

impl Network {
    /// `on` or `off`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Network::On => "on",
            Network::Off => "off",
        }
    }

    /// Reads `on` or `off`.
    ///
    /// # Errors
    ///
    /// The text, when it is neither.
    pub fn parse(text: &str) -> Result<Network, String> {
        match text.trim() {
            "on" => Ok(Network::On),
            "off" => Ok(Network::Off),
            _ => Err(format!("{text:?} is not a network setting; use on or off")),
        }
    }
}

/// What a run may do (see the module documentation).
///
/// `#[non_exhaustive]`: made by [`SandboxPolicy::new`] or
/// [`SandboxPolicy::off`], then the builder methods.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SandboxPolicy {
    /// How strictly it is enforced; [`SandboxMode::Off`] ignores the rest.
    pub mode: SandboxMode,
    /// Hierarchies the run may read and write (created files included).
    pub writable: Vec<PathBuf>,
    /// Hierarchies the run may not read, list or write.
    pub hidden: Vec<PathBuf>,
    /// Hierarchies inside hidden ones that the run may read.
    pub readable: Vec<PathBuf>,
    /// Whether it may use the network.
    pub network: Network,
}

impl SandboxPolicy {
    /// A policy in `mode` that allows writing nothing, hides nothing, and
    /// leaves the network on; add to it with the builder methods.
    #[must_use]
    pub fn new(mode: SandboxMode) -> SandboxPolicy {
        SandboxPolicy {
            mode,
            ..SandboxPolicy::default()
        }
    }

    /// No sandbox.
    #[must_use]
    pub fn off() -> SandboxPolicy {
        SandboxPolicy::default()
    }

    /// Whether a sandbox is asked for.
    #[must_use]
    pub fn is_on(&self) -> bool {
        self.mode != SandboxMode::Off
    }

    /// Adds a hierarchy the run may write.
    #[must_use]
    pub fn writable(mut self, path: impl Into<PathBuf>) -> SandboxPolicy {
        self.writable.push(path.into());
        self
    }

    /// Adds a hierarchy the run may not even read.
    #[must_use]
    pub fn hidden(mut self, path: impl Into<PathBuf>) -> SandboxPolicy {
        self.hidden.push(path.into());
        self
    }

    /// Adds a hierarchy, inside a hidden one, that the run may read.
    #[must_use]
    pub fn readable(mut self, path: impl Into<PathBuf>) -> SandboxPolicy {
        self.readable.push(path.into());
        self
    }

    /// Sets the network.
    #[must_use]
    pub fn network(mut self, network: Network) -> SandboxPolicy {
        self.network = network;
        self
    }

    /// Checks what the supervisor will need: absolute paths, no hidden root.
    ///
    /// # Errors
    ///
    /// What is wrong with which path, in lower case.
    pub fn validate(&self) -> Result<(), String> {
        for (what, paths) in [
            ("writable", &self.writable),
            ("hidden", &self.hidden),
            ("readable", &self.readable),
        ] {
            for path in paths {
                if !path.is_absolute() {
                    return Err(format!(
                        "the sandbox's {what} path {} is not absolute",
                        path.display()
                    ));
                }
                if path.to_str().is_none() {
                    return Err(format!(
                        "the sandbox's {what} path {} is not UTF-8; move it to a path that is",
                        path.display()
                    ));
                }
            }
        }
        if self.hidden.iter().any(|path| path.parent().is_none()) {
            return Err("the sandbox cannot hide the root folder".to_owned());
        }
        Ok(())
    }
}

/// How much of a part of the policy the kernel enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Enforcement {
    /// All of it.
    Full,
    /// Some of it (an older Landlock ABI).
    Partial,
    /// None of it.
    None,
}

impl Enforcement {
    /// `full`, `partial` or `none`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Enforcement::Full => "full",
            Enforcement::Partial => "partial",
            Enforcement::None => "none",
        }
    }
}

/// What the network of a run was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkLevel {
    /// The host's network (the policy allowed it).
    Host,
    /// A network namespace of its own: loopback only, nothing reaches out.
    Namespace,
    /// No namespace could be made: TCP bind and connect denied by Landlock;
    /// UDP and Unix sockets still work.
    TcpDenied,
    /// The policy said off, but nothing could be enforced.
    NotEnforced,
}

impl NetworkLevel {
    /// `host`, `namespace`, `tcp-denied` or `not-enforced`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            NetworkLevel::Host => "host",
            NetworkLevel::Namespace => "namespace",
            NetworkLevel::TcpDenied => "tcp-denied",
            NetworkLevel::NotEnforced => "not-enforced",
        }
    }
}

/// What the kernel enforced for one run.
///
/// `#[non_exhaustive]`: reported by the machinery
/// ([`SandboxLevel::unconfined`] for a run without a sandbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SandboxLevel {
    /// The mode the run asked for.
    pub mode: SandboxMode,
    /// The Landlock ABI version of the kernel (0: no Landlock).
    pub landlock_abi: u8,
    /// The file-system rules.
    pub filesystem: Enforcement,
    /// The network.
    pub network: NetworkLevel,
    /// Whether signals to processes outside the sandbox and abstract Unix
    /// sockets outside it are denied (Landlock ABI 6).
    pub scoped: bool,
}

impl SandboxLevel {
    /// The level of a run without a sandbox.
    #[must_use]
    pub const fn unconfined() -> SandboxLevel {
        SandboxLevel {
            mode: SandboxMode::Off,
            landlock_abi: 0,
            filesystem: Enforcement::None,
            network: NetworkLevel::Host,
            scoped: false,
        }
    }

    /// Whether everything the policy asked for was enforced.
    #[must_use]
    pub fn is_complete(&self, network: Network) -> bool {
        let network_ok = match network {
            Network::On => true,
            Network::Off => matches!(
                self.network,
                NetworkLevel::Namespace | NetworkLevel::TcpDenied
            ),
        };
        self.filesystem == Enforcement::Full && self.scoped && network_ok
    }
}

impl fmt::Display for SandboxLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mode == SandboxMode::Off {
            return f.write_str("off (no sandbox)");
        }
        write!(
            f,
            "{}: landlock abi {}, filesystem {}, network {}, signals {}",
            self.mode,
            self.landlock_abi,
            self.filesystem.as_str(),
            self.network.as_str(),
            if self.scoped { "scoped" } else { "not scoped" }
        )
    }
}

/// The Landlock ABI version of the running kernel; 0 when it has none (not
/// built in, or not enabled at boot).
#[must_use]
#[expect(
    unsafe_code,
    reason = "landlock_create_ruleset has no safe wrapper for the version query"
)]
pub fn landlock_abi() -> u8 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute pointer, size 0 and the VERSION flag the
    // call reads and writes no memory; it returns the ABI or -1.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    u8::try_from(abi.max(0)).unwrap_or(u8::MAX)
}

/// The Landlock ABI this crate needs for [`SandboxMode::Required`]: 6, for
/// signal scoping (file-system rules with truncation need 3).
pub const REQUIRED_ABI: u8 = 6;

/// Whether [`SandboxMode::Required`] can be met on this kernel, and if not,
/// why, naming the kernel, for an error at start-up.
///
/// # Errors
///
/// A sentence naming the kernel's ABI and what is needed.
pub fn check_required() -> Result<u8, String> {
    let abi = landlock_abi();
    if abi >= REQUIRED_ABI {
        Ok(abi)
    } else {
        let kernel = kernel_release();
        Err(if abi == 0 {
            format!(
                "this kernel ({kernel}) has no Landlock (not built in, or not in the lsm= boot list), so no run can be sandboxed"
            )
        } else {
            format!(
                "this kernel ({kernel}) has Landlock ABI {abi}; a required sandbox needs ABI {REQUIRED_ABI} (Linux 6.12 or later)"
            )
        })
    }
}

/// Device files every program may write (and read): the bit bucket, the
/// zero and full devices, the terminal, pseudo-terminals, and shared memory.
const DEVICES: [&str; 6] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/pts",
    "/dev/shm",
];

/// The newest Landlock ABI whose rights this crate asks for. A newer kernel
/// enforces exactly these; an older one what it knows (best effort).
const TARGET: ABI = ABI::V6;

/// Puts the calling process (the supervisor, before it starts the child) in
/// the sandbox `policy` describes, and says what the kernel enforced.
///
/// # Errors
///
/// What could not be set up; in [`SandboxMode::Required`], also what the
/// kernel could not enforce. The caller must then not start the program.
pub(crate) fn enter(policy: &SandboxPolicy) -> Result<SandboxLevel, String> {
    let abi = landlock_abi();
    let network = match policy.network {
        Network::On => NetworkLevel::Host,
        Network::Off => match isolate_network() {
            Ok(()) => NetworkLevel::Namespace,
            Err(_) if abi >= 4 => NetworkLevel::TcpDenied,
            Err(_) => NetworkLevel::NotEnforced,
        },
    };
    let status = restrict(policy, network == NetworkLevel::TcpDenied)
        .map_err(|error| format!("cannot set up the sandbox: {error}"))?;
    let filesystem = match status.ruleset {
        RulesetStatus::FullyEnforced => Enforcement::Full,
        RulesetStatus::PartiallyEnforced => Enforcement::Partial,
        RulesetStatus::NotEnforced => Enforcement::None,
    };
    let network = match (network, filesystem) {
        // TCP rules are Landlock's: nothing enforced, nothing denied.
        (NetworkLevel::TcpDenied, Enforcement::None) => NetworkLevel::NotEnforced,
        (level, _) => level,
    };
    let level = SandboxLevel {
        mode: policy.mode,
        landlock_abi: abi,
        filesystem,
        network,
        scoped: abi >= 6 && filesystem != Enforcement::None,
    };
    if policy.mode == SandboxMode::Required && !level.is_complete(policy.network) {
        let why = check_required()
            .err()
            .unwrap_or_else(|| format!("the kernel enforced only {level}"));
        return Err(format!(
            "the sandbox is required (ORCH_SANDBOX=required) but cannot be enforced: {why}"
        ));
    }
    Ok(level)
}

/// Builds the Landlock ruleset and restricts the calling thread (and what
/// it starts) with it.
fn restrict(
    policy: &SandboxPolicy,
    deny_tcp: bool,
) -> Result<landlock::RestrictionStatus, landlock::RulesetError> {
    // Device ioctls stay allowed: terminals and pseudo-terminals need them,
    // and they reach no file the policy protects.
    let handled = AccessFs::from_all(TARGET) & !AccessFs::IoctlDev;
    let read = AccessFs::from_read(TARGET);
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(handled)?
        .scope(Scope::from_all(TARGET))?;
    if deny_tcp {
        ruleset = ruleset.handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)?;
    }
    let mut rules = Vec::new();
    let mut grant = |path: &Path, access: BitFlags<AccessFs>| {
        // A path that does not exist (a cache never made) needs no rule.
        let (Ok(metadata), Ok(fd)) = (std::fs::metadata(path), PathFd::new(path)) else {
            return;
        };
        let access = if metadata.is_dir() {
            access
        } else {
            access & AccessFs::from_file(TARGET)
        };
        rules.push(PathBeneath::new(fd, access));
    };
    for root in readable_roots(&policy.hidden) {
        grant(&root, read);
    }
    for path in &policy.readable {
        grant(path, read);
    }
    for path in &policy.writable {
        grant(path, handled);
    }
    for device in DEVICES {
        grant(Path::new(device), handled);
    }
    ruleset
        .create()?
        .add_rules(rules.into_iter().map(Ok::<_, landlock::RulesetError>))?
        .restrict_self()
}

/// The paths to grant reading beneath so that everything is readable except
/// the `hidden` hierarchies: the root, split along the path to each hidden
/// hierarchy into the siblings of each step. Symbolic links among those
/// siblings are left out (a rule follows a link to its target, which could be
/// hidden; what a link leads to is granted where it really is).
pub(crate) fn readable_roots(hidden: &[PathBuf]) -> Vec<PathBuf> {
    let mut roots = vec![PathBuf::from("/")];
    for hidden in hidden {
        let Ok(hidden) = hidden.canonicalize() else {
            continue;
        };
        let Some(index) = roots.iter().position(|root| hidden.starts_with(root)) else {
            continue;
        };
        let root = roots.swap_remove(index);
        let mut dir = root;
        for part in hidden
            .strip_prefix(&dir)
            .map(Path::to_path_buf)
            .unwrap_or_default()
            .components()
        {
            let next = dir.join(part);
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for entry in entries.flatten() {
                    let path = entry.path();
                    let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
                    if path != next && !is_link {
                        roots.push(path);
                    }
                }
            }
            dir = next;
        }
    }
    roots
}

/// The kernel's release, for messages (`6.18.4`), or `unknown`.
fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|text| text.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Moves the calling process into a network namespace of its own, with the
/// loopback interface up and nothing else: as root a plain network
/// namespace, otherwise one inside a new user namespace that maps the user
/// to itself. Call it single-threaded, before anything is started.
///
/// # Errors
///
/// What failed (namespaces disabled, not permitted).
fn isolate_network() -> Result<(), String> {
    use nix::sched::{CloneFlags, unshare};
    let uid = nix::unistd::getuid();
    let gid = nix::unistd::getgid();
    if nix::unistd::geteuid().is_root() {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| format!("unshare(CLONE_NEWNET): {e}"))?;
    } else {
        unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("unshare(CLONE_NEWUSER | CLONE_NEWNET): {e}"))?;
        let write = |file: &str, text: String| {
            std::fs::write(format!("/proc/self/{file}"), text)
                .map_err(|e| format!("cannot write /proc/self/{file}: {e}"))
        };
        write("setgroups", "deny".to_owned())?;
        write("uid_map", format!("{uid} {uid} 1"))?;
        write("gid_map", format!("{gid} {gid} 1"))?;
    }
    loopback_up()
}

/// Sets the `lo` interface of the current network namespace up, so that a
/// suite's tests can still talk to themselves on 127.0.0.1.
#[expect(
    unsafe_code,
    reason = "SIOCGIFFLAGS/SIOCSIFFLAGS have no safe wrapper in nix"
)]
fn loopback_up() -> Result<(), String> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: socket(2) takes no pointers; the result is checked.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(format!("socket: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a descriptor we just opened and own alone.
    let socket = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain data; all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = libc::c_char::from_ne_bytes([*byte]);
    }
    // SAFETY: the request is a valid ifreq naming `lo`, on a socket we own;
    // the kernel writes the flags into it.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &raw mut request) } < 0 {
        return Err(format!(
            "SIOCGIFFLAGS lo: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: the union member for SIOCGIFFLAGS/SIOCSIFFLAGS is ifru_flags.
    unsafe {
        request.ifr_ifru.ifru_flags |= libc::c_short::try_from(libc::IFF_UP).unwrap_or(1);
    }
    // SAFETY: as above; the kernel reads the flags from it.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &raw const request) } < 0 {
        return Err(format!(
            "SIOCSIFFLAGS lo: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_from_their_names() {
        for mode in SandboxMode::ALL {
            assert_eq!(SandboxMode::parse(mode.as_str()), Ok(mode));
        }
        assert!(
            SandboxMode::parse("strict")
                .unwrap_err()
                .contains("required")
        );
        assert_eq!(Network::parse("off"), Ok(Network::Off));
        assert!(Network::parse("no").is_err());
    }

    #[test]
    fn a_policy_with_a_relative_or_root_path_is_refused() {
        let policy = SandboxPolicy::new(SandboxMode::Required).writable("work");
        assert!(policy.validate().unwrap_err().contains("not absolute"));
        let policy = SandboxPolicy::new(SandboxMode::Required).hidden("/");
        assert!(policy.validate().unwrap_err().contains("root"));
        assert!(
            SandboxPolicy::new(SandboxMode::Required)
                .writable("/tmp")
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn readable_roots_cover_everything_but_the_hidden_hierarchy() {
        let top = tempfile::tempdir().unwrap();
        let top = top.path().canonicalize().unwrap();
        for dir in ["a/secret/x", "a/open", "b"] {
            std::fs::create_dir_all(top.join(dir)).unwrap();
        }
        std::fs::write(top.join("a/file"), "x").unwrap();
        std::os::unix::fs::symlink(top.join("a/secret"), top.join("a/link")).unwrap();
        let roots = readable_roots(&[top.join("a/secret")]);
        assert!(!roots.contains(&PathBuf::from("/")));
        assert!(roots.contains(&top.join("a/open")));
        assert!(roots.contains(&top.join("a/file")));
        assert!(roots.contains(&top.join("b")));
        for root in &roots {
            assert!(
                !top.join("a/secret").starts_with(root),
                "{} would reveal the hidden folder",
                root.display()
            );
        }
        assert!(!roots.contains(&top.join("a/link")), "links are left out");
        // A hidden path that does not exist hides nothing.
        assert_eq!(
            readable_roots(&[top.join("nope")]),
            vec![PathBuf::from("/")]
        );
    }

    #[test]
    fn a_level_is_complete_only_when_everything_asked_was_enforced() {
        let full = SandboxLevel {
            mode: SandboxMode::Required,
            landlock_abi: 7,
            filesystem: Enforcement::Full,
            network: NetworkLevel::Namespace,
            scoped: true,
        };
        assert!(full.is_complete(Network::Off));
        let open = SandboxLevel {
            network: NetworkLevel::NotEnforced,
            ..full
        };
        assert!(!open.is_complete(Network::Off));
        assert!(open.is_complete(Network::On));
        let partial = SandboxLevel {
            filesystem: Enforcement::Partial,
            ..full
        };
        assert!(!partial.is_complete(Network::On));
        assert_eq!(
            full.to_string(),
            "required: landlock abi 7, filesystem full, network namespace, signals scoped"
        );
        assert_eq!(SandboxLevel::unconfined().to_string(), "off (no sandbox)");
    }
}
