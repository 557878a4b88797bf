//! `s3prio demo`: the emulator in-process with a realistic population, the daemon against it
//! with `config/demo.toml`, and each priority change printed as it happens.
//!
//! The policy runs on a time-lapse clock (30 simulated minutes per real second) that starts
//! just before 09:00 on a weekday in New York, so within half a minute a new user sees the
//! business-hours window open (urgent jobs raised), close (urgent jobs back at their own
//! priority), and the overnight window open (restores raised).

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::America::New_York;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::Error;
use crate::aws::ClientOverrides;
use crate::cli::DemoArgs;
use crate::daemon::{self, Clock, DaemonOptions};
use crate::emulator::{self, EmulatorOptions};
use crate::telemetry::AuditEvent;
use crate::telemetry::Telemetry;

/// The embedded demo policy.
pub const DEMO_CONFIG: &str = include_str!("../../config/demo.toml");
/// Simulated seconds per real second.
const SPEED: f64 = 1800.0;
const DEMO_JOBS: usize = 300;
const DEMO_ACCOUNT: &str = "123456789012";

/// The next weekday at 08:59:30 New York time, after `now`.
pub fn demo_start(now: DateTime<Utc>) -> DateTime<Utc> {
    let mut day = now.with_timezone(&New_York).date_naive();
    let at = NaiveTime::from_hms_opt(8, 59, 30).unwrap_or_default();
    loop {
        let weekday = !matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        if weekday {
            if let Some(t) = New_York.from_local_datetime(&day.and_time(at)).earliest() {
                let t = t.with_timezone(&Utc);
                if t > now {
                    return t;
                }
            }
        }
        day = day.succ_opt().unwrap_or(day);
    }
}

/// Rewrites the demo config to point at the emulator and keep its state in `dir`.
fn demo_config(text: &str, endpoint: &str, dir: &std::path::Path) -> Result<String, Error> {
    let mut doc: toml::Table =
        toml::from_str(text).map_err(|e| Error::failed("the demo config is not valid TOML", e))?;
    if let Some(toml::Value::Array(targets)) = doc.get_mut("targets") {
        for t in targets {
            if let toml::Value::Table(t) = t {
                t.insert("endpoint_url".into(), toml::Value::String(endpoint.into()));
            }
        }
    }
    let baseline = doc
        .entry("baseline")
        .or_insert_with(|| toml::Value::Table(Default::default()));
    if let toml::Value::Table(b) = baseline {
        b.insert(
            "state_file".into(),
            toml::Value::String(dir.join("state.json").display().to_string()),
        );
    }
    toml::to_string(&doc).map_err(|e| Error::failed("writing the demo config", e))
}

pub async fn run(args: &DemoArgs) -> Result<(), Error> {
    let text = match &args.config {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| Error::failed(&format!("reading {}", p.display()), e))?,
        None => DEMO_CONFIG.to_string(),
    };
    crate::telemetry::logging::init(crate::telemetry::logging::Format::Text, Some("warn"));

    let emu = emulator::start(EmulatorOptions {
        jobs: DEMO_JOBS,
        seed: 42,
        account_id: DEMO_ACCOUNT.into(),
        time_scale: 60.0,
        ..Default::default()
    })
    .await
    .map_err(|e| Error::failed("starting the emulator", e))?;
    let dir: PathBuf = std::env::temp_dir().join(format!("s3prio-demo-{}", std::process::id()));
    let writing = |e: std::io::Error| Error::failed(&format!("writing {}", dir.display()), e);
    std::fs::create_dir_all(&dir).map_err(writing)?;
    let config_path = dir.join("demo.toml");
    std::fs::write(&config_path, demo_config(&text, &emu.endpoint_url(), &dir)?)
        .map_err(writing)?;

    let start = demo_start(Utc::now());
    let clock = Clock::time_lapse(start, SPEED);
    print_banner(args, &emu.endpoint_url(), start);
    let telemetry = Telemetry::default();
    let shutdown = CancellationToken::new();
    // Subscribed before the daemon starts, so no change goes unprinted.
    let events = telemetry.audit.subscribe();
    let printer = tokio::spawn(print_changes(events, clock, shutdown.clone()));

    let mut opts = DaemonOptions::new(config_path.clone());
    opts.overrides = ClientOverrides::emulator();
    opts.clock = clock;
    if let Some(limit) = args.duration {
        let stopper = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            stopper.cancel();
        });
    }
    let result = daemon::run(opts, telemetry.clone(), shutdown.clone()).await;
    shutdown.cancel();
    let changes = printer.await.unwrap_or(0);
    let stats = emu.stats();
    emu.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    println!(
        "\nstopped: {changes} priority changes; the emulator served {} requests ({} throttled)",
        stats.total, stats.throttled
    );
    Ok(())
}

fn print_banner(args: &DemoArgs, endpoint: &str, start: DateTime<Utc>) {
    println!("s3prio demo");
    println!(
        "  emulator: {endpoint} ({DEMO_JOBS} jobs in account {DEMO_ACCOUNT}), policy: {}",
        args.config
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "config/demo.toml".into())
    );
    println!(
        "  time-lapse clock: {} New York, {}x (30 minutes per second). Ctrl-C stops.\n",
        start.with_timezone(&New_York).format("%a %Y-%m-%d %H:%M"),
        SPEED
    );
}

/// Prints every priority change as it happens, and a line each simulated hour; returns the
/// number of changes when `stop` is cancelled.
async fn print_changes(
    mut events: broadcast::Receiver<AuditEvent>,
    clock: Clock,
    stop: CancellationToken,
) -> usize {
    let mut last_hour = None;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut changes = 0usize;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return changes,
            _ = tick.tick() => {
                let hour = clock.now().with_timezone(&New_York).format("%a %H:00").to_string();
                if last_hour.as_ref() != Some(&hour) {
                    println!("--- {hour} New York ---");
                    last_hour = Some(hour);
                }
            }
            ev = events.recv() => match ev {
                Ok(ev) => {
                    changes += 1;
                    let local = clock.now().with_timezone(&New_York);
                    println!(
                        "{}  job {}  {:>4} -> {:<4}  {}",
                        local.format("%H:%M"),
                        ev.job_id.get(..8).unwrap_or(&ev.job_id),
                        ev.old_priority,
                        ev.new_priority,
                        ev.reason
                    );
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    println!("  ... {n} more changes");
                    changes += n as usize;
                }
                Err(_) => return changes,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_starts_before_nine_on_a_weekday() {
        // A Saturday afternoon: the next start is Monday 08:59:30 New York.
        let sat = Utc
            .with_ymd_and_hms(2026, 11, 28, 18, 0, 0)
            .single()
            .expect("valid");
        let start = demo_start(sat).with_timezone(&New_York);
        assert_eq!(start.weekday(), Weekday::Mon);
        assert_eq!(start.format("%H:%M:%S").to_string(), "08:59:30");
    }

    #[test]
    fn embedded_demo_config_is_valid() {
        let dir = std::env::temp_dir();
        let text = demo_config(DEMO_CONFIG, "http://127.0.0.1:9", &dir).expect("rewrite");
        crate::config::parse(&text, "demo.toml").expect("demo config validates");
    }
}
