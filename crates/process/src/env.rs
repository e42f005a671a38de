//! Which environment a supervised child gets: [`EnvPolicy`] and the secret
//! rule [`is_secret_name`].
//!
//! The rule, in full. A variable of the parent's environment is dropped when
//! the policy scrubs secrets ([`Scrub::Secrets`], a staging suite) and its
//! name, compared without regard to ASCII case,
//! - starts with `ORCH_` (the orchestrator's own configuration), `AWS_`, or an
//!   LLM vendor's prefix ([`SECRET_PREFIXES`]);
//! - ends with `_API_KEY`, `_APIKEY`, `_TOKEN`, `_PASSWORD`, `_PASSWD`,
//!   `_CREDENTIALS` or `_PRIVATE_KEY` ([`SECRET_SUFFIXES`]);
//! - contains `_SECRET` or starts with `SECRET_`;
//! - is one of [`SECRET_NAMES`] (`SSH_AUTH_SOCK`: the agent socket hands out
//!   the user's SSH keys);
//! - or is one of the policy's extra names ([`EnvPolicy::extra_secrets`]).
//!
//! [`Scrub::OrchConfig`] drops only `ORCH_*` and the extra names.
//! [`Scrub::Nothing`] keeps the whole environment.
//!
//! [`Scrub::AllowList`] (an LLM agent's) inverts the rule: a variable is
//! kept only when its name is in [`EnvPolicy::allow`] (a name, or a prefix
//! written `PREFIX*`, without regard to ASCII case) **and** is not a secret
//! by the rule above, or when it is in [`EnvPolicy::pass_through`] (which,
//! in this mode, takes `PREFIX*` patterns too). So an allow-listed name that
//! looks like a secret still needs to be named as a credential: the secret
//! patterns stay a second layer.
//!
//! A name in [`EnvPolicy::pass_through`] is kept whatever the patterns say:
//! that is how a repository names the credentials its suite really needs.
//! Everything else — `PATH`, `HOME`, `LANG`, `TERM`, `USER`, `TMPDIR` and
//! ordinary variables — is kept. [`EnvPolicy::set`] is applied last and wins
//! over everything.

use std::ffi::{OsStr, OsString};

/// Name prefixes that mark a secret (matched without regard to ASCII case).
pub const SECRET_PREFIXES: [&str; 20] = [
    "ORCH_",
    "AWS_",
    "ANTHROPIC_",
    "CLAUDE_",
    "OPENAI_",
    "AZURE_OPENAI_",
    "GEMINI_",
    "GOOGLE_GENAI_",
    "VERTEXAI_",
    "COHERE_",
    "MISTRAL_",
    "GROQ_",
    "OPENROUTER_",
    "DEEPSEEK_",
    "XAI_",
    "HF_",
    "HUGGINGFACE_",
    "TOGETHER_",
    "FIREWORKS_",
    "PERPLEXITY_",
];

/// Name suffixes that mark a secret (matched without regard to ASCII case).
pub const SECRET_SUFFIXES: [&str; 7] = [
    "_API_KEY",
    "_APIKEY",
    "_TOKEN",
    "_PASSWORD",
    "_PASSWD",
    "_CREDENTIALS",
    "_PRIVATE_KEY",
];

/// Whole names that mark a secret.
pub const SECRET_NAMES: [&str; 1] = ["SSH_AUTH_SOCK"];

/// Whether `name` is a secret by the well-known patterns (see the module
/// documentation for the rule).
///
/// ```
/// use orch_process::exec::is_secret_name;
/// assert!(is_secret_name("GITHUB_TOKEN".as_ref()));
/// assert!(is_secret_name("aws_secret_access_key".as_ref()));
/// assert!(!is_secret_name("PATH".as_ref()));
/// ```
#[must_use]
pub fn is_secret_name(name: &OsStr) -> bool {
    let upper = name.as_encoded_bytes().to_ascii_uppercase();
    SECRET_PREFIXES
        .iter()
        .any(|prefix| upper.starts_with(prefix.as_bytes()))
        || SECRET_SUFFIXES
            .iter()
            .any(|suffix| upper.ends_with(suffix.as_bytes()))
        || upper.starts_with(b"SECRET_")
        || upper.windows(b"_SECRET".len()).any(|w| w == b"_SECRET")
        || SECRET_NAMES.iter().any(|known| upper == known.as_bytes())
}

