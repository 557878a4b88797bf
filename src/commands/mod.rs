//! The commands of the `s3prio` binary, one function each; `execute` runs the one the command
//! line names. Each returns `Result<(), Error>`; the binary maps the error to its exit status.

pub mod demo;
pub mod emulator;
mod error;
pub mod live;
pub mod offline;
pub mod progress;
mod run;

use std::future::Future;

pub use error::{Error, EX_CONFIG, EX_INTERRUPTED};

use crate::cli::{Cli, Command, LogFormatArg};
use crate::config::{self, Config, LogFormat, Overrides};
use crate::telemetry::logging::{self, Format};

/// Runs the command `cli` names. Output goes to stdout, diagnostics to stderr.
pub fn execute(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Check(args) => check(&args),
        Command::Schema => print_document(offline::schema()),
        Command::Plan(args) => match &args.jobs {
            Some(jobs) => print_document(offline::plan_snapshot(&args, jobs)?),
            None => {
                let cfg = config::load(&args.config)?;
                // stdout holds the plan only: logs go to stderr.
                logging::init_to_stderr(Format::Text, cfg.log.level.as_deref());
                print(runtime(live::plan(&args, cfg, &Default::default()))??)
            }
        },
        Command::Explain(args) => match &args.jobs {
            Some(jobs) => print_document(offline::explain_snapshot(&args, jobs)?),
            None => {
                let cfg = config::load(&args.config)?;
                logging::init_to_stderr(Format::Text, cfg.log.level.as_deref());
                print(runtime(live::explain(&args, cfg, &Default::default()))??)
            }
        },
        Command::Apply(args) => {
            let overrides = Overrides {
                dry_run: args.dry_run,
            };
            let cfg = config::load_with(&args.config, overrides)?;
            init_logs(args.log_format, Some(&cfg));
            print(runtime(live::apply(&args, cfg, &Default::default()))??)
        }
        Command::Run(args) => runtime(run::daemon(args))?,
        Command::Emulator(args) => {
            init_logs(None, None);
            runtime(emulator::run(&args))?.map_err(Error::from)
        }
        Command::Demo(args) => {
            runtime(demo::run(&args))?.map_err(|e| Error::Failed(format!("demo: {e}")))
        }
    }
}

/// `check`: the summary on stdout, warnings on stderr; `--strict` fails on a warning.
fn check(args: &crate::cli::CheckArgs) -> Result<(), Error> {
    let report = offline::check(args)?;
    for w in &report.warnings {
        eprintln!("{w}");
    }
    print(report.output)?;
    if args.strict && !report.warnings.is_empty() {
        return Err(Error::Strict(format!(
            "{}: {} warning(s) and --strict: failing",
            args.config.display(),
            report.warnings.len()
        )));
    }
    Ok(())
}

/// Prints a command's output, ending in exactly one newline.
fn print(out: String) -> Result<(), Error> {
    println!("{}", out.trim_end());
    Ok(())
}

/// Prints a rendered document as it is, adding a final newline if it has none.
fn print_document(out: String) -> Result<(), Error> {
    print!("{out}");
    if !out.ends_with('\n') {
        println!();
    }
    Ok(())
}

/// Runs `f` on a multi-threaded runtime.
fn runtime<F: Future>(f: F) -> Result<F::Output, Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::failed("cannot start the async runtime", e))?;
    let out = rt.block_on(f);
    // A blocking read stuck on a hung mount must not hold the exit.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    Ok(out)
}

/// Logs as the flag says, else as the config says, else text on a terminal and JSON otherwise.
fn init_logs(flag: Option<LogFormatArg>, cfg: Option<&Config>) {
    let format = match (flag, cfg.map(|c| c.log.format)) {
        (Some(LogFormatArg::Json), _) | (None, Some(LogFormat::Json)) => Format::Json,
        (Some(LogFormatArg::Text), _) | (None, Some(LogFormat::Text)) => Format::Text,
        _ => Format::auto(),
    };
    logging::init(format, cfg.and_then(|c| c.log.level.as_deref()));
}
