//! Soak: `s3prio run` against a churning emulator (jobs created, progressing, finishing; 5%
//! faults) for 10 minutes. Prints RSS over time, checks that RSS does not grow after warm-up,
//! that the log has no panic, and that every change the emulator saw is audited.
//!
//! Run only when asked: `cargo test --release --test soak -- --ignored --nocapture`
//! (`S3PRIO_SOAK_SECS=600` by default).

mod common;

use std::time::{Duration, Instant};

use common::process::*;
use common::*;
use s3prio::emulator::{self, EmulatorOptions, JobSpec, JobStatus};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
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
    let rules = r#"
[windows.always-switching]
timezone = "UTC"
ranges = ["00:00-00:02", "00:04-00:06", "00:08-00:10", "00:12-00:14", "00:16-00:18", "00:20-00:22", "00:24-00:26", "00:28-00:30", "00:32-00:34", "00:36-00:38", "00:40-00:42", "00:44-00:46", "00:48-00:50", "00:52-00:54", "00:56-00:58"]

[[rules]]
name = "urgent"
when = { tags = { urgent = "true" } }
action = { set = 900 }

[[rules]]
name = "restores-in-window"
when = { operation = ["S3InitiateRestoreObject"], in_window = "always-switching" }
action = { raise = 50 }
"#;
    std::fs::write(
        &cfg,
        daemon_config(&emu.endpoint_url(), home.path(), "10s", rules),
    )
    .unwrap();
    let d = Daemon::start(&cfg, home.path(), &[("RUST_LOG", "info".to_string())]);
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
        samples.push((start.elapsed().as_secs(), rss_kib(pid)));
        assert!(d.child.id() == pid);
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
    assert!(
        end <= warm + warm / 5 + 2048,
        "RSS grew from {warm} to {end} KiB"
    );
    drop(d);
    emu.shutdown().await;
}