/// What a policy drops from the parent's environment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Scrub {
    /// Nothing: the whole environment (plus what is set).
    #[default]
    Nothing,
    /// orch's own configuration (`ORCH_*`) and the extra names; for an LLM
    /// agent, which needs its vendor's API key.
    OrchConfig,
    /// Every secret by [`is_secret_name`], and the extra names; for a staging
    /// suite or any other program that needs no credential.
    Secrets,
    /// Everything but [`EnvPolicy::allow`] (minus secrets and the extra
    /// names) and [`EnvPolicy::pass_through`]; for an LLM agent, which gets
    /// only what it needs.
    AllowList,
}

/// The environment of a supervised child: the parent's environment, minus
/// what [`EnvPolicy::scrub`] drops, plus what is set.
///
/// `#[non_exhaustive]`: made by [`EnvPolicy::new`] (or
/// [`EnvPolicy::scrubbed`], `default()`), then the `with_*` builders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnvPolicy {
    /// What to drop.
    pub scrub: Scrub,
    /// More names to drop (exact, without regard to ASCII case) unless the
    /// policy scrubs nothing.
    pub extra_secrets: Vec<OsString>,
    /// Names kept whatever the scrub says (exact, without regard to ASCII
    /// case; with [`Scrub::AllowList`], `PREFIX*` is a prefix). Wins over
    /// every pattern and over `extra_secrets`.
    pub pass_through: Vec<OsString>,
    /// With [`Scrub::AllowList`]: the names (or `PREFIX*` prefixes) kept
    /// when they are not secrets; ignored otherwise.
    pub allow: Vec<OsString>,
    /// Variables set for the child after everything else; they win.
    pub set: Vec<(OsString, OsString)>,
}

impl EnvPolicy {
    /// A policy that drops what `scrub` says, and nothing more yet.
    #[must_use]
    pub fn new(scrub: Scrub) -> EnvPolicy {
        EnvPolicy {
            scrub,
            ..EnvPolicy::default()
        }
    }

    /// Adds names to drop ([`EnvPolicy::extra_secrets`]).
    #[must_use]
    pub fn with_extra_secrets<I>(mut self, names: I) -> EnvPolicy
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
    {
        self.extra_secrets.extend(names.into_iter().map(Into::into));
        self
    }

    /// Adds names kept whatever the scrub says ([`EnvPolicy::pass_through`]).
    #[must_use]
    pub fn with_pass_through<I>(mut self, names: I) -> EnvPolicy
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
    {
        self.pass_through.extend(names.into_iter().map(Into::into));
        self
    }

    /// Adds names (or `PREFIX*` prefixes) an allow-list keeps
    /// ([`EnvPolicy::allow`]).
    #[must_use]
    pub fn with_allow<I>(mut self, names: I) -> EnvPolicy
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
    {
        self.allow.extend(names.into_iter().map(Into::into));
        self
    }

    /// Adds variables set for the child ([`EnvPolicy::set`]).
    #[must_use]
    pub fn with_set(mut self, vars: impl IntoIterator<Item = (OsString, OsString)>) -> EnvPolicy {
        self.set.extend(vars);
        self
    }

    /// A policy that drops secrets ([`Scrub::Secrets`]).
    #[must_use]
    pub fn scrubbed() -> EnvPolicy {
        EnvPolicy {
            scrub: Scrub::Secrets,
            ..EnvPolicy::default()
        }
    }

