//! Large account on the default settings: `s3prio run` (the real binary, the real SDK) against
//! an emulator holding N live jobs, K of them tagged `urgent=true`, throttled at R requests per
//! second, the daemon told R. Everything else is the default: tag baseline store, opt-out tag,
//! `tags_ttl`, `read_share`, `tags_refresh_share`, a 30 s interval. The policy is the README's
//! headline rule (`urgent=true` -> 900) in a window that is always open, so the figures do not
//! depend on the day the bench runs.
//!
//! Prints: whether `/healthz` stayed 200 throughout (polled every second); seconds from the
//! first read of each urgent job's tags to its write; the time until all K are raised against
//! the fewest requests that can do it (ListJobs pages + N GetJobTagging + K PutJobTagging + K
//! UpdateJobPriority) divided by R; then, after the warm-up, the requests per hour of a steady
//! state with unchanged tags. Peak RSS and CPU of the daemon.
//!
//! Run: `cargo bench --bench large_account` (N = 10,000, K = 500, R = 10, 10 minutes of steady
//! state after convergence: about 30 minutes in all); `-- --quick` for N = 2,000, K = 100,
//! 3 minutes; `-- --steady-minutes M` to choose the steady-state window.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;

use common::{bin, free_port};
use s3prio::emulator::{self, EmulatorOptions, JobSpec, JobStatus, Tag, Throttle};
use tokio::time::Instant;

const ACCOUNT: &str = "123456789012";

fn config(endpoint: &str, port: u16, rps: f64) -> String {
    format!(
        r#"
[http]
listen = "127.0.0.1:{port}"

[windows.always]
timezone = "America/New_York"
ranges = ["00:00-24:00"]

[[rules]]
name = "urgent"
when = {{ tags = {{ urgent = "true" }}, in_window = "always" }}
action = {{ set = 900 }}

[[targets]]
name = "large"
account_id = "{ACCOUNT}"
region = "us-east-1"
endpoint_url = "{endpoint}"

[targets.rate_limit]
requests_per_second = {rps}
burst = {burst}
"#,
        burst = rps.ceil() as u32
    )
}

