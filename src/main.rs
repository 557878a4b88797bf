//! The `s3prio` binary: parse the command line, run the command, map its error to the exit
//! status (0 ok, 1 failure, 2 usage, 78 = EX_CONFIG for what only an operator can fix, 130
//! after Ctrl-C; decided by `commands::Error::exit_code`).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use s3prio::cli::Cli;

fn main() -> ExitCode {
    match s3prio::commands::execute(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed stderr is not a reason to panic.
            let _ = writeln!(std::io::stderr(), "{e}");
            ExitCode::from(e.exit_code())
        }
    }
}