    /// Whether `name` is dropped from the child's environment.
    #[must_use]
    pub fn drops(&self, name: &OsStr) -> bool {
        let same = |a: &OsString| {
            a.as_encoded_bytes()
                .eq_ignore_ascii_case(name.as_encoded_bytes())
        };
        if self.scrub == Scrub::AllowList {
            let matches = |pattern: &OsString| {
                let pattern = pattern.as_encoded_bytes();
                let name = name.as_encoded_bytes();
                match pattern.strip_suffix(b"*") {
                    Some(prefix) => name
                        .get(..prefix.len())
                        .is_some_and(|head| head.eq_ignore_ascii_case(prefix)),
                    None => name.eq_ignore_ascii_case(pattern),
                }
            };
            if self.pass_through.iter().any(matches) {
                return false;
            }
            return !self.allow.iter().any(matches)
                || is_secret_name(name)
                || self.extra_secrets.iter().any(same);
        }
        if self.pass_through.iter().any(same) {
            return false;
        }
        match self.scrub {
            Scrub::Nothing => false,
            Scrub::OrchConfig => {
                name.as_encoded_bytes()
                    .to_ascii_uppercase()
                    .starts_with(b"ORCH_")
                    || self.extra_secrets.iter().any(same)
            }
            Scrub::Secrets => is_secret_name(name) || self.extra_secrets.iter().any(same),
            // Handled above.
            Scrub::AllowList => true,
        }
    }