/// A minimal HTTP GET (status code only).
fn healthz(port: u16) -> u16 {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(
        s,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn proc_sample(pid: u32) -> (u64, u64) {
    (common::status_field(pid, "VmHWM:"), common::cpu_ticks(pid))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let (n, k, r) = if quick {
        (2_000, 100, 10.0)
    } else {
        (10_000, 500, 10.0)
    };
    let steady_minutes: u64 = args
        .iter()
        .skip_while(|a| *a != "--steady-minutes")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 3 } else { 10 });

    let emu = emulator::start(EmulatorOptions {
        simulate: false,
        ..Default::default()
    })
    .await
    .expect("emulator");
    let mut urgent = Vec::new();
    for i in 0..n {
        let mut tags = vec![Tag {
            key: "team".into(),
            value: if i % 2 == 0 { "data" } else { "ml" }.into(),
        }];
        // Spread over the listing, every (n/k)-th job.
        let is_urgent = i % (n / k) == 7;
        if is_urgent {
            tags.push(Tag {
                key: "urgent".into(),
                value: "true".into(),
            });
        }
        let id = emu.insert_job(JobSpec {
            account_id: ACCOUNT.into(),
            description: Some(format!("copy {i}")),
            priority: 100,
            status: if i % 3 == 0 {
                JobStatus::Active
            } else {
                JobStatus::Ready
            },
            tags,
            ..Default::default()
        });
        if is_urgent {
            urgent.push(id);
        }
    }
    assert_eq!(urgent.len(), k);
    emu.set_throttle(Some(Throttle {
        rps: r,
        burst: r.ceil() as u32,
    }));
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("s3prio.toml");
    let port = free_port();
    std::fs::write(&cfg, config(&emu.endpoint_url(), port, r)).expect("write");
    println!(
        "large account, default settings: N = {n} live jobs, K = {k} urgent, R = {r} req/s (emulator limit and daemon pace)"
    );
    emu.reset_stats();
    emu.start_request_log();
    let started = Instant::now();
    let mut child = Command::new(bin())
        .args(["run", "--log-format", "json", "--config"])
        .arg(&cfg)
        .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn s3prio run");
    let pid = child.id();

    // Phase 1: convergence, /healthz every second.
    let ideal_requests = n.div_ceil(1000) + n + 2 * k;
    let ideal = ideal_requests as f64 / r;
    let deadline = started + Duration::from_secs_f64(ideal * 3.0 + 120.0);
    let (mut checks, mut unhealthy) = (0u64, Vec::new());
    let mut converged = None;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let status = tokio::task::spawn_blocking(move || healthz(port))
            .await
            .unwrap_or(0);
        checks += 1;
        if status != 200 {
            unhealthy.push((started.elapsed().as_secs(), status));
        }
        let done = urgent
            .iter()
            .filter(|id| emu.job(ACCOUNT, id).is_some_and(|j| j.priority == 900))
            .count();
        if done == k {
            converged = Some(started.elapsed());
            break;
        }
    }
    let log = emu.request_log();
    let Some(converged_at) = converged else {
        let _ = child.kill();
        panic!("did not converge within {:?}", deadline - started);
    };
    let first = log.first().map(|l| l.at).unwrap_or(started);
    let urgent_set: std::collections::HashSet<&str> = urgent.iter().map(String::as_str).collect();
    let mut first_read: HashMap<&str, Instant> = HashMap::new();
    let mut written: HashMap<&str, Instant> = HashMap::new();
    let mut by_op: std::collections::BTreeMap<&str, u64> = Default::default();
    for rec in &log {
        *by_op.entry(rec.operation).or_default() += 1;
        let Some(id) = rec.job_id.as_deref().filter(|id| urgent_set.contains(id)) else {
            continue;
        };
        if rec.outcome != "ok" {
            continue;
        }
        match rec.operation {
            "GetJobTagging" => {
                first_read.entry(id).or_insert(rec.at);
            }
            "UpdateJobPriority" => {
                written.entry(id).or_insert(rec.at);
            }
            _ => {}
        }
    }
    let last_write = written.values().max().copied().unwrap_or(first);
    let all_raised = last_write.duration_since(first).as_secs_f64();
    let mut lat: Vec<f64> = urgent
        .iter()
        .filter_map(|id| {
            let (r0, w) = (first_read.get(id.as_str())?, written.get(id.as_str())?);
            Some(w.duration_since(*r0).as_secs_f64())
        })
        .collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    let (rss1, ticks1) = proc_sample(pid);
    let total: u64 = by_op.values().sum();
    println!("\n| phase | figure |\n|---|---|");
    println!(
        "| /healthz during convergence | {} of {checks} checks 200{} |",
        checks - unhealthy.len() as u64,
        if unhealthy.is_empty() {
            String::new()
        } else {
            format!(" (not 200 at {unhealthy:?})")
        }
    );
    println!(
        "| first read of an urgent job's tags -> its write | median {:.2} s, p90 {:.2} s, max {:.2} s ({} jobs) |",
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 1.0),
        lat.len()
    );
    println!(
        "| all {k} urgent raised | {all_raised:.0} s after the first request ({:.0} s after start); fewest requests {ideal_requests} / R = {ideal:.0} s; ratio {:.2} |",
        converged_at.as_secs_f64(),
        all_raised / ideal
    );
    println!(
        "| requests until then | {total} ({by_op:?}), {} throttled |",
        emu.stats().throttled
    );

    // Phase 2: steady state with unchanged tags.
    tokio::time::sleep(Duration::from_secs(5)).await;
    emu.start_request_log();
    let window = Duration::from_secs(steady_minutes * 60);
    let steady_start = Instant::now();
    let mut steady_unhealthy = 0;
    while steady_start.elapsed() < window {
        tokio::time::sleep(Duration::from_secs(5)).await;
        if tokio::task::spawn_blocking(move || healthz(port))
            .await
            .unwrap_or(0)
            != 200
        {
            steady_unhealthy += 1;
        }
    }
    let steady = emu.request_log();
    let hours = window.as_secs_f64() / 3600.0;
    let mut steady_ops: std::collections::BTreeMap<&str, u64> = Default::default();
    for rec in &steady {
        *steady_ops.entry(rec.operation).or_default() += 1;
    }
    let tags_per_hour = steady_ops.get("GetJobTagging").copied().unwrap_or(0) as f64 / hours;
    let (rss2, ticks2) = proc_sample(pid);
    println!(
        "| steady state, {steady_minutes} min after convergence | GetJobTagging {tags_per_hour:.0}/h ({:.1} % of the {:.0}/h budget); all requests {:.0}/h ({steady_ops:?}); /healthz not 200: {steady_unhealthy} |",
        100.0 * tags_per_hour / (r * 3600.0),
        r * 3600.0,
        steady.len() as f64 / hours,
    );
    println!(
        "| daemon | peak RSS {:.1} MiB; CPU {:.1} s to converge, {:.1} s in the steady window |",
        rss2.max(rss1) as f64 / 1024.0,
        ticks1 as f64 / 100.0,
        ticks2.saturating_sub(ticks1) as f64 / 100.0
    );
    let _ = child.kill();
    let _ = child.wait();
    emu.shutdown().await;
}
