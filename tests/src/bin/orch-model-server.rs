//! `orch-model-server`: the scripted stand-in model API of
//! `orch_tests::model_server`, on loopback, for running a real agent CLI
//! against it by hand (docs/agents.md).
//!
//! ```text
//! orch-model-server [--script write-artifact|unauthorized|overloaded|server-error|stall|hang-after-end|background-then-end|no-artifact]
//!                   [--port 0] [--log requests.jsonl]
//! ```
//!
//! Prints `http://127.0.0.1:PORT` on its first line, then one line per
//! request; serves until killed. It never reaches the network.

use std::path::PathBuf;

use orch_tests::model_server::{ModelServer, Script};

fn main() -> std::process::ExitCode {
    let mut script = Script::WriteArtifact;
    let mut port = 0u16;
    let mut log = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_default();
        match arg.as_str() {
            "--script" => match Script::from_name(&value) {
                Some(s) => script = s,
                None => {
                    let names: Vec<_> = Script::ALL.iter().map(|s| s.name()).collect();
                    eprintln!("unknown script {value:?}; one of {}", names.join(", "));
                    return std::process::ExitCode::from(2);
                }
            },
            "--port" => match value.parse() {
                Ok(p) => port = p,
                Err(_) => {
                    eprintln!("--port wants a number, not {value:?}");
                    return std::process::ExitCode::from(2);
                }
            },
            "--log" => log = Some(PathBuf::from(value)),
            _ => {
                eprintln!("usage: orch-model-server [--script NAME] [--port N] [--log FILE]");
                return std::process::ExitCode::from(2);
            }
        }
    }
    match ModelServer::start_on(script, port, log) {
        Ok(server) => {
            println!("{}", server.url());
            let mut seen = 0;
            loop {
                let requests = server.requests();
                for r in requests.iter().skip(seen) {
                    println!(
                        "{:>6}ms {} {} -> {:?}",
                        r.at.as_millis(),
                        r.method,
                        r.url,
                        r.answer
                    );
                }
                seen = requests.len();
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        Err(error) => {
            eprintln!("cannot start: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
