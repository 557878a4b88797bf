//! `s3prio emulator`: serve until Ctrl-C or SIGTERM, then save the state file.

use std::time::Duration;

use crate::cli::EmulatorArgs;

use super::{start, EmulatorOptions, Throttle};

/// Share of `--fault-rate` answered with InternalServiceException; the rest are dropped
/// connections.
const FAULT_SHARE_500: f64 = 0.75;

/// Parses "250ms", "2s", "1.5s", "100us", "1m"; a bare number is milliseconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration; examples: 20ms, 1.5s, 1m"))?;
    let secs = match unit.trim() {
        "" | "ms" => value / 1000.0,
        "us" | "µs" => value / 1_000_000.0,
        "s" => value,
        "m" | "min" => value * 60.0,
        other => {
            return Err(format!(
                "unknown duration unit `{other}` in `{s}`; use us, ms, s or m"
            ))
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("`{s}` is not a usable duration: {e}"))
}

/// Builds the options the command line describes.
pub fn options_from_args(args: &EmulatorArgs) -> anyhow::Result<EmulatorOptions> {
    if !(0.0..=1.0).contains(&args.fault_rate) {
        anyhow::bail!("--fault-rate {} must be between 0 and 1", args.fault_rate);
    }
    let latency = match &args.latency {
        Some(s) => parse_duration(s).map_err(|e| anyhow::anyhow!("--latency: {e}"))?,
        None => Duration::ZERO,
    };
    Ok(EmulatorOptions {
        listen: args.listen,
        jobs: args.jobs,
        seed: args.seed,
        account_id: args.account_id.clone(),
        throttle: args
            .throttle_rps
            .map(|rps| Throttle::from_rate(rps, args.throttle_burst)),
        fault_rate: args.fault_rate * FAULT_SHARE_500,
        drop_rate: args.fault_rate * (1.0 - FAULT_SHARE_500),
        latency,
        state_file: args.state.clone(),
        time_scale: args.time_scale,
        ..EmulatorOptions::default()
    })
}

pub async fn run_cli(args: &EmulatorArgs) -> anyhow::Result<()> {
    let opts = options_from_args(args)?;
    let handle = start(opts).await?;
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
    wait_for_signal().await?;
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

#[cfg(unix)]
async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_signal() -> anyhow::Result<()> {
    tokio::signal::ctrl_c().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("20ms"), Ok(Duration::from_millis(20)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_millis(5)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
