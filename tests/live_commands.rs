//! The live commands at the cost of what they are asked: `explain` and `plan --job` read one
//! job, `plan` shows progress on long reads and keeps stdout for the plan, Ctrl-C stops cleanly.
//! The emulator's active time grows with simulated time. The real binary against the emulator.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use tokio::time::Instant;

use common::*;
use s3prio::emulator::{self, EmulatorOptions, JobSpec, JobStatus, Throttle};

const URGENT_RULE: &str = r#"
[[rules]]
name = "urgent"
when = { tags = { urgent = "true" } }
action = { set = 900 }
"#;

fn write_config(dir: &std::path::Path, endpoint: &str, rps: f64) -> std::path::PathBuf {
    let path = dir.join("s3prio.toml");
    // The defaults: tag store, opt-out tag.
    std::fs::write(&path, config_text(endpoint, rps, URGENT_RULE)).unwrap();
    path
}

fn s3prio(dir: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(s3prio_bin());
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    child_env(&mut cmd, dir);
    cmd
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_and_plan_job_read_one_job_and_never_list() {
    let emu = quiet_emulator().await;
    let ids = insert_jobs(&emu, 2000, 10, 100);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &emu.endpoint_url(), 10.0);
    let cfg = cfg.to_str().unwrap();

    emu.reset_stats();
    let started = Instant::now();
    let out = s3prio(dir.path(), &["explain", "--config", cfg, &ids[3]])
        .output()
        .unwrap();
    let took = started.elapsed();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("urgent"), "{stdout}");
    assert!(stdout.contains("900"), "{stdout}");
    let s = emu.stats();
    println!(
        "explain: {} requests in {took:?}: {:?}",
        s.total, s.by_operation
    );
    assert!(s.total <= 3, "{:?}", s.by_operation);
    assert_eq!(
        s.by_operation.get("ListJobs"),
        None,
        "explain listed the account"
    );
    assert_eq!(s.count("DescribeJob", "ok"), 1);

    emu.reset_stats();
    let out = s3prio(dir.path(), &["plan", "--config", cfg, "--job", &ids[3]])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(&ids[3]) && stdout.contains("900"),
        "{stdout}"
    );
    assert!(
        stdout.starts_with("plan at "),
        "stdout holds the plan only: {stdout}"
    );
    let s = emu.stats();
    assert!(s.total <= 3, "{:?}", s.by_operation);
    assert_eq!(s.by_operation.get("ListJobs"), None);
    // Read-only.
    assert_eq!(priority(&emu, &ids[3]), 100);

    let out = s3prio(
        dir.path(),
        &["explain", "--config", cfg, "no-such-job-0000"],
    )
    .output()
    .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no such job in target `emu` (123456789012, us-east-1): no-such-job-0000"),
        "{stderr}"
    );
    emu.shutdown().await;
}

/// The `N/M reads` counts of every progress line in `stderr`, in order.
fn read_counts(stderr: &str) -> Vec<usize> {
    stderr
        .lines()
        .filter_map(|l| {
            let (_, rest) = l.split_once("jobs listed; ")?;
            rest.split('/').next()?.parse().ok()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_live_plan_shows_progress_on_stderr_and_only_the_plan_on_stdout() {
    let emu = quiet_emulator().await;
    insert_jobs(&emu, 60, 5, 100);
    emu.set_throttle(Some(Throttle {
        rps: 20.0,
        burst: 1,
    }));
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &emu.endpoint_url(), 20.0);
    let cfg = cfg.to_str().unwrap();

    let out = s3prio(
        dir.path(),
        &["plan", "--config", cfg, "--progress", "always"],
    )
    .output()
    .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let counts = read_counts(&stderr);
    println!("progress read counts: {counts:?}");
    assert!(counts.len() >= 3, "progress lines:\n{stderr}");
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    assert!(
        counts.first() < counts.last(),
        "counts increase: {counts:?}"
    );
    assert!(stderr.contains("req/s"), "{stderr}");
    assert!(stdout.starts_with("plan at "), "{stdout}");
    assert!(stdout.contains("5 change(s)"), "{stdout}");
    assert!(!stdout.contains("reads"), "progress on stdout: {stdout}");

    // Not a terminal and not forced: nothing but the plan, no progress anywhere.
    let out = s3prio(dir.path(), &["plan", "--config", cfg])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success());
    assert!(read_counts(&stderr).is_empty(), "{stderr}");
    assert!(stdout.starts_with("plan at "), "{stdout}");
    emu.shutdown().await;
}

async fn interrupt_after(child: &std::process::Child, after: Duration) {
    tokio::time::sleep(after).await;
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_a_long_plan_and_apply_and_says_what_was_done() {
    let emu = quiet_emulator().await;
    let ids = insert_jobs(&emu, 400, 400, 100);
    emu.set_throttle(Some(Throttle {
        rps: 20.0,
        burst: 1,
    }));
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &emu.endpoint_url(), 20.0);
    let cfg = cfg.to_str().unwrap();

    let child = s3prio(dir.path(), &["plan", "--config", cfg])
        .spawn()
        .unwrap();
    interrupt_after(&child, Duration::from_secs(3)).await;
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(stderr.contains("interrupted: no plan"), "{stderr}");
    assert!(stderr.contains("of 400 reads done"), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");

    let child = s3prio(
        dir.path(),
        &["apply", "--once", "--log-format", "json", "--config", cfg],
    )
    .spawn()
    .unwrap();
    interrupt_after(&child, Duration::from_secs(4)).await;
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let written = ids.iter().filter(|id| priority(&emu, id) == 900).count();
    assert!(
        written > 0 && written < 400,
        "{written} written before Ctrl-C"
    );
    // Every change made has its audit line, and the summary says how many.
    assert_eq!(
        stdout.matches("\"event\":\"priority_changed\"").count(),
        written
    );
    assert!(stderr.contains(&format!("{written} written")), "{stderr}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_time_grows_with_simulated_time_at_every_scale() {
    for scale in [1.0, 60.0] {
        let emu = emulator::start(EmulatorOptions {
            simulate: false,
            ..Default::default()
        })
        .await
        .unwrap();
        let id = emu.insert_job(JobSpec {
            account_id: ACCOUNT.to_string(),
            status: JobStatus::Active,
            ..Default::default()
        });
        // The simulation steps a quarter of a second of wall time at a time.
        for _ in 0..40 {
            emu.advance_simulation(0.25 * scale, 4);
        }
        let job = emu.job(ACCOUNT, &id).unwrap();
        let expected = (10.0 * scale) as i64;
        println!(
            "x{scale}: {} active seconds, {} tasks done",
            job.progress.elapsed_active_seconds, job.progress.succeeded
        );
        if job.status == JobStatus::Active {
            assert_eq!(job.progress.elapsed_active_seconds, expected, "x{scale}");
        } else {
            // Finished early: at most the simulated time.
            assert!(job.progress.elapsed_active_seconds <= expected, "x{scale}");
            assert!(job.progress.elapsed_active_seconds > 0, "x{scale}");
        }
        emu.shutdown().await;
    }
    // And through the running simulation at 1x: 2.5 s of wall time is about 2 active seconds.
    let emu = emulator::start(EmulatorOptions::default()).await.unwrap();
    let id = emu.insert_job(JobSpec {
        account_id: ACCOUNT.to_string(),
        status: JobStatus::Active,
        ..Default::default()
    });
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let job = emu.job(ACCOUNT, &id).unwrap();
    assert!(
        job.progress.elapsed_active_seconds >= 2,
        "{:?}",
        job.progress
    );
    emu.shutdown().await;
}
