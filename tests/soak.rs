//! Soak: `s3prio run` against a churning emulator (jobs created, progressing, finishing; 5%
//! faults) for 10 minutes, with a window that opens for 2 minutes every 4 from the start (at
//! any time of day). Checks that the daemon is running at every sample (RSS read from `/proc`),
//! that RSS does not grow after warm-up, that the log has no panic, that every change the
//! emulator saw is audited, and that the daemon followed the window open and closed.
//!
//! Run only when asked: `cargo test --release --test soak -- --ignored --nocapture`
//! (`S3PRIO_SOAK_SECS=600` by default).

mod common;

use std::time::Duration;

use tokio::time::Instant;

use common::process::*;
use common::*;
use s3prio::emulator::{self, EmulatorOptions, JobSpec, JobStatus};

/// The resident set of a live process, from `/proc`; panics when it cannot be read (a gone
/// process must fail the soak, not read as 0 KiB).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status:\n{status}"))
}

/// UTC ranges that open the window for 2 minutes every 4, from the next full minute after
/// `start` for `secs` (at most a day), so the window switches whatever the time of day.
fn switching_ranges(start: chrono::DateTime<chrono::Utc>, secs: u64) -> Vec<String> {
    use chrono::{Duration, Timelike};
    let first = start
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .expect("valid time")
        + Duration::minutes(1);
    let periods = (secs / 240 + 1).min(359);
    (0..periods as i64)
        .map(|i| {
            let open = first + Duration::minutes(4 * i);
            let close = open + Duration::minutes(2);
            format!("{}-{}", open.format("%H:%M"), close.format("%H:%M"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "10-minute soak; run with --ignored"]
async fn soak_churning_emulator() {
    let secs: u64 = std::env::var("S3PRIO_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let emu = emulator::start(EmulatorOptions {
        jobs: 3000,
        seed: 11,
        time_scale: 120.0,
        fault_rate: 0.04,
        drop_rate: 0.01,
        ..Default::default()
    })
    .await
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("s3prio.toml");
    let ranges = switching_ranges(chrono::Utc::now(), secs);
    let rules = format!(
        r#"
[windows.always-switching]
timezone = "UTC"
ranges = [{}]

[[rules]]
name = "urgent"
when = {{ tags = {{ urgent = "true" }} }}
action = {{ set = 900 }}

[[rules]]
name = "restores-in-window"
when = {{ operation = ["S3InitiateRestoreObject"], in_window = "always-switching" }}
action = {{ raise = 50 }}
"#,
        ranges
            .iter()
            .map(|r| format!("\"{r}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    std::fs::write(
        &cfg,
        daemon_config(&emu.endpoint_url(), home.path(), "10s", &rules),
    )
    .unwrap();
    let mut d = Daemon::start(&cfg, home.path(), &[("RUST_LOG", "info".to_string())]);
    let pid = d.child.id();
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut created = 0;
    while start.elapsed() < Duration::from_secs(secs) {
        // Churn: new jobs keep arriving, some urgent.
        for i in 0..5 {
            emu.insert_job(JobSpec {
                account_id: ACCOUNT.into(),
                description: Some(format!("soak job {created}-{i}")),
                priority: 50,
                status: JobStatus::New,
                tags: if i == 0 {
                    vec![tag("urgent", "true")]
                } else {
                    vec![]
                },
                ..Default::default()
            });
        }
        created += 5;
        tokio::time::sleep(Duration::from_secs(5)).await;
        if let Some(status) = d.child.try_wait().expect("try_wait") {
            panic!(
                "the daemon exited after {:?} with {status}:\n{}",
                start.elapsed(),
                d.log()
            );
        }
        samples.push((start.elapsed().as_secs(), rss_kib(pid)));
    }
    let warm = samples
        .iter()
        .find(|(t, _)| *t >= 60)
        .map(|s| s.1)
        .unwrap_or(0);
    let end = samples.last().map(|s| s.1).unwrap_or(0);
    let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let log = d.log();
    let audited = log.matches("\"event\":\"priority_changed\"").count();
    let updates = emu.priority_updates().len();
    let stats = emu.stats();
    println!(
        "soak {secs} s: {created} jobs created, {} in the emulator; requests {} ({} faults, {} dropped, {} throttled)",
        emu.job_count(),
        stats.total,
        stats.faults,
        stats.dropped,
        stats.throttled
    );
    println!(
        "RSS after warm-up (60 s): {} KiB; at end: {} KiB; peak {} KiB",
        warm, end, peak
    );
    println!("priority updates seen by the emulator: {updates}; audit lines: {audited}");
    assert!(!log.contains("panicked"), "panic in the log");
    assert_eq!(audited, updates, "every change audited");
    // The window opened and closed while the daemon ran: restores were raised by it, and
    // some raised job was lowered again after a close.
    let (raised, lowered_back) = window_changes(&log);
    println!(
        "window: {raised} raises by restores-in-window, {lowered_back} lowered back after a close"
    );
    assert!(
        raised > 0,
        "the window never opened for the daemon (ranges {ranges:?})"
    );
    if secs >= 300 {
        assert!(
            lowered_back > 0,
            "the window never closed for the daemon (ranges {ranges:?})"
        );
    }
    assert!(
        end <= warm + warm / 5 + 2048,
        "RSS grew from {warm} to {end} KiB"
    );
    drop(d);
    emu.shutdown().await;
}

/// From the audit lines: (changes made by the window rule, later changes that lowered one of
/// those jobs again).
fn window_changes(log: &str) -> (usize, usize) {
    let mut raised_jobs = std::collections::HashSet::new();
    let (mut raised, mut lowered_back) = (0, 0);
    for line in log
        .lines()
        .filter(|l| l.contains("\"event\":\"priority_changed\""))
    {
        let v: serde_json::Value = serde_json::from_str(line).expect("json audit line");
        let job = v["job_id"].as_str().unwrap_or_default().to_string();
        let (old, new) = (v["old_priority"].as_i64(), v["new_priority"].as_i64());
        if v["rule"].as_str() == Some("restores-in-window") {
            raised += 1;
            raised_jobs.insert(job);
        } else if raised_jobs.contains(&job) && new < old {
            lowered_back += 1;
        }
    }
    (raised, lowered_back)
}
