//! The fault suite: the daemon as a process against a misbehaving emulator. Each test states
//! the fault, then checks that nothing is lost and the process never exits on its own.

mod common;

use std::time::Duration;

use tokio::time::Instant;

use common::process::*;
use common::wait::{poll, wait_until};
use common::*;
use s3prio::emulator::{JobSpec, JobStatus, RequestRecord};

fn urgent_config(
    emu: &s3prio::emulator::EmulatorHandle,
    home: &std::path::Path,
    extra: &str,
) -> String {
    daemon_config(
        &emu.endpoint_url(),
        home,
        "2s",
        &format!("{extra}\n{}", policy(500)),
    )
}

fn urgent_done(emu: &s3prio::emulator::EmulatorHandle, ids: &[String]) -> usize {
    ids.iter().filter(|id| priority(emu, id) == 500).count()
}

/// Parses `s3prio_retry_delay_seconds_bucket` lines into (le, cumulative count).
fn retry_histogram(metrics: &str) -> Vec<(String, u64)> {
    metrics
        .lines()
        .filter(|l| l.starts_with("s3prio_retry_delay_seconds_bucket"))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?.to_string();
            let n = l.rsplit(' ').next()?.parse().ok()?;
            Some((le, n))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttle_storm_then_calm() {
    let emu = quiet_emulator().await;
    let ids = insert_jobs(&emu, 300, 300, 100);
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("s3prio.toml");
    std::fs::write(&cfg, urgent_config(&emu, home.path(), "")).unwrap();
    emu.set_throttle_fraction(0.5);
    let mut d = Daemon::start(&cfg, home.path(), &[]);
    let addr = d.http_addr().await;
    let storm = Duration::from_secs(
        std::env::var("S3PRIO_STORM_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(30),
    );
    tokio::time::sleep(storm).await;
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "the daemon exited during the storm"
    );
    let during = emu.stats();
    println!(
        "storm: {} requests, {} throttled ({:.0}%), {} of 300 changes landed during it",
        during.total,
        during.throttled,
        100.0 * during.throttled as f64 / during.total.max(1) as f64,
        urgent_done(&emu, &ids)
    );
    assert!(
        during.throttled * 3 > during.total,
        "the storm throttled: {during:?}"
    );
    emu.set_throttle_fraction(0.0);
    wait_until(
        "all changes after the storm",
        Duration::from_secs(120),
        || urgent_done(&emu, &ids) == 300,
    )
    .await;

    let (_, metrics) = http(&addr, "GET", "/metrics");
    let hist = retry_histogram(&metrics);
    println!("retry delay distribution (cumulative, seconds):");
    let mut prev = 0;
    let mut buckets_used = 0;
    for (le, n) in &hist {
        if *n > prev {
            println!("  <= {le:>8}: {:>5}", n - prev);
            buckets_used += 1;
        }
        prev = *n;
    }
    assert!(
        buckets_used >= 4,
        "delays spread over several buckets (jitter + growth): {hist:?}"
    );
    // The backoff floor is a quarter of the 50 ms base: no retry waits less than 12.5 ms.
    let under_10ms = hist
        .iter()
        .find(|(le, _)| le == "0.01")
        .map(|(_, n)| *n)
        .unwrap_or(0);
    assert_eq!(under_10ms, 0, "no retry without a delay");
    assert!(d.child.try_wait().unwrap().is_none());
    d.signal("TERM");
    assert!(d
        .wait_exit(Duration::from_secs(15))
        .await
        .is_some_and(|s| s.success()));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_down_then_back() {
    let emu = quiet_emulator().await;
    let ids = insert_jobs(&emu, 100, 50, 100);
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("s3prio.toml");
    std::fs::write(
        &cfg,
        urgent_config(&emu, home.path(), "")
            .replace("requests_per_second = 200", "requests_per_second = 10"),
    )
    .unwrap();
    let d = Daemon::start(&cfg, home.path(), &[]);
    let addr = d.http_addr().await;
    wait_until("some changes", Duration::from_secs(20), || {
        urgent_done(&emu, &ids) >= 5
    })
    .await;
    // Down mid-cycle (50 writes at 10/s take 5 s).
    emu.set_down(true);
    let down_for = Duration::from_secs(
        std::env::var("S3PRIO_OUTAGE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(30),
    );
    let went_down = Instant::now();
    wait_until("readiness 503", Duration::from_secs(25), || {
        http(&addr, "GET", "/readyz").0 == 503
    })
    .await;
    assert_eq!(
        http(&addr, "GET", "/healthz").0,
        200,
        "liveness never depends on AWS"
    );
    tokio::time::sleep(down_for.saturating_sub(went_down.elapsed())).await;
    emu.set_down(false);
    wait_until("readiness 200", Duration::from_secs(60), || {
        http(&addr, "GET", "/readyz").0 == 200
    })
    .await;
    wait_until("all changes", Duration::from_secs(30), || {
        urgent_done(&emu, &ids) == 50
    })
    .await;
    println!("outage of {down_for:?}: recovered, 50/50 changes landed");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_mid_cycle_loses_no_baseline() {
    use chrono::{Timelike, Utc};
    let emu = quiet_emulator().await;
    let ids = insert_jobs(&emu, 200, 200, 100);
    for (i, id) in ids.iter().enumerate() {
        emu.set_priority_direct(ACCOUNT, id, 100 + i as i32);
    }
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("s3prio.toml");
    // A window open now (UTC), and the same window closed.
    let now = Utc::now();
    let h = now.hour();
    let open_now = format!("{:02}:00-{:02}:00", h, (h + 2) % 24);
    let closed_now = format!("{:02}:00-{:02}:00", (h + 3) % 24, (h + 4) % 24);
    let rules = |range: &str| {
        format!(
            "[windows.w]\ntimezone = \"UTC\"\nranges = [\"{range}\"]\n\n[[rules]]\nname = \"raise\"\nwhen = {{ tags = {{ urgent = \"true\" }}, in_window = \"w\" }}\naction = {{ raise = 1000 }}\n"
        )
    };
    // Tag store: the baseline lives on the job itself.
    let text = |range: &str| {
        daemon_config(&emu.endpoint_url(), home.path(), "2s", &rules(range))
            .replace("store = [\"file\"]", "store = [\"tag\"]")
            .replace("state_file = ", "# state_file = ")
            .replace("requests_per_second = 200", "requests_per_second = 60")
    };
    std::fs::write(&cfg, text(&open_now)).unwrap();
    let mut d = Daemon::start(&cfg, home.path(), &[]);
    let raised = || {
        ids.iter()
            .enumerate()
            .filter(|(i, id)| priority(&emu, id) == 1100 + *i as i32)
            .count()
    };
    if poll(Duration::from_secs(30), || (raised() >= 20).then_some(()))
        .await
        .is_none()
    {
        panic!("nothing raised:\n{}", d.log());
    }
    d.signal("KILL");
    let _ = d.wait_exit(Duration::from_secs(5)).await;
    let at_kill = raised();
    println!("killed with {at_kill} of 200 raised");
    assert!(at_kill < 200, "the kill must land mid-cycle");

    // Restart inside the window: converges.
    let d2 = Daemon::start(&cfg, home.path(), &[]);
    wait_until("all raised", Duration::from_secs(60), || raised() == 200).await;
    drop(d2);
    // Restart after the window closed: every job back at its own priority.
    std::fs::write(&cfg, text(&closed_now)).unwrap();
    let _d3 = Daemon::start(&cfg, home.path(), &[]);
    wait_until("all restored", Duration::from_secs(60), || {
        ids.iter()
            .enumerate()
            .all(|(i, id)| priority(&emu, id) == 100 + i as i32)
    })
    .await;
    emu.shutdown().await;
}

/// Requests the emulator logged for `id` from index `from` on: (operation, outcome).
fn requests_for(log: &[RequestRecord], from: usize, id: &str) -> Vec<(&'static str, String)> {
    log[from.min(log.len())..]
        .iter()
        .filter(|r| r.job_id.as_deref() == Some(id))
        .map(|r| (r.operation, r.outcome.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_finish_and_appear_during_cycles() {
    let emu = quiet_emulator().await;
    let ids = insert_jobs(&emu, 200, 200, 100);
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("s3prio.toml");
    // Chosen by description (no tag read, opt-out tag off): the first listing decides every
    // job, so at 40 writes per second most writes are still queued when the jobs change.
    let text = |set: i32| {
        let rule = format!(
            "[[rules]]\nname = \"copies\"\nwhen = {{ description_glob = \"nightly copy *\" }}\naction = {{ set = {set} }}\n"
        );
        daemon_config(&emu.endpoint_url(), home.path(), "2s", &rule)
            .replace("[reconcile]\n", "[reconcile]\nignore_tag = \"\"\n")
            .replace("requests_per_second = 200", "requests_per_second = 40")
    };
    std::fs::write(&cfg, text(500)).unwrap();
    emu.start_request_log();
    let d = Daemon::start(&cfg, home.path(), &[]);
    let addr = d.http_addr().await;
    wait_until("some changes", Duration::from_secs(20), || {
        urgent_done(&emu, &ids) >= 10
    })
    .await;
    // Of the jobs whose write is still queued (the last ones in job-id order, the order the
    // writes go out in), 30 vanish (NotFound on their write) and 20 complete.
    let mut pending: Vec<&String> = ids.iter().filter(|id| priority(&emu, id) == 100).collect();
    pending.sort_unstable();
    let (removed, completed): (Vec<String>, Vec<String>) = {
        let mut last = pending.iter().rev().map(|s| s.to_string());
        let removed: Vec<String> = last.by_ref().take(30).collect();
        (removed, last.take(20).collect())
    };
    for id in &removed {
        assert!(emu.remove_job(ACCOUNT, id).is_some());
    }
    for id in &completed {
        emu.set_status_direct(ACCOUNT, id, JobStatus::Complete);
    }
    let fresh: Vec<String> = (0..50)
        .map(|i| {
            emu.insert_job(JobSpec {
                account_id: ACCOUNT.into(),
                description: Some(format!("nightly copy late {i}")),
                priority: 100,
                status: JobStatus::Ready,
                ..Default::default()
            })
        })
        .collect();
    let alive: Vec<String> = ids
        .iter()
        .filter(|id| !removed.contains(id) && !completed.contains(id))
        .cloned()
        .collect();
    wait_until(
        "remaining and new jobs raised",
        Duration::from_secs(60),
        || urgent_done(&emu, &alive) == 150 && urgent_done(&emu, &fresh) == 50,
    )
    .await;
    wait_until("ready", Duration::from_secs(10), || {
        http(&addr, "GET", "/readyz").0 == 200
    })
    .await;

    // Each vanished job whose write was queued got that one write, answered NotFound, and
    // never a retry nor any later call.
    let log = emu.request_log();
    let mut not_found = 0;
    for id in &removed {
        let calls = requests_for(&log, 0, id);
        let writes: Vec<_> = calls
            .iter()
            .filter(|(op, _)| *op == "UpdateJobPriority")
            .collect();
        if writes.iter().any(|(_, outcome)| outcome == "ok") {
            continue; // its write was on the wire when it vanished
        }
        assert_eq!(
            writes.len(),
            1,
            "job {id} vanished with its write queued: {calls:?}"
        );
        assert_eq!(writes[0].1, "NotFoundException", "{calls:?}");
        not_found += 1;
    }
    assert!(
        not_found >= 25,
        "only {not_found} of 30 vanished jobs met NotFound on their write"
    );

    // A finished job is no longer managed: a policy change that moves every other job leaves
    // it where it was, without a single call for it.
    let at_completion: Vec<i32> = completed.iter().map(|id| priority(&emu, id)).collect();
    let mark = emu.request_log().len();
    std::fs::write(&cfg, text(600)).unwrap();
    wait_until(
        "the new policy on the remaining jobs",
        Duration::from_secs(60),
        || urgent_done_at(&emu, &alive, 600) && urgent_done_at(&emu, &fresh, 600),
    )
    .await;
    let log = emu.request_log();
    for (id, before) in completed.iter().zip(&at_completion) {
        assert_eq!(
            priority(&emu, id),
            *before,
            "completed job {id} was changed"
        );
        let calls = requests_for(&log, mark, id);
        assert!(calls.is_empty(), "completed job {id} was called: {calls:?}");
    }
    println!(
        "{not_found} of 30 vanished jobs met NotFound on their queued write; 20 completed jobs \
         left alone by the next policy; 50 new jobs raised"
    );
    let log = d.log();
    assert!(!log.contains("panicked"), "{log}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_storm_ends_on_the_last_valid_policy() {
    let emu = quiet_emulator().await;
    let ids = insert_jobs(&emu, 20, 5, 100);
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("s3prio.toml");
    let text = |set: i32| daemon_config(&emu.endpoint_url(), home.path(), "2s", &policy(set));
    std::fs::write(&cfg, text(300)).unwrap();
    let mut d = Daemon::start(&cfg, home.path(), &[]);
    let addr = d.http_addr().await;
    wait_until("first policy", Duration::from_secs(15), || {
        urgent_done_at(&emu, &ids[..5], 300)
    })
    .await;
    // 50 edits in 10 s; every third one invalid; the last one valid.
    for i in 0..50 {
        let body = if i % 3 == 2 {
            text(400 + i).replace("[[rules]]", "[[rulez]]")
        } else {
            text(400 + i)
        };
        std::fs::write(&cfg, body).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let last = 400 + 49;
    wait_until("final policy applied", Duration::from_secs(15), || {
        urgent_done_at(&emu, &ids[..5], last)
    })
    .await;
    assert!(d.child.try_wait().unwrap().is_none(), "no crash");
    let (_, metrics) = http(&addr, "GET", "/metrics");
    assert!(metrics.contains("s3prio_config_last_reload_successful 1"));
    // Every third edit was invalid (at the `[[rulez]]` table): rejections were seen and each
    // was logged with its location, that table or (a read that caught an edit half-written)
    // the empty file; every applied reload was counted.
    let log = d.log();
    let rejections: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("config reload rejected"))
        .collect();
    let applied = log.matches("config reloaded").count();
    let rulez_line = text(0)
        .lines()
        .position(|l| l.starts_with("[[rules]]"))
        .expect("a rules table")
        + 1;
    let at_rulez = format!("s3prio.toml:{rulez_line}:3: error: unknown field `rulez`");
    let half_written = "s3prio.toml:1:1: error: no targets";
    println!(
        "reload storm: 50 edits (16 invalid), {} rejected reloads logged ({} of an invalid edit), \
         {applied} applied, final policy {last} applied",
        rejections.len(),
        rejections.iter().filter(|r| r.contains(&at_rulez)).count()
    );
    assert!(
        rejections.iter().any(|r| r.contains(&at_rulez)),
        "no invalid edit was rejected:\n{log}"
    );
    for r in &rejections {
        assert!(
            r.contains(&at_rulez) || r.contains(half_written),
            "a rejection of something else than the invalid edit: {r}"
        );
    }
    let reloads_total = metrics
        .lines()
        .find_map(|l| l.strip_prefix("s3prio_config_reloads_total "))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .expect("s3prio_config_reloads_total");
    assert!(applied >= 1);
    assert_eq!(reloads_total, applied, "every applied reload counted");
    d.signal("TERM");
    assert!(d
        .wait_exit(Duration::from_secs(10))
        .await
        .is_some_and(|s| s.success()));
    emu.shutdown().await;
}

fn urgent_done_at(emu: &s3prio::emulator::EmulatorHandle, ids: &[String], p: i32) -> bool {
    ids.iter().all(|id| priority(emu, id) == p)
}