    /// The child's environment: `base` minus what [`EnvPolicy::drops`], plus
    /// [`EnvPolicy::set`].
    #[must_use]
    pub fn apply(
        &self,
        base: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Vec<(OsString, OsString)> {
        let mut env: Vec<(OsString, OsString)> = base
            .into_iter()
            .filter(|(key, _)| !self.drops(key))
            .collect();
        for (key, value) in &self.set {
            env.retain(|(k, _)| k != key);
            env.push((key.clone(), value.clone()));
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builders_fill_the_fields_they_name_and_add_to_them() {
        let policy = EnvPolicy::new(Scrub::AllowList)
            .with_extra_secrets(["MY_TOKEN"])
            .with_pass_through(["A_KEY"])
            .with_pass_through(["B_KEY"])
            .with_allow(["PATH", "LC_*"])
            .with_set(pairs(&[("X", "1")]));
        assert_eq!(
            policy,
            EnvPolicy {
                scrub: Scrub::AllowList,
                extra_secrets: vec!["MY_TOKEN".into()],
                pass_through: vec!["A_KEY".into(), "B_KEY".into()],
                allow: vec!["PATH".into(), "LC_*".into()],
                set: pairs(&[("X", "1")]),
            }
        );
        assert!(policy.drops(OsStr::new("MY_TOKEN")));
        assert!(!policy.drops(OsStr::new("LC_ALL")));
        assert_eq!(EnvPolicy::new(Scrub::Secrets), EnvPolicy::scrubbed());
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        list.iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn credentials_by_every_well_known_name_are_secrets() {
        for name in [
            "GITHUB_TOKEN",
            "GH_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_BEARER_TOKEN_BEDROCK",
            "AWS_PROFILE",
            "HF_TOKEN",
            "CLAUDE_CODE_OAUTH_TOKEN",
            "GEMINI_API_KEY",
            "COHERE_API_KEY",
            "ANTHROPIC_API_KEY",
            "OPENAI_API_KEY",
            "OPENAI_ORG_ID",
            "NPM_TOKEN",
            "MY_SERVICE_PASSWORD",
            "DB_SECRET_KEY",
            "CLIENT_SECRET",
            "SECRET_KEY_BASE",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "DEPLOY_PRIVATE_KEY",
            "SSH_AUTH_SOCK",
            "ORCH_DB_PATH",
            "orch_home",
            "github_token",
        ] {
            assert!(is_secret_name(OsStr::new(name)), "{name}");
        }
        for name in [
            "PATH",
            "HOME",
            "LANG",
            "TERM",
            "USER",
            "TMPDIR",
            "LC_ALL",
            "SHELL",
            "CI",
            "RUST_LOG",
            "CARGO_HOME",
            "ORCHESTRA",
            "TOKENIZERS_PARALLELISM",
            "KEYBOARD",
        ] {
            assert!(!is_secret_name(OsStr::new(name)), "{name}");
        }
    }

    #[test]
    fn pass_through_wins_over_patterns_and_set_wins_over_all() {
        let policy = EnvPolicy {
            scrub: Scrub::Secrets,
            extra_secrets: vec!["MY_CONFIG".into(), "NPM_TOKEN".into()],
            pass_through: vec!["npm_token".into()],
            set: vec![
                ("ORCH_TASK_ID".into(), "7".into()),
                ("PATH".into(), "/bin".into()),
            ],
            allow: Vec::new(),
        };
        let env = policy.apply(pairs(&[
            ("PATH", "/usr/bin"),
            ("HOME", "/root"),
            ("ORCH_DB", "x"),
            ("ORCHESTRA", "kept: the prefix is ORCH_"),
            ("ANTHROPIC_API_KEY", "sk"),
            ("MY_CONFIG", "c"),
            ("NPM_TOKEN", "n"),
        ]));
        assert_eq!(
            env,
            pairs(&[
                ("HOME", "/root"),
                ("ORCHESTRA", "kept: the prefix is ORCH_"),
                ("NPM_TOKEN", "n"),
                ("ORCH_TASK_ID", "7"),
                ("PATH", "/bin"),
            ])
        );
    }

    #[test]
    fn an_agent_policy_drops_orch_configuration_only() {
        let policy = EnvPolicy {
            scrub: Scrub::OrchConfig,
            extra_secrets: vec!["DEPLOY_KEY".into()],
            ..EnvPolicy::default()
        };
        let env = policy.apply(pairs(&[
            ("ANTHROPIC_API_KEY", "sk"),
            ("ORCH_DB_PATH", "/x"),
            ("orch_home", "/y"),
            ("DEPLOY_KEY", "k"),
            ("PATH", "/bin"),
        ]));
        assert_eq!(env, pairs(&[("ANTHROPIC_API_KEY", "sk"), ("PATH", "/bin")]));
    }

    #[test]
    fn an_allow_list_keeps_only_what_is_named_and_never_an_unnamed_secret() {
        let policy = EnvPolicy {
            scrub: Scrub::AllowList,
            extra_secrets: vec!["LANG_SECRETISH".into()],
            pass_through: vec!["ANTHROPIC_*".into(), "HTTPS_PROXY".into()],
            allow: vec![
                "PATH".into(),
                "LC_*".into(),
                "LANG*".into(),
                "MY_SERVICE_TOKEN".into(),
            ],
            set: vec![("ORCH_TASK_ID".into(), "7".into())],
        };
        let env = policy.apply(pairs(&[
            ("PATH", "/bin"),
            ("lc_all", "C"),
            ("LANG_SECRETISH", "dropped: an extra secret"),
            ("ANTHROPIC_API_KEY", "sk"),
            ("anthropic_base_url", "http://x"),
            ("HTTPS_PROXY", "http://proxy"),
            ("MY_SERVICE_TOKEN", "dropped: allowed but a secret"),
            ("AWS_SECRET_ACCESS_KEY", "a"),
            ("GITHUB_TOKEN", "g"),
            ("SSH_AUTH_SOCK", "/s"),
            ("ORCH_DB_PATH", "/db"),
            ("EDITOR", "vi"),
            ("LC", "dropped: not the prefix LC_"),
        ]));
        assert_eq!(
            env,
            pairs(&[
                ("PATH", "/bin"),
                ("lc_all", "C"),
                ("ANTHROPIC_API_KEY", "sk"),
                ("anthropic_base_url", "http://x"),
                ("HTTPS_PROXY", "http://proxy"),
                ("ORCH_TASK_ID", "7"),
            ])
        );
    }

    #[test]
    fn a_policy_that_does_not_scrub_keeps_everything() {
        let policy = EnvPolicy::default();
        let base = pairs(&[("ANTHROPIC_API_KEY", "sk"), ("PATH", "/bin")]);
        assert_eq!(policy.apply(base.clone()), base);
    }
}
