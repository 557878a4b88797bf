//! `s3prio emulator`: the command line turned into the emulator's options, then serve until
//! Ctrl-C or SIGTERM and save the state file. The emulator itself knows nothing of the CLI.

use crate::cli::EmulatorArgs;
use crate::emulator::{self, EmulatorError, EmulatorOptions, OrgShape, Throttle};

/// Share of `--fault-rate` answered with InternalServiceException; the rest are dropped
/// connections.
const FAULT_SHARE_500: f64 = 0.75;

/// The options the command line describes (the emulator validates them when it starts).
pub fn options(args: &EmulatorArgs) -> EmulatorOptions {
    EmulatorOptions {
        listen: args.listen,
        jobs: args.jobs,
        seed: args.seed,
        account_id: args.account_id.clone(),
        throttle: args
            .throttle_rps
            .map(|rps| Throttle::from_rate(rps, args.throttle_burst)),
        fault_rate: args.fault_rate * FAULT_SHARE_500,
        drop_rate: args.fault_rate * (1.0 - FAULT_SHARE_500),
        latency: args.latency.unwrap_or_default(),
        state_file: args.state.clone(),
        time_scale: args.time_scale,
        organization: args.org_accounts.map(|n| OrgShape {
            accounts: n as usize,
            ous: args.org_ous,
            jobs_per_account: args.org_jobs_per_account,
            role_name: args.org_role.clone(),
        }),
        ..EmulatorOptions::default()
    }
}

pub async fn run(args: &EmulatorArgs) -> Result<(), EmulatorError> {
    if !(0.0..=1.0).contains(&args.fault_rate) {
        return Err(EmulatorError::Option(format!(
            "--fault-rate {} must be between 0 and 1",
            args.fault_rate
        )));
    }
    let handle = emulator::start(options(args)).await?;
    let url = handle.endpoint_url();
    println!(
        "S3 Control emulator listening on {url} ({} jobs)",
        handle.job_count()
    );
    println!("stats:   curl {url}/_emulator/stats");
    println!("control: curl -X POST {url}/_emulator/control -d '{{\"throttle\":{{\"rps\":5,\"burst\":5}}}}'");
    println!();
    println!("Point s3prio at it (any credentials work; requests are not verified):");
    println!("  [[targets]]");
    println!("  account_id = \"{}\"", args.account_id);
    println!("  region = \"us-east-1\"");
    println!("  endpoint_url = \"{url}\"");
    println!("  # and AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test in the environment");
    if let Some(shape) = options(args).organization {
        println!();
        println!(
            "AWS Organizations and STS on the same URL: {} accounts in {} OUs (root {}), role arn:aws:iam::{{account_id}}:role/{} assumable in each",
            handle.org_accounts().len(),
            handle.org_ous().len(),
            emulator::ORG_ROOT_ID,
            shape.role_name
        );
    }
    wait_for_signal()
        .await
        .map_err(|e| EmulatorError::Option(format!("cannot install signal handlers: {e}")))?;
    println!(
        "stopping the emulator{}",
        if args.state.is_some() {
            " and saving its state"
        } else {
            ""
        }
    );
    handle.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}
