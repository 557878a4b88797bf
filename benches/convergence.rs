//! Convergence benchmark: how fast `s3prio apply --once` (the real binary, the real SDK) makes
//! K priority changes among N jobs against an emulator that throttles at R requests per second,
//! with R known to the daemon and unknown (the daemon told 10 x R); what a steady-state cycle
//! costs; the daemon's peak RSS and CPU time. Each case runs twice: with the file baseline store
//! and the opt-out tag off (the lowest cost), and with the **default settings** (tag baseline
//! store, opt-out tag on). Also: window reaction, the time from a window opening to the last of
//! 1,000 changes landing at R = 50/s (`s3prio run`), for both.
//!
//! The K jobs are selected by description (a policy without tag conditions). The emulator's
//! bucket starts full, so the lower bound of a run is (fewest requests - burst) / R: that is the
//! "ideal" of every row. A run that does not converge, or an `apply` that fails, stops the bench
//! with an error.
//!
//! Run: `cargo bench --bench convergence` (add `-- --window` for the window reaction only,
//! `-- --quick` for the small cases only, or
//! `-- --n 100000` for the cases of one N).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

use chrono::{Timelike, Utc};
mod common;

use common::bin;
use s3prio::emulator::{self, EmulatorHandle, EmulatorOptions, JobSpec, JobStatus, Throttle};

const ACCOUNT: &str = "123456789012";

/// Which settings the daemon runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    /// `store = ["file"]`, `ignore_tag = ""`: no tag read at all.
    FileStore,
    /// The defaults: tag baseline store, opt-out tag `s3prio/ignore`.
    Defaults,
}

