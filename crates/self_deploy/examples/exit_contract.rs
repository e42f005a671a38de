//! The exit-code contract, printed as a table: how a staging suite's end maps
//! to the verdict orch writes. Exit 0 is the only green; any other code and
//! any signal are `FAILED`.
//!
//! `cargo run -p orch-self-deploy --example exit_contract`

use orch_self_deploy::{ProcessExit, StagingStatus, map_exit_code_to_status};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ends = [
        ProcessExit::Code(0),
        ProcessExit::Code(1),
        ProcessExit::Code(2),
        ProcessExit::Code(124),
        ProcessExit::Code(255),
        ProcessExit::Code(-1),
        ProcessExit::Signal(9),
        ProcessExit::Signal(15),
    ];
    for end in ends {
        let status = map_exit_code_to_status(end);
        println!("{:<22} -> staging_status: {status}", end.to_string());
        let green = end == ProcessExit::Code(0);
        if (status == StagingStatus::Passed) != green {
            return Err(format!("{end} mapped to {status}").into());
        }
    }
    // The verdict text reads back as the same status.
    let read: StagingStatus = "PASSED".parse()?;
    println!("\"PASSED\" parses back as {read:?}");
    Ok(())
}
