//! Convergence benchmark: how fast `s3prio apply --once` (the real binary, the real SDK) makes
//! K priority changes among N jobs against an emulator that throttles at R requests per second,
//! with R known to the daemon and unknown (the daemon told 10 x R); what a steady-state cycle
//! costs; the daemon's peak RSS and CPU time. Also: window reaction, the time from a window
//! opening to the last of 1,000 changes landing at R = 50/s (`s3prio run`).
//!
//! Run: `cargo bench --bench convergence` (add `-- --quick` for the small cases only, or
//! `-- --n 100000` for the cases of one N).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Timelike, Utc};
use s3prio::emulator::{self, EmulatorHandle, EmulatorOptions, JobSpec, JobStatus, Throttle};

const ACCOUNT: &str = "123456789012";

struct Sample {
    peak_rss_kib: u64,
    cpu_ticks: u64,
}

/// Polls /proc for the child's high-water RSS and CPU ticks until it exits.
fn watch_child(mut child: Child) -> (std::process::ExitStatus, Sample) {
    let pid = child.id();
    let mut sample = Sample {
        peak_rss_kib: 0,
        cpu_ticks: 0,
    };
    loop {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            for line in status.lines() {
                if let Some(v) = line.strip_prefix("VmHWM:") {
                    let kib: u64 = v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0);
                    sample.peak_rss_kib = sample.peak_rss_kib.max(kib);
                }
            }
        }
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            if let Some(after) = stat.rsplit_once(") ") {
                let f: Vec<&str> = after.1.split_whitespace().collect();
                let ut: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0);
                let st: u64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
                if ut + st > 0 {
                    sample.cpu_ticks = ut + st;
                }
            }
        }
        if let Some(st) = child.try_wait().expect("wait") {
            return (st, sample);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn bin() -> std::path::PathBuf {
    // cargo bench builds the binary next to the bench's deps directory.
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let p = dir.join("s3prio");
    assert!(
        p.exists(),
        "build the binary first: cargo build --release ({})",
        p.display()
    );
    p
}

fn config(endpoint: &str, rps: f64, dir: &Path, rules: &str, extra: &str) -> String {
    format!(
        r#"
[reconcile]
ignore_tag = ""
max_changes_per_cycle = 1000000
{extra}

[baseline]
store = ["file"]
state_file = "{state}"

[http]
listen = "127.0.0.1:0"

[[targets]]
name = "bench"
account_id = "{ACCOUNT}"
region = "us-east-1"
endpoint_url = "{endpoint}"

[targets.rate_limit]
requests_per_second = {rps}
burst = {burst}

[targets.backoff]
base = "100ms"
max_delay = "5s"
max_attempts = 12

{rules}
"#,
        state = dir.join("state.json").display(),
        burst = (rps.ceil() as u32).max(1),
    )
}

fn populate(emu: &EmulatorHandle, n: usize, k: usize) {
    for i in 0..n {
        emu.insert_job(JobSpec {
            account_id: ACCOUNT.into(),
            description: Some(if i < k {
                format!("raise-{i}")
            } else {
                format!("steady-{i}")
            }),
            priority: 100,
            status: if i % 3 == 0 {
                JobStatus::Active
            } else {
                JobStatus::Ready
            },
            ..Default::default()
        });
    }
}

fn command(cfg: &Path, home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .arg("--config")
        .arg(cfg)
        .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", home)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

struct Row {
    n: usize,
    k: usize,
    r: f64,
    known: bool,
    secs: f64,
    stats: emulator::Stats,
    sample: Sample,
    steady: emulator::Stats,
}

fn ticks_per_sec() -> f64 {
    100.0
}

async fn case(n: usize, k: usize, r: f64, known: bool) -> Row {
    let emu = emulator::start(EmulatorOptions {
        simulate: false,
        ..Default::default()
    })
    .await
    .expect("emulator");
    populate(&emu, n, k);
    emu.set_throttle(Some(Throttle {
        rps: r,
        burst: r.ceil() as u32,
    }));
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("s3prio.toml");
    let told = if known { r } else { r * 10.0 };
    let rules = "[[rules]]\nname = \"raise\"\nwhen = { description_glob = \"raise-*\" }\naction = { set = 500 }\n";
    std::fs::write(
        &cfg,
        config(&emu.endpoint_url(), told, dir.path(), rules, ""),
    )
    .expect("write");
    // Let the emulator's bucket fill, as it would be after a quiet period.
    tokio::time::sleep(Duration::from_secs(1)).await;
    emu.reset_stats();
    let start = Instant::now();
    let mut secs = 0.0;
    let mut sample = Sample {
        peak_rss_kib: 0,
        cpu_ticks: 0,
    };
    for _ in 0..5 {
        let child = command(&cfg, dir.path(), &["apply", "--once"])
            .spawn()
            .expect("spawn");
        let (_status, s) = tokio::task::spawn_blocking(move || watch_child(child))
            .await
            .expect("join");
        sample.peak_rss_kib = sample.peak_rss_kib.max(s.peak_rss_kib);
        sample.cpu_ticks += s.cpu_ticks;
        let done = emu
            .priority_updates()
            .iter()
            .filter(|u| u.priority == 500)
            .count();
        let last = emu.priority_updates().iter().map(|u| u.at).max();
        if let Some(last) = last {
            secs = last.duration_since(start.into()).as_secs_f64();
        }
        if done >= k {
            break;
        }
    }
    let stats = emu.stats();
    emu.reset_stats();
    let child = command(&cfg, dir.path(), &["apply", "--once"])
        .spawn()
        .expect("spawn");
    let (_status, s2) = tokio::task::spawn_blocking(move || watch_child(child))
        .await
        .expect("join");
    sample.peak_rss_kib = sample.peak_rss_kib.max(s2.peak_rss_kib);
    let steady = emu.stats();
    emu.shutdown().await;
    Row {
        n,
        k,
        r,
        known,
        secs,
        stats,
        sample,
        steady,
    }
}

fn print_header() {
    println!(
        "| N | K | R (req/s) | R known | converge (s) | ideal K/R (s) | ratio | ListJobs | GetJobTagging | UpdateJobPriority | throttled | throttled % | steady-state calls | peak RSS (MiB) | CPU (s) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
}

fn print_row(r: &Row) {
    let ideal = r.k as f64 / r.r;
    let sum = |op: &str| -> u64 {
        r.stats
            .by_operation
            .get(op)
            .map(|m| m.values().sum())
            .unwrap_or(0)
    };
    println!(
        "| {} | {} | {} | {} | {:.1} | {:.1} | {:.2} | {} | {} | {} | {} | {:.1} | {} ({} ListJobs) | {:.1} | {:.2} |",
        r.n,
        r.k,
        r.r,
        if r.known { "yes" } else { "no (told 10x)" },
        r.secs,
        ideal,
        r.secs / ideal,
        sum("ListJobs"),
        sum("GetJobTagging"),
        sum("UpdateJobPriority"),
        r.stats.throttled,
        100.0 * r.stats.throttled as f64 / r.stats.total.max(1) as f64,
        r.steady.total,
        r.steady.count("ListJobs", "ok"),
        r.sample.peak_rss_kib as f64 / 1024.0,
        r.sample.cpu_ticks as f64 / ticks_per_sec(),
    );
}

async fn window_reaction() {
    let emu = emulator::start(EmulatorOptions {
        simulate: false,
        ..Default::default()
    })
    .await
    .expect("emulator");
    populate(&emu, 5000, 1000);
    emu.set_throttle(Some(Throttle {
        rps: 50.0,
        burst: 50,
    }));
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("s3prio.toml");
    let now = Utc::now();
    let mut open =
        now.with_second(0).unwrap().with_nanosecond(0).unwrap() + chrono::Duration::minutes(1);
    if (open - now).num_seconds() < 20 {
        open += chrono::Duration::minutes(1);
    }
    let rules = format!(
        "[windows.w]\ntimezone = \"UTC\"\nranges = [\"{}-{}\"]\n\n[[rules]]\nname = \"open\"\nwhen = {{ description_glob = \"raise-*\", in_window = \"w\" }}\naction = {{ set = 500 }}\n",
        open.format("%H:%M"),
        (open + chrono::Duration::hours(1)).format("%H:%M")
    );
    std::fs::write(
        &cfg,
        config(
            &emu.endpoint_url(),
            50.0,
            dir.path(),
            &rules,
            "interval = \"5m\"",
        ),
    )
    .expect("write");
    let mut child = command(&cfg, dir.path(), &["run"]).spawn().expect("spawn");
    let deadline = open + chrono::Duration::seconds(90);
    loop {
        let done = emu
            .priority_updates()
            .iter()
            .filter(|u| u.priority == 500)
            .count();
        if done >= 1000 || Utc::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let updates = emu.priority_updates();
    let landed: Vec<chrono::DateTime<Utc>> = updates
        .iter()
        .filter(|u| u.priority == 500)
        .map(|u| chrono::DateTime::<Utc>::from(u.wall))
        .collect();
    let first = landed.iter().min().copied();
    let last = landed.iter().max().copied();
    let _ = child.kill();
    let _ = child.wait();
    let stats = emu.stats();
    emu.shutdown().await;
    if let (Some(first), Some(last)) = (first, last) {
        let total = (last - open).num_milliseconds() as f64 / 1000.0;
        println!(
            "window reaction: {} changes; window opened {}; first change +{:.2} s, last change +{:.1} s (ideal 1000/50 = 20.0 s, ratio {:.2}); throttled {}",
            landed.len(),
            open.format("%H:%M:%S"),
            (first - open).num_milliseconds() as f64 / 1000.0,
            total,
            total / 20.0,
            stats.throttled
        );
    } else {
        println!("window reaction: no change landed");
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let mut cases = vec![(1_000, 500, 50.0), (10_000, 1_000, 50.0)];
    if !quick {
        cases.push((100_000, 2_000, 100.0));
    }
    // `-- --n 100000` runs only the cases of that N (and skips the window reaction).
    let only: Option<usize> = std::env::args()
        .skip_while(|a| a != "--n")
        .nth(1)
        .and_then(|v| v.parse().ok());
    if let Some(n) = only {
        cases.retain(|c| c.0 == n);
    }
    println!(
        "convergence: s3prio apply --once against the emulator (machine: {} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    print_header();
    for &(n, k, r) in &cases {
        for known in [true, false] {
            let row = case(n, k, r, known).await;
            print_row(&row);
        }
    }
    if !quick && only.is_none() {
        window_reaction().await;
    }
}
