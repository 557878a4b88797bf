//! Many targets in one process: `s3prio run` (the real binary, the real SDK) with one target
//! set covering an emulated organization of N accounts (Organizations and STS emulated, a role
//! assumed in each account), one region, a 30 s interval, idle: every account holds a few jobs
//! the policy leaves as they are. Everything else is the default (tag baseline store).
//!
//! For each N it waits until every target has cycled once and one more interval passed, then
//! measures for two intervals and prints: resident memory (now and peak), open file
//! descriptors, threads, CPU seconds per minute and as a share of one core, and how the
//! ListJobs calls spread over the interval (the busiest second against the average second).
//!
//! Run: `cargo build --release && cargo bench --bench targets` (N = 1, 100, 1000; about
//! 8 minutes); `-- --sizes 1,100` to choose N; `-- --interval 30` to choose the interval (s).

use std::process::{Command, Stdio};
use std::time::Duration;

mod common;

use common::{bin, cpu_ticks, free_port, status_field};
use s3prio::emulator::{self, EmulatorHandle, EmulatorOptions, OrgShape};
use tokio::time::Instant;

const JOBS_PER_ACCOUNT: usize = 3;
const MEASURE_INTERVALS: u32 = 2;

/// A policy that matches none of the generated jobs: the daemon only watches.
fn config(endpoint: &str, port: u16, interval: u64) -> String {
    format!(
        r#"
[reconcile]
interval = "{interval}s"

[http]
listen = "127.0.0.1:{port}"

[[rules]]
name = "urgent"
when = {{ description_glob = "never-*" }}
action = {{ set = 900 }}

[[target_sets]]
name = "org"
role_arn = "arn:aws:iam::{{account_id}}:role/s3prio"
regions = ["us-east-1"]
endpoint_url = "{endpoint}"
organizations_endpoint_url = "{endpoint}"
sts_endpoint_url = "{endpoint}"
"#
    )
}

/// What /proc says about a process.
#[derive(Debug, Default, Clone, Copy)]
struct Sample {
    rss_kib: u64,
    hwm_kib: u64,
    threads: u64,
    fds: u64,
    cpu_ticks: u64,
}

fn sample(pid: u32) -> Sample {
    Sample {
        rss_kib: status_field(pid, "VmRSS:"),
        hwm_kib: status_field(pid, "VmHWM:"),
        threads: status_field(pid, "Threads:"),
        fds: std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64),
        cpu_ticks: cpu_ticks(pid),
    }
}

/// Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux).
fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

struct Row {
    n: usize,
    targets: usize,
    warm_up: Duration,
    s: Sample,
    cpu_per_min: f64,
    lists: usize,
    avg_per_s: f64,
    max_per_s: usize,
}

async fn run_one(n: usize, interval: u64) -> Row {
    let emu: EmulatorHandle = emulator::start(EmulatorOptions {
        simulate: false,
        organization: Some(OrgShape {
            accounts: n,
            ous: (n / 50).min(20),
            jobs_per_account: JOBS_PER_ACCOUNT,
            role_name: "s3prio".into(),
        }),
        ..Default::default()
    })
    .await
    .expect("emulator starts");
    let home = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let path = home.path().join("s3prio.toml");
    std::fs::write(&path, config(&emu.endpoint_url(), port, interval)).expect("config");
    let mut child = Command::new(bin())
        .args(["run", "--log-format", "json", "--config"])
        .arg(&path)
        .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(home.path().join("s3prio.log")).expect("log file"))
        .spawn()
        .expect("spawn s3prio run");
    let pid = child.id();

    // Warm-up: every account listed once, then one more interval.
    let started = Instant::now();
    let deadline = started + Duration::from_secs(interval * 6 + 120);
    loop {
        let listed = emu
            .stats()
            .by_account
            .values()
            .filter(|ops| ops.contains_key("ListJobs"))
            .count();
        if listed >= n {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(home.path().join("s3prio.log")).unwrap_or_default();
            panic!("s3prio run exited ({status}):\n{log}");
        }
        assert!(
            Instant::now() < deadline,
            "only {listed} of {n} accounts listed after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let warm_up = started.elapsed();
    tokio::time::sleep(Duration::from_secs(interval)).await;

    emu.start_request_log();
    let before = sample(pid);
    let window = Duration::from_secs(interval * u64::from(MEASURE_INTERVALS));
    let t0 = Instant::now();
    tokio::time::sleep(window).await;
    let after = sample(pid);
    let log = emu.request_log();
    let _ = child.kill();
    let _ = child.wait();
    emu.shutdown().await;

    let secs = window.as_secs() as usize;
    let mut bins = vec![0usize; secs];
    let mut lists = 0;
    for r in log.iter().filter(|r| r.operation == "ListJobs") {
        let at = r.at.saturating_duration_since(t0).as_secs() as usize;
        if at < secs {
            bins[at] += 1;
            lists += 1;
        }
    }
    let cpu_s = after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64 / ticks_per_second();
    Row {
        n,
        targets: n,
        warm_up,
        s: after,
        cpu_per_min: cpu_s / window.as_secs_f64() * 60.0,
        lists,
        avg_per_s: lists as f64 / secs as f64,
        max_per_s: bins.iter().copied().max().unwrap_or(0),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let sizes: Vec<usize> = value("--sizes")
        .map(|s| {
            s.split(',')
                .map(|n| {
                    n.trim()
                        .parse()
                        .expect("--sizes takes numbers, e.g. 1,100,1000")
                })
                .collect()
        })
        .unwrap_or_else(|| vec![1, 100, 1000]);
    let interval: u64 = value("--interval")
        .map(|s| s.parse().expect("--interval takes seconds"))
        .unwrap_or(30);
    println!(
        "targets bench: one target set, N accounts x 1 region, {JOBS_PER_ACCOUNT} idle jobs each, interval {interval} s, measured over {MEASURE_INTERVALS} intervals after warm-up"
    );
    println!(
        "{:>6} {:>9} {:>9} {:>9} {:>5} {:>7} {:>10} {:>7} {:>8} {:>8} {:>9}",
        "N",
        "warm-up",
        "RSS MiB",
        "peak MiB",
        "fds",
        "threads",
        "CPU s/min",
        "% core",
        "lists",
        "max/s",
        "max/avg"
    );
    for n in sizes {
        let r = run_one(n, interval).await;
        let ratio = if r.avg_per_s > 0.0 {
            r.max_per_s as f64 / r.avg_per_s
        } else {
            f64::NAN
        };
        println!(
            "{:>6} {:>8.1}s {:>9.1} {:>9.1} {:>5} {:>7} {:>10.2} {:>6.2}% {:>8} {:>8} {:>9.2}",
            r.targets,
            r.warm_up.as_secs_f64(),
            r.s.rss_kib as f64 / 1024.0,
            r.s.hwm_kib as f64 / 1024.0,
            r.s.fds,
            r.s.threads,
            r.cpu_per_min,
            r.cpu_per_min / 60.0 * 100.0,
            r.lists,
            r.max_per_s,
            ratio
        );
        let _ = r.n;
    }
    println!("max/avg: ListJobs calls in the busiest second of the window over the average second (goal <= 2 where N >= the interval in seconds; with fewer targets than seconds a second holds one call or none)");
}
