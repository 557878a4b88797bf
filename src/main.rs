//! The `s3prio` binary: parse the command line, call the library, map errors to exit codes
//! (0 ok, 1 failure, 2 usage, 78 = EX_CONFIG for a config only an operator can fix).

use std::process::ExitCode;

use clap::Parser;
use s3prio::cli::{Cli, Command, LogFormatArg};
use s3prio::commands::{live, offline};
use s3prio::config::LogFormat;
use s3prio::telemetry::logging::{self, Format};

const EX_CONFIG: u8 = 78;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => match offline::check(&args) {
            Ok(report) => {
                for w in &report.warnings {
                    eprintln!("{w}");
                }
                println!("{}", report.output.trim_end());
                if args.strict && !report.warnings.is_empty() {
                    eprintln!(
                        "{}: {} warning(s) and --strict: failing",
                        args.config.display(),
                        report.warnings.len()
                    );
                    ExitCode::from(EX_CONFIG)
                } else {
                    ExitCode::SUCCESS
                }
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EX_CONFIG)
            }
        },
        Command::Schema => {
            println!("{}", offline::schema());
            ExitCode::SUCCESS
        }
        Command::Plan(args) => match &args.jobs {
            Some(jobs) => print_result(offline::plan_snapshot(&args, jobs)),
            None => with_config(&args.config, |cfg| {
                // stdout holds the plan only: logs go to stderr.
                logging::init_to_stderr(Format::Text, cfg.log.level.as_deref());
                runtime(async { live_result(live::plan(&args, cfg, &Default::default()).await) })
            }),
        },
        Command::Explain(args) => match &args.jobs {
            Some(jobs) => print_result(offline::explain_snapshot(&args, jobs)),
            None => with_config(&args.config, |cfg| {
                logging::init_to_stderr(Format::Text, cfg.log.level.as_deref());
                runtime(async { live_result(live::explain(&args, cfg, &Default::default()).await) })
            }),
        },
        Command::Apply(args) => with_config(&args.config, |cfg| {
            init_logs(
                args.log_format,
                Some((cfg.log.format, cfg.log.level.clone())),
            );
            runtime(async { live_result(live::apply(&args, cfg, &Default::default()).await) })
        }),
        Command::Run(args) => runtime(run_daemon(args)),
        Command::Emulator(args) => {
            init_logs(None, None);
            runtime(async {
                match s3prio::commands::emulator::run(&args).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("emulator: {e:#}");
                        ExitCode::FAILURE
                    }
                }
            })
        }
        Command::Demo(args) => runtime(async {
            match s3prio::commands::demo::run(&args).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("demo: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }),
    }
}

fn runtime<F: std::future::Future<Output = ExitCode>>(f: F) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => {
            let code = rt.block_on(f);
            // A blocking read stuck on a hung mount must not hold the exit.
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
            code
        }
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the config once for a command; an invalid one exits 78 with its located error.
fn with_config(
    path: &std::path::Path,
    command: impl FnOnce(s3prio::config::Config) -> ExitCode,
) -> ExitCode {
    match s3prio::config::load(path) {
        Ok(cfg) => command(cfg),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(EX_CONFIG)
        }
    }
}

/// `s3prio run`. The signal handlers come first: until they are installed, SIGHUP or SIGUSR1
/// (a reload or a request sent during a slow start) would kill the process. Then the config
/// is read and parsed once, for the log settings and the daemon alike.
async fn run_daemon(args: s3prio::cli::RunArgs) -> ExitCode {
    use s3prio::daemon::{self, Signals};
    let mut signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            report(&format!("cannot install signal handlers: {e}"));
            return ExitCode::FAILURE;
        }
    };
    // Stopping during a slow start stops now; a reload or a request stays pending in the
    // handlers and is acted on once the daemon runs.
    let loaded = tokio::select! {
        loaded = daemon::load_config(&args.config, args.dry_run) => loaded,
        _ = signals.terminated() => return ExitCode::SUCCESS,
    };
    let (source, cfg) = match loaded {
        Ok(l) => l,
        Err(e) => {
            init_logs(args.log_format, None);
            report(&e.to_string());
            tracing::error!(error = %e, "s3prio cannot start");
            return ExitCode::from(EX_CONFIG);
        }
    };
    init_logs(
        args.log_format,
        Some((cfg.log.format, cfg.log.level.clone())),
    );
    let mut opts = daemon::DaemonOptions::new(args.config.clone());
    opts.dry_run = args.dry_run;
    opts.stuck_after = args.stuck_after;
    let shutdown = tokio_util::sync::CancellationToken::new();
    match daemon::run_loaded(
        opts,
        source,
        cfg,
        Some(signals),
        Default::default(),
        shutdown,
    )
    .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e.to_string());
            tracing::error!(error = %e, "s3prio cannot start");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// Writes a line to stderr; a closed stderr is not a reason to panic.
fn report(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn init_logs(flag: Option<LogFormatArg>, settings: Option<(LogFormat, Option<String>)>) {
    let (cfg_format, level) = match settings {
        Some((f, l)) => (Some(f), l),
        None => (None, None),
    };
    let format = match (flag, cfg_format) {
        (Some(LogFormatArg::Json), _) => Format::Json,
        (Some(LogFormatArg::Text), _) => Format::Text,
        (None, Some(LogFormat::Json)) => Format::Json,
        (None, Some(LogFormat::Text)) => Format::Text,
        _ => Format::auto(),
    };
    logging::init(format, level.as_deref());
}

fn print_result(r: anyhow::Result<String>) -> ExitCode {
    match r {
        Ok(out) => {
            print!("{out}");
            if !out.ends_with('\n') {
                println!();
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e:#}");
            if e.downcast_ref::<s3prio::config::ConfigError>().is_some() {
                ExitCode::from(EX_CONFIG)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn live_result(r: Result<String, live::LiveError>) -> ExitCode {
    match r {
        Ok(out) => {
            println!("{}", out.trim_end());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
