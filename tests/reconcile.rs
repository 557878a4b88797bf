//! One reconcile cycle against the emulator, through the real `aws-sdk-s3control` client.

mod common;

use std::time::Duration;

use tokio::time::Instant;

use chrono::{TimeZone, Utc};
use common::*;
use s3prio::emulator::{self, EmulatorOptions, Throttle};

const FILE_STORE: &str = r#"
[baseline]
store = ["file"]
state_file = "STATE"
"#;

fn file_store(dir: &std::path::Path) -> String {
    FILE_STORE.replace("STATE", &dir.join("state.json").display().to_string())
}

/// Jobs described `raise-*` go to 500.
const RAISE: &str = r#"
[[rules]]
name = "raise"
when = { description_glob = "raise-*" }
action = { set = 500 }
"#;

/// Jobs tagged urgent=true go to 900.
const URGENT: &str = r#"
[[rules]]
name = "urgent"
when = { tags = { urgent = "true" } }
action = { set = 900 }
"#;

/// A config for the emulator at `endpoint` (`rps` requests per second) with the file store in
/// `dir`, the `[reconcile]` settings given (none when empty), and `rules`.
fn file_store_config(
    endpoint: &str,
    rps: f64,
    dir: &std::path::Path,
    reconcile: &str,
    rules: &str,
) -> String {
    let reconcile = if reconcile.is_empty() {
        String::new()
    } else {
        format!("[reconcile]\n{reconcile}\n")
    };
    config_text(
        endpoint,
        rps,
        &format!("{}\n{reconcile}\n{rules}", file_store(dir)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_once_makes_exactly_the_needed_writes_then_none() {
    let emu = quiet_emulator().await;
    let ids = insert_jobs(&emu, 2000, 300, 100);
    let dir = tempfile::tempdir().unwrap();
    let text = file_store_config(&emu.endpoint_url(), 500.0, dir.path(), "", URGENT);
    let cfg_path = dir.path().join("s3prio.toml");
    std::fs::write(&cfg_path, &text).unwrap();

    let run = || {
        let mut cmd = std::process::Command::new(s3prio_bin());
        cmd.args(["apply", "--once", "--log-format", "json", "--config"])
            .arg(&cfg_path);
        child_env(&mut cmd, dir.path());
        cmd.output().expect("runs")
    };
    emu.reset_stats();
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let s = emu.stats();
    assert_eq!(s.count("UpdateJobPriority", "ok"), 300, "{s:?}");
    assert_eq!(
        s.by_operation
            .get("UpdateJobPriority")
            .map(|m| m.values().sum::<u64>()),
        Some(300)
    );
    for id in &ids[..300] {
        assert_eq!(priority(&emu, id), 900);
    }
    for id in &ids[300..] {
        assert_eq!(priority(&emu, id), 100);
    }
    // Every write has its audit line.
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert_eq!(
        stdout.matches("\"event\":\"priority_changed\"").count(),
        300,
        "{stdout}"
    );

    emu.reset_stats();
    let second = run();
    assert!(second.status.success());
    let s = emu.stats();
    assert_eq!(
        s.by_operation.get("UpdateJobPriority"),
        None,
        "second run wrote: {s:?}"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_state_costs_only_list_calls() {
    let emu = quiet_emulator().await;
    insert_described(&emu, 1500, "etl", 100);
    insert_described(&emu, 8500, "backup", 100);
    let dir = tempfile::tempdir().unwrap();
    let rules = r#"
[[rules]]
name = "urgent-etl"
when = { description_glob = "etl-*", tags = { urgent = "true" } }
action = { set = 900 }
"#;
    let cfg = parse(&file_store_config(
        &emu.endpoint_url(),
        2000.0,
        dir.path(),
        "",
        rules,
    ));
    let mut rig = rig(&cfg).await;
    emu.reset_stats();
    let now = Utc::now();
    let first = rig.reconciler.cycle(&cfg, now).await.unwrap();
    assert_eq!(first.plan.changes.len(), 0);
    let s = emu.stats();
    println!("first cycle: {:?}", s.by_operation);
    assert_eq!(s.count("ListJobs", "ok"), 10);
    assert_eq!(
        s.count("GetJobTagging", "ok"),
        1500,
        "only the etl jobs' tags are needed"
    );
    assert_eq!(s.total, 1510);

    emu.reset_stats();
    let second = rig.reconciler.cycle(&cfg, now).await.unwrap();
    assert_eq!(second.listed, 10_000);
    let s = emu.stats();
    println!("second cycle: {:?}", s.by_operation);
    assert_eq!(s.count("ListJobs", "ok"), 10);
    assert_eq!(
        s.total, 10,
        "a steady-state cycle is 10 ListJobs calls and nothing else"
    );
    emu.shutdown().await;
}

fn retry_delay_buckets(metrics: &s3prio::telemetry::Metrics) -> (u64, u64) {
    // (retries observed, retries with a delay under 10 ms)
    let text = metrics.encode();
    let mut count = 0;
    let mut under_10ms = 0;
    for line in text.lines() {
        if line.starts_with("s3prio_retry_delay_seconds_count") {
            count += line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
        if line.starts_with("s3prio_retry_delay_seconds_bucket") && line.contains("le=\"0.01\"") {
            under_10ms += line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    (count, under_10ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adapts_to_an_unknown_rate_limit() {
    let emu = emulator::start(EmulatorOptions {
        simulate: false,
        throttle: Some(Throttle {
            rps: 10.0,
            burst: 10,
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    insert_described(&emu, 300, "raise", 100);
    let dir = tempfile::tempdir().unwrap();
    let cfg = parse(&file_store_config(
        &emu.endpoint_url(),
        100.0,
        dir.path(),
        "ignore_tag = \"\"",
        RAISE,
    ));
    let mut rig = rig(&cfg).await;
    emu.reset_stats();
    let started = Instant::now();
    let report = rig.reconciler.cycle(&cfg, Utc::now()).await.unwrap();
    let elapsed = started.elapsed();
    let s = emu.stats();
    let throttled_pct = 100.0 * s.throttled as f64 / s.total as f64;
    println!(
        "300 changes at an unknown 10 rps (told 100): {:.1} s (ideal 29 s), {} requests, {} throttled ({:.1}%), final pace {:.2} rps",
        elapsed.as_secs_f64(),
        s.total,
        s.throttled,
        throttled_pct,
        rig.reconciler.current_rps()
    );
    assert_eq!(report.written, 300, "{}", report.summary());
    assert!(report.is_clean());
    assert_eq!(s.count("UpdateJobPriority", "ok"), 300);
    // The emulator's bucket starts full (10 requests), so no pace does better than 290 / 10 =
    // 29 s. Finding the limit costs a little probing, not a tenth of the run: a pace that
    // overreacts to a throttle, or recovers too slowly, runs past 32.5 s.
    let ideal = (300.0 - 10.0) / 10.0;
    assert!(
        elapsed.as_secs_f64() <= 1.12 * ideal,
        "300 changes at 10 rps took {:.1} s; ideal {ideal:.0} s, bound 1.12 x ideal",
        elapsed.as_secs_f64()
    );
    assert!(throttled_pct < 5.0, "throttled {throttled_pct:.1}%");
    let (retries, fast) = retry_delay_buckets(&rig.metrics);
    assert!(retries > 0, "throttling caused retries");
    assert_eq!(fast, 0, "a retry was sent with (almost) no delay");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_faults_and_dropped_connections_lose_nothing() {
    let emu = emulator::start(EmulatorOptions {
        simulate: false,
        fault_rate: 0.15,
        drop_rate: 0.05,
        ..Default::default()
    })
    .await
    .unwrap();
    let ids = insert_described(&emu, 200, "raise", 100);
    let dir = tempfile::tempdir().unwrap();
    let cfg = parse(&file_store_config(
        &emu.endpoint_url(),
        200.0,
        dir.path(),
        "",
        RAISE,
    ));
    let mut rig = rig(&cfg).await;
    let report = rig.reconciler.cycle(&cfg, Utc::now()).await.unwrap();
    let s = emu.stats();
    println!(
        "faults: {} requests, {} InternalServiceException, {} dropped; {}",
        s.total,
        s.faults,
        s.dropped,
        report.summary()
    );
    assert!(s.faults > 0 && s.dropped > 0, "faults were injected: {s:?}");
    assert!(report.is_clean(), "{}", report.summary());
    for id in &ids {
        assert_eq!(priority(&emu, id), 500);
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_vanishing_before_its_write_is_dropped_without_retry() {
    let emu = quiet_emulator().await;
    let ids = insert_described(&emu, 100, "raise", 100);
    let dir = tempfile::tempdir().unwrap();
    let cfg = parse(&file_store_config(
        &emu.endpoint_url(),
        20.0,
        dir.path(),
        "ignore_tag = \"\"",
        RAISE,
    ));
    let mut rig = rig(&cfg).await;
    // 100 writes at 20/s take ~5 s; the jobs vanish (complete and age out) after ~1.5 s.
    let emu_ref = &emu;
    let vanish = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let mut removed = Vec::new();
        for id in ids.iter().rev().take(40) {
            if priority(emu_ref, id) == 100 {
                emu_ref.remove_job(ACCOUNT, id);
                removed.push(id.clone());
            }
        }
        removed
    };
    let (report, removed) = tokio::join!(rig.reconciler.cycle(&cfg, Utc::now()), vanish);
    let report = report.unwrap();
    let s = emu.stats();
    println!(
        "vanished: {} removed mid-cycle; {}",
        removed.len(),
        report.summary()
    );
    assert!(!removed.is_empty());
    assert_eq!(report.vanished, removed.len());
    assert_eq!(
        s.count("UpdateJobPriority", "NotFoundException") as usize,
        removed.len(),
        "each vanished job was tried once, never retried"
    );
    assert!(report.is_clean(), "a vanished job is not a failure");
    assert_eq!(report.written + report.vanished, 100);
    emu.shutdown().await;
}

const WINDOW_POLICY: &str = r#"
[windows.business-hours]
timezone = "America/New_York"
days = ["Mon-Fri"]
ranges = ["09:00-17:00"]

[[rules]]
name = "urgent-business-hours"
when = { tags = { urgent = "true" }, in_window = "business-hours" }
action = { set = 900 }
"#;

async fn restart_keeps_baselines(baseline_toml: &str) {
    let emu = quiet_emulator().await;
    let ids = insert_jobs(&emu, 50, 10, 120);
    let cfg = parse(&config_text(
        &emu.endpoint_url(),
        500.0,
        &format!("{baseline_toml}\n{WINDOW_POLICY}"),
    ));
    let inside = Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap();
    let after = Utc.with_ymd_and_hms(2026, 12, 1, 23, 0, 0).unwrap();
    {
        let mut rig = rig(&cfg).await;
        let r = rig.reconciler.cycle(&cfg, inside).await.unwrap();
        assert_eq!(r.written, 10);
        for id in &ids[..10] {
            assert_eq!(priority(&emu, id), 900);
        }
        // The process dies here: nothing in memory survives.
    }
    let mut rig = rig(&cfg).await;
    let r = rig.reconciler.cycle(&cfg, after).await.unwrap();
    assert_eq!(r.written, 10, "{}", r.summary());
    for id in &ids {
        assert_eq!(
            priority(&emu, id),
            120,
            "back at its own priority after the window"
        );
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_after_window_restores_baselines_from_tags() {
    restart_keeps_baselines("[baseline]\nstore = [\"tag\"]").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_after_window_restores_baselines_from_state_file() {
    let dir = tempfile::tempdir().unwrap();
    restart_keeps_baselines(&file_store(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_store_keeps_the_jobs_other_tags() {
    let emu = quiet_emulator().await;
    let ids = insert_jobs(&emu, 4, 4, 120);
    let cfg = parse(&config_text(&emu.endpoint_url(), 500.0, WINDOW_POLICY));
    let mut rig = rig(&cfg).await;
    let inside = Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap();
    rig.reconciler.cycle(&cfg, inside).await.unwrap();
    let job = emu.job(ACCOUNT, &ids[0]).unwrap();
    let tags: std::collections::BTreeMap<_, _> = job
        .tags
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str()))
        .collect();
    assert_eq!(tags.get("urgent"), Some(&"true"));
    assert_eq!(tags.get("team"), Some(&"data"));
    assert_eq!(tags.get("s3prio/baseline"), Some(&"120"));
    assert_eq!(tags.get("s3prio/last-set"), Some(&"900"));
    emu.shutdown().await;
}

async fn manual_change(on_manual_change: &str) -> (i32, usize) {
    let emu = quiet_emulator().await;
    let ids = insert_jobs(&emu, 5, 5, 120);
    let dir = tempfile::tempdir().unwrap();
    let cfg = parse(&file_store_config(
        &emu.endpoint_url(),
        500.0,
        dir.path(),
        &format!("on_manual_change = \"{on_manual_change}\""),
        WINDOW_POLICY,
    ));
    let mut rig = rig(&cfg).await;
    let inside = Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap();
    rig.reconciler.cycle(&cfg, inside).await.unwrap();
    assert_eq!(priority(&emu, &ids[0]), 900);
    // An operator sets one job by hand.
    emu.set_priority_direct(ACCOUNT, &ids[0], 333);
    let r = rig.reconciler.cycle(&cfg, inside).await.unwrap();
    let p = priority(&emu, &ids[0]);
    emu.shutdown().await;
    (p, r.plan.hands_off.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_change_stands_by_default() {
    let (p, hands_off) = manual_change("respect").await;
    assert_eq!(p, 333);
    assert_eq!(hands_off, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_change_is_reverted_with_override() {
    let (p, hands_off) = manual_change("override").await;
    assert_eq!(p, 900);
    assert_eq!(hands_off, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_tag_takes_a_job_out_of_management() {
    let emu = quiet_emulator().await;
    let ids = insert_jobs(&emu, 3, 3, 120);
    emu.set_tags_direct(
        ACCOUNT,
        &ids[1],
        vec![tag("urgent", "true"), tag("s3prio/ignore", "true")],
    );
    let cfg = parse(&config_text(&emu.endpoint_url(), 500.0, WINDOW_POLICY));
    let mut rig = rig(&cfg).await;
    let inside = Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap();
    let r = rig.reconciler.cycle(&cfg, inside).await.unwrap();
    assert_eq!(r.written, 2);
    assert_eq!(priority(&emu, &ids[1]), 120);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blast_radius_guard_blocks_the_whole_cycle() {
    let emu = quiet_emulator().await;
    insert_described(&emu, 300, "raise", 100);
    let dir = tempfile::tempdir().unwrap();
    let cfg = parse(&file_store_config(
        &emu.endpoint_url(),
        500.0,
        dir.path(),
        "max_changes_per_cycle = 50",
        RAISE,
    ));
    let mut rig = rig(&cfg).await;
    emu.reset_stats();
    let r = rig.reconciler.cycle(&cfg, Utc::now()).await.unwrap();
    let blocked = r.plan.blocked.as_ref().expect("blocked");
    assert_eq!((blocked.would_change, blocked.limit), (300, 50));
    assert_eq!(r.written, 0);
    assert_eq!(emu.stats().by_operation.get("UpdateJobPriority"), None);
    assert!(rig
        .metrics
        .encode()
        .contains("s3prio_blast_radius_blocked_total{target=\"emu\"} 1"));
    assert!(r.summary().contains("BLOCKED"));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_writes_nothing() {
    let emu = quiet_emulator().await;
    insert_described(&emu, 20, "raise", 100);
    let dir = tempfile::tempdir().unwrap();
    let cfg = parse(&file_store_config(
        &emu.endpoint_url(),
        500.0,
        dir.path(),
        "dry_run = true",
        RAISE,
    ));
    let mut rig = rig(&cfg).await;
    let mut events = rig.audit.subscribe();
    emu.reset_stats();
    let r = rig.reconciler.cycle(&cfg, Utc::now()).await.unwrap();
    assert_eq!(r.plan.changes.len(), 20);
    assert_eq!(r.written, 0);
    let s = emu.stats();
    // Reads only: the list, and the tags of the jobs that would change (the opt-out tag check).
    for write in ["UpdateJobPriority", "PutJobTagging", "UpdateJobStatus"] {
        assert_eq!(s.by_operation.get(write), None, "dry run wrote: {s:?}");
    }
    assert_eq!(
        s.total,
        s.count("ListJobs", "ok") + s.count("GetJobTagging", "ok")
    );
    let ev = events.try_recv().expect("planned change audited");
    assert!(ev.dry_run);
    emu.shutdown().await;
}

#[test]
fn no_credentials_fails_fast_with_one_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("s3prio.toml");
    std::fs::write(
        &cfg_path,
        config_text(
            "http://127.0.0.1:9",
            10.0,
            "[[rules]]\nname = \"r\"\naction = { set = 5 }\n",
        ),
    )
    .unwrap();
    let mut cmd = std::process::Command::new(s3prio_bin());
    cmd.args(["apply", "--once", "--log-format", "text", "--config"])
        .arg(&cfg_path);
    child_env(&mut cmd, dir.path());
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let started = Instant::now();
    let out = cmd.output().expect("runs");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{elapsed:?}\n{stderr}");
    assert!(!out.status.success());
    // One message: the command's error says it once, and the log has one error event for it
    // (no retry, no repeat per call).
    let message = "no usable AWS credentials";
    assert_eq!(stderr.matches(message).count(), 1, "{stderr}");
    assert_eq!(stderr.matches("FAILED").count(), 1, "{stderr}");
    assert_eq!(stdout.matches(message).count(), 1, "{stdout}");
    // Clear: where it looked, and what to do.
    assert!(
        stderr.contains("environment") && stderr.contains("web identity"),
        "{stderr}"
    );
    assert!(stderr.contains("Fix: export AWS_ACCESS_KEY_ID"), "{stderr}");
    // Fast: the chain answers from local state (instance metadata is disabled); no network
    // wait, no retry. The process start of a debug build is a fraction of this.
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}
