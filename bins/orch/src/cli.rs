//! The command line: clap definitions, and the mapping of clap's errors into
//! [`CliError::Usage`] (exit code 3, not clap's default 2, which means "tool
//! error" here).

use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};

use crate::CliError;

const EXIT_CODES: &str = "\
Exit codes:
  0    success (staging run: the suite PASSED)
  1    the suite ran and FAILED (exit code other than 0, a signal, or the timeout)
  2    tool error: the suite did not execute, or the log could not be written;
       nothing false is written (status is null in the JSON)
  3    usage error: bad or missing arguments
  130  interrupted by SIGINT (Ctrl-C): the suite's tree was ended, the log says
       `cancelled` (FAILED), the JSON was printed
  143  terminated by SIGTERM: likewise";

/// orch: a self-hosting orchestrator for LLM coding agents.
#[derive(Debug, Parser)]
#[command(name = "orch", version, after_help = EXIT_CODES)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// The staging suite (the deploy-staging stage's deterministic runner).
    Staging {
        #[command(subcommand)]
        command: StagingCommand,
    },
}

/// `orch staging ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum StagingCommand {
    /// Run the staging suite once, write the staging log, print a JSON summary.
    ///
    /// The suite runs as `sh -c CMD` in DIR, in its own process group under a
    /// supervisor, with stdin from /dev/null, stdout and stderr merged, no
    /// inherited file descriptor, and this environment minus secrets (every
    /// ORCH_* key, AWS_* and the LLM vendors' prefixes, and names ending in
    /// _API_KEY, _TOKEN, _PASSWORD, ... or containing _SECRET; see
    /// --pass-env). When it ends, at the timeout, or on Ctrl-C, every process
    /// it started is killed, including those that left its process group. The
    /// log gets the verdict line `staging_status: PASSED|FAILED`; the full raw
    /// output goes, capped at 64 MiB, to a file beside the log (LOG without
    /// `.md`, plus `.output.log`) as it arrives. One JSON object is printed on
    /// stdout: {"outcome", "status", "exit_code", "signal", "timed_out",
    /// "duration_ms", "output_bytes", "reason", "log", "sidecar", "error_kind"}.
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
}

/// Arguments of `orch staging run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The repository checkout: the suite's working directory. A missing
    /// folder is a tool error (exit 2), not a failure.
    #[arg(long, value_name = "DIR")]
    pub(crate) repo: PathBuf,

    /// The staging command, run as `sh -c CMD` in DIR. Exit code 0 is PASSED,
    /// anything else FAILED; the shell's 126 and 127 (not executable, not
    /// found) are tool errors.
    #[arg(long, value_name = "CMD")]
    pub(crate) cmd: String,

    /// Seconds the suite may run before it is ended: SIGTERM to its process
    /// tree, the grace period, then SIGKILL. The verdict is then FAILED with
    /// reason `timeout`. Fractions allowed; more than 0, at most 1e9.
    #[arg(
        long,
        value_name = "SECS",
        default_value = "1800",
        value_parser = parse_timeout,
        allow_negative_numbers = true
    )]
    pub(crate) timeout: Duration,

    /// Seconds between SIGTERM and SIGKILL, at the timeout, on Ctrl-C, and
    /// for processes the suite leaves running when its main process ends.
    #[arg(
        long,
        value_name = "SECS",
        default_value = "5",
        value_parser = parse_grace,
        allow_negative_numbers = true
    )]
    pub(crate) grace: Duration,

    /// Where to write the staging log (a file path; its folder must exist).
    /// Default: $ORCH_HOME/staging/<DIR's name>/15-staging-log.md, outside
    /// the checkout, so the run never dirties what the suite is testing
    /// (ORCH_HOME defaults to $XDG_DATA_HOME/orch, else ~/.local/share/orch).
    /// A log already there is removed before the suite starts, so a tool
    /// error never leaves an older verdict behind.
    #[arg(long, value_name = "PATH")]
    pub(crate) log: Option<PathBuf>,

    /// One more environment key to drop from the suite's environment
    /// (repeatable), on top of the built-in secret patterns.
    #[arg(long = "scrub-env", value_name = "KEY")]
    pub(crate) scrub_env: Vec<String>,

    /// An environment key the suite needs although it looks like a secret
    /// (repeatable, or comma-separated): passed through whatever the
    /// patterns say, e.g. --pass-env NPM_TOKEN.
    #[arg(long = "pass-env", value_name = "KEY", value_delimiter = ',')]
    pub(crate) pass_env: Vec<String>,
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    let duration = parse_grace(text)?;
    if duration.is_zero() {
        return Err("the timeout must be more than 0 seconds".to_owned());
    }
    Ok(duration)
}

fn parse_grace(text: &str) -> Result<Duration, String> {
    orch_staging_runner::parse_seconds(text).map_err(|error| error.to_string())
}

/// What the command line asked for.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// Help or version: print this and exit 0.
    Informational(clap::Error),
    /// A command to run.
    Command(Command),
}

/// Parses the process's arguments.
///
/// # Errors
///
/// [`CliError::Usage`] for every usage error clap finds.
pub(crate) fn parse() -> Result<Parsed, CliError> {
    parse_from(std::env::args_os())
}

fn parse_from<I, T>(args: I) -> Result<Parsed, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    match Cli::try_parse_from(args) {
        Ok(cli) => Ok(Parsed::Command(cli.command)),
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            Ok(Parsed::Informational(error))
        }
        // Every other clap error, including the kinds a later clap adds, is a
        // usage error.
        Err(error) => Err(CliError::Usage(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn negative_durations_get_our_message_not_clap_s() {
        let Err(CliError::Usage(error)) = parse_from([
            "orch",
            "staging",
            "run",
            "--repo",
            ".",
            "--cmd",
            "true",
            "--timeout",
            "-5",
        ]) else {
            panic!("a negative timeout must be a usage error");
        };
        let text = error.to_string();
        assert!(text.contains("negative"), "{text}");
        assert!(!text.contains("unexpected argument"), "{text}");
    }

    #[test]
    fn usage_errors_and_help_are_told_apart() {
        assert!(matches!(
            parse_from(["orch", "staging", "run", "--help"]),
            Ok(Parsed::Informational(_))
        ));
        for bad in [
            &["orch"][..],
            &["orch", "staging", "run", "--repo", "."],
            &[
                "orch",
                "staging",
                "run",
                "--repo",
                ".",
                "--cmd",
                "true",
                "--timeout",
                "0",
            ],
            &[
                "orch", "staging", "run", "--repo", ".", "--cmd", "true", "--grace", "-1",
            ],
            &[
                "orch",
                "staging",
                "run",
                "--repo",
                ".",
                "--cmd",
                "true",
                "--timeout",
                "1e20",
            ],
            &["orch", "nope"],
        ] {
            assert!(
                matches!(parse_from(bad), Err(CliError::Usage(_))),
                "{bad:?}"
            );
        }
    }
}