impl Setup {
    fn name(self) -> &'static str {
        match self {
            Setup::FileStore => "file store, no opt-out tag",
            Setup::Defaults => "defaults",
        }
    }

    /// The fewest requests that make K changes among N jobs (a description rule).
    fn fewest(self, n: usize, k: usize) -> usize {
        let pages = n.div_ceil(1000);
        match self {
            Setup::FileStore => pages + k,
            // Each change: its tags (memory and opt-out tag), its memory tags, its priority.
            Setup::Defaults => pages + 3 * k,
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Sample {
    peak_rss_kib: u64,
    cpu_ticks: u64,
}

fn sample(pid: u32, s: &mut Sample) {
    s.peak_rss_kib = s.peak_rss_kib.max(common::status_field(pid, "VmHWM:"));
    s.cpu_ticks = s.cpu_ticks.max(common::cpu_ticks(pid));
}

/// Polls the child until it exits, or until `enough()` says the work is done (then kills it).
async fn watch_child(
    mut child: Child,
    enough: impl Fn() -> bool,
) -> (Option<std::process::ExitStatus>, Sample) {
    let pid = child.id();
    let mut s = Sample::default();
    loop {
        sample(pid, &mut s);
        if let Some(st) = child.try_wait().expect("wait") {
            return (Some(st), s);
        }
        if enough() {
            let _ = child.kill();
            let _ = child.wait();
            return (None, s);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn config(setup: Setup, endpoint: &str, rps: f64, dir: &Path, rules: &str, extra: &str) -> String {
    let store = match setup {
        Setup::FileStore => format!(
            "[baseline]\nstore = [\"file\"]\nstate_file = \"{}\"\n",
            dir.join("state.json").display()
        ),
        Setup::Defaults => String::new(),
    };
    let ignore = match setup {
        Setup::FileStore => "ignore_tag = \"\"",
        Setup::Defaults => "",
    };
    format!(
        r#"
[reconcile]
{ignore}
max_changes_per_cycle = 1000000
{extra}

{store}
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
        .stderr(Stdio::piped());
    cmd
}

fn landed(emu: &EmulatorHandle, priority: i32) -> usize {
    emu.priority_updates()
        .iter()
        .filter(|u| u.priority == priority)
        .count()
}

struct Row {
    setup: Setup,
    n: usize,
    k: usize,
    r: f64,
    known: bool,
    secs: f64,
    stats: emulator::Stats,
    sample: Sample,
    /// One steady-state cycle: total requests and the ListJobs among them (not measured for the
    /// tag store at 100,000 jobs: its first pass alone takes 1,000 s at 100 req/s).
    steady: Option<(u64, u64)>,
}

const RULES: &str =
    "[[rules]]\nname = \"raise\"\nwhen = { description_glob = \"raise-*\" }\naction = { set = 500 }\n";

async fn case(setup: Setup, n: usize, k: usize, r: f64, known: bool) -> Row {
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
    std::fs::write(
        &cfg,
        config(setup, &emu.endpoint_url(), told, dir.path(), RULES, ""),
    )
    .expect("write");
    // Let the emulator's bucket fill, as it would be after a quiet period.
    tokio::time::sleep(Duration::from_secs(1)).await;
    emu.reset_stats();
    let start = Instant::now();
    let mut sample = Sample::default();
    for _ in 0..5 {
        let child = command(&cfg, dir.path(), &["apply", "--once"])
            .spawn()
            .expect("spawn");
        let emu_ref = &emu;
        // The tag store reads every job's memory after the changes; the changes are what is
        // timed, so the run may stop once they landed.
        let (status, s) = watch_child(child, || {
            setup == Setup::Defaults && landed(emu_ref, 500) >= k
        })
        .await;
        sample.peak_rss_kib = sample.peak_rss_kib.max(s.peak_rss_kib);
        sample.cpu_ticks += s.cpu_ticks;
        if let Some(st) = status {
            assert!(
                st.success() || landed(&emu, 500) < k,
                "apply --once failed: {st:?}"
            );
        }
        if landed(&emu, 500) >= k {
            break;
        }
    }
    let done = landed(&emu, 500);
    assert_eq!(
        done,
        k,
        "{} N={n} K={k}: only {done} of {k} changes landed",
        setup.name()
    );
    let last = emu
        .priority_updates()
        .iter()
        .map(|u| u.at)
        .max()
        .expect("updates");
    let secs = last.duration_since(start).as_secs_f64();
    let stats = emu.stats();
    let steady = steady_state(setup, &emu, &cfg, dir.path(), n).await;
    emu.shutdown().await;
    Row {
        setup,
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

/// The cost of one cycle with nothing to change: a fresh `apply --once` for the file store; for
/// the defaults a running daemon (the tag store reads each job's memory once per process), the
/// cycle after its first pass.
async fn steady_state(
    setup: Setup,
    emu: &EmulatorHandle,
    cfg: &Path,
    home: &Path,
    n: usize,
) -> Option<(u64, u64)> {
    if setup == Setup::Defaults && n > 20_000 {
        return None;
    }
    emu.reset_stats();
    if setup == Setup::FileStore {
        let child = command(cfg, home, &["apply", "--once"])
            .spawn()
            .expect("spawn");
        let (status, _) = watch_child(child, || false).await;
        assert!(status.is_some_and(|s| s.success()), "steady apply failed");
        let s = emu.stats();
        return Some((s.total, s.count("ListJobs", "ok")));
    }
    let text = std::fs::read_to_string(cfg)
        .expect("read")
        .replace("[reconcile]", "[reconcile]\ninterval = \"10s\"");
    std::fs::write(cfg, text).expect("write");
    let mut child = command(cfg, home, &["run"]).spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(600);
    while emu.stats().count("GetJobTagging", "ok") < n as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Two full 10 s cycles after the first pass.
    tokio::time::sleep(Duration::from_secs(11)).await;
    emu.reset_stats();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let s = emu.stats();
    let _ = child.kill();
    let _ = child.wait();
    Some((s.total / 2, s.count("ListJobs", "ok") / 2))
}

fn print_header() {
    println!(
        "| settings | N | K | R (req/s) | R known | converge (s) | ideal (s) | ratio | ListJobs | GetJobTagging | PutJobTagging | UpdateJobPriority | throttled | throttled % | steady-state cycle | peak RSS (MiB) | CPU (s) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
}

fn print_row(r: &Row) {
    let burst = r.r.ceil();
    let ideal = (r.setup.fewest(r.n, r.k) as f64 - burst).max(0.0) / r.r;
    let sum = |op: &str| -> u64 {
        r.stats
            .by_operation
            .get(op)
            .map(|m| m.values().sum())
            .unwrap_or(0)
    };
    println!(
        "| {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.2} | {} | {} | {} | {} | {} | {:.1} | {} | {:.1} | {:.2} |",
        r.setup.name(),
        r.n,
        r.k,
        r.r,
        if r.known { "yes" } else { "no (told 10x)" },
        r.secs,
        ideal,
        r.secs / ideal,
        sum("ListJobs"),
        sum("GetJobTagging"),
        sum("PutJobTagging"),
        sum("UpdateJobPriority"),
        r.stats.throttled,
        100.0 * r.stats.throttled as f64 / r.stats.total.max(1) as f64,
        match r.steady {
            Some((total, list)) => format!("{total} ({list} ListJobs)"),
            None => "not measured".to_string(),
        },
        r.sample.peak_rss_kib as f64 / 1024.0,
        r.sample.cpu_ticks as f64 / 100.0,
    );
}

async fn window_reaction(setup: Setup) {
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
    // The tag store reads 5,000 memories first (100 s at 50/s): the window opens after that.
    let lead = if setup == Setup::Defaults { 150 } else { 20 };
    let mut open =
        now.with_second(0).unwrap().with_nanosecond(0).unwrap() + chrono::Duration::minutes(1);
    while (open - now).num_seconds() < lead {
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
            setup,
            &emu.endpoint_url(),
            50.0,
            dir.path(),
            &rules,
            "interval = \"5m\"",
        ),
    )
    .expect("write");
    let mut child = command(&cfg, dir.path(), &["run"]).spawn().expect("spawn");
    let deadline = open + chrono::Duration::seconds(180);
    while landed(&emu, 500) < 1000 && Utc::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let landed_at: Vec<chrono::DateTime<Utc>> = emu
        .priority_updates()
        .iter()
        .filter(|u| u.priority == 500)
        .map(|u| chrono::DateTime::<Utc>::from(u.wall))
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    let stats = emu.stats();
    emu.shutdown().await;
    assert_eq!(
        landed_at.len(),
        1000,
        "{}: {} of 1000 changes landed",
        setup.name(),
        landed_at.len()
    );
    let first = landed_at.iter().min().copied().expect("changes");
    let last = landed_at.iter().max().copied().expect("changes");
    assert!(
        first >= open,
        "{}: a change landed before the window opened",
        setup.name()
    );
    let per_change = if setup == Setup::Defaults { 3.0 } else { 1.0 };
    let ideal = 1000.0 * per_change / 50.0;
    let total = (last - open).num_milliseconds() as f64 / 1000.0;
    println!(
        "window reaction ({}): window opened {}; first change +{:.2} s, last change +{:.1} s (ideal {:.0} requests / 50 = {ideal:.0} s, ratio {:.2}); throttled {}",
        setup.name(),
        open.format("%H:%M:%S"),
        (first - open).num_milliseconds() as f64 / 1000.0,
        total,
        1000.0 * per_change,
        total / ideal,
        stats.throttled
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // `-- --window` runs only the window reaction, for both settings.
    if std::env::args().any(|a| a == "--window") {
        window_reaction(Setup::FileStore).await;
        window_reaction(Setup::Defaults).await;
        return;
    }
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
    for setup in [Setup::FileStore, Setup::Defaults] {
        for &(n, k, r) in &cases {
            for known in [true, false] {
                print_row(&case(setup, n, k, r, known).await);
            }
        }
    }
    if !quick && only.is_none() {
        window_reaction(Setup::FileStore).await;
        window_reaction(Setup::Defaults).await;
    }
}
