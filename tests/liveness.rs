//! Liveness follows progress: a cycle many times longer than the stuck threshold keeps
//! `/healthz` at 200 and the systemd watchdog pinged; a loop whose calls never return turns
//! `/healthz` 503 and stops the pings. Forced tag refreshes over HTTP and SIGUSR1.
//! `s3prio run` as a child process against the emulator.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use common::process::*;
use common::wait::wait_until;
use common::*;

/// Collects systemd notifications sent to a socket in `dir`.
struct NotifySocket {
    sock: UnixDatagram,
    path: std::path::PathBuf,
}

impl NotifySocket {
    fn bind(dir: &Path) -> Self {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_nonblocking(true).unwrap();
        NotifySocket { sock, path }
    }

    /// Times (since `start`) at which `WATCHDOG=1` arrived since the last call.
    fn watchdog_pings(&self, start: Instant) -> Vec<Duration> {
        let mut buf = [0u8; 4096];
        let mut out = Vec::new();
        while let Ok(n) = self.sock.recv(&mut buf) {
            if String::from_utf8_lossy(&buf[..n]).contains("WATCHDOG=1") {
                out.push(start.elapsed());
            }
        }
        out
    }
}

fn liveness_config(endpoint: &str, rps: u32, extra_target: &str) -> String {
    // The defaults (tag store, opt-out tag) but for the pace, the poll interval (one cycle per
    // test) and the HTTP port.
    format!(
        r#"
[reconcile]
interval = "10m"

[http]
listen = "127.0.0.1:0"

[[rules]]
name = "urgent"
when = {{ tags = {{ urgent = "true" }} }}
action = {{ set = 900 }}

[[targets]]
name = "emu"
account_id = "{ACCOUNT}"
region = "us-east-1"
endpoint_url = "{endpoint}"
{extra_target}

[targets.rate_limit]
requests_per_second = {rps}
burst = 1
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_far_longer_than_the_stuck_threshold_stays_live() {
    let emu = quiet_emulator().await;
    // 300 jobs to read at 40 req/s (7.5 s), then 12 changes of two writes each at 2 writes/s
    // (12 s): one cycle of about 20 s against a stuck threshold of 2 s.
    let ids = insert_jobs(&emu, 300, 12, 100);
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("s3prio.toml");
    std::fs::write(
        &cfg,
        liveness_config(&emu.endpoint_url(), 40, "")
            .replace("burst = 1", "burst = 1\nwrite_requests_per_second = 2"),
    )
    .unwrap();
    let notify = NotifySocket::bind(home.path());
    let d = Daemon::start(
        &cfg,
        home.path(),
        &[
            ("S3PRIO_STUCK_AFTER", "2s".to_string()),
            ("NOTIFY_SOCKET", notify.path.display().to_string()),
            ("WATCHDOG_USEC", "1000000".to_string()),
        ],
    );
    let addr = d.http_addr().await;
    let start = Instant::now();
    let mut pings = Vec::new();
    let mut checks = 0;
    while ids[..12].iter().any(|id| priority(&emu, id) != 900) {
        let (status, body) = http(&addr, "GET", "/healthz");
        assert_eq!(status, 200, "at {:?}: {body}\n{}", start.elapsed(), d.log());
        checks += 1;
        pings.extend(notify.watchdog_pings(start));
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no convergence\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = start.elapsed();
    pings.extend(notify.watchdog_pings(start));
    println!(
        "cycle of {took:?}: {checks} /healthz checks all 200, {} watchdog pings",
        pings.len()
    );
    assert!(
        took >= Duration::from_secs(6),
        "the cycle must outlast 3x the threshold: {took:?}"
    );
    // One cycle did it all (the poll interval is 10 minutes).
    assert!(
        d.log().matches("\"message\":\"cycle done\"").count() <= 1,
        "{}",
        d.log()
    );
    // Pinged throughout (every half second), never a gap near the threshold.
    let mut last = Duration::ZERO;
    for p in &pings {
        assert!(
            *p - last < Duration::from_millis(1500),
            "watchdog gap {last:?} -> {p:?}"
        );
        last = *p;
    }
    assert!(
        took.saturating_sub(last) < Duration::from_millis(1500),
        "pings stopped at {last:?}"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_whose_calls_never_return_is_reported_stuck() {
    let emu = quiet_emulator().await;
    insert_jobs(&emu, 10, 1, 100);
    // Every response takes an hour, and the daemon is told to wait that long.
    emu.set_latency(Duration::from_secs(3600));
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("s3prio.toml");
    std::fs::write(
        &cfg,
        liveness_config(&emu.endpoint_url(), 40, "request_timeout = \"1h\""),
    )
    .unwrap();
    let notify = NotifySocket::bind(home.path());
    let start = Instant::now();
    let d = Daemon::start(
        &cfg,
        home.path(),
        &[
            ("S3PRIO_STUCK_AFTER", "2s".to_string()),
            ("NOTIFY_SOCKET", notify.path.display().to_string()),
            ("WATCHDOG_USEC", "1000000".to_string()),
        ],
    );
    let addr = d.http_addr().await;
    let (status, _) = http(&addr, "GET", "/healthz");
    assert_eq!(status, 200, "alive at start");
    let mut turned = None;
    while start.elapsed() < Duration::from_secs(15) {
        let (status, body) = http(&addr, "GET", "/healthz");
        if status == 503 {
            turned = Some((start.elapsed(), body));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (at, body) = turned.expect("/healthz turns 503");
    println!("503 after {at:?}: {body}");
    assert!(body.contains("target emu: no progress"), "{body}");
    assert!(
        at >= Duration::from_secs(2),
        "not before the threshold (counted from the daemon's start): {at:?}"
    );
    // The watchdog is no longer pinged.
    notify.watchdog_pings(start);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        notify.watchdog_pings(start).is_empty(),
        "pinged while stuck"
    );
    assert!(d.log().contains("a loop is stuck"), "{}", d.log());
    emu.set_latency(Duration::ZERO);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_reconcile_refresh_tags_and_sigusr1_pick_up_tag_edits() {
    let emu = quiet_emulator().await;
    let ids = insert_jobs(&emu, 20, 0, 100);
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("s3prio.toml");
    // A long poll interval and the default tags_ttl (10 minutes): only a forced refresh can see
    // an edit within this test.
    std::fs::write(&cfg, liveness_config(&emu.endpoint_url(), 200, "")).unwrap();
    let d = Daemon::start(&cfg, home.path(), &[]);
    let addr = d.http_addr().await;
    wait_until("first cycle", Duration::from_secs(20), || {
        emu.stats().count("GetJobTagging", "ok") >= 20
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    emu.set_tags_direct(ACCOUNT, &ids[4], vec![tag("urgent", "true")]);
    let (status, _) = http(&addr, "POST", "/reconcile");
    assert_eq!(status, 202);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        priority(&emu, &ids[4]),
        100,
        "a plain cycle uses the cached tags"
    );

    let (status, body) = http(&addr, "POST", "/reconcile?refresh=tags");
    assert_eq!(status, 202, "{body}");
    wait_until(
        "the edit seen after ?refresh=tags",
        Duration::from_secs(5),
        || priority(&emu, &ids[4]) == 900,
    )
    .await;

    emu.set_tags_direct(ACCOUNT, &ids[9], vec![tag("urgent", "true")]);
    d.signal("USR1");
    wait_until(
        "the edit seen after SIGUSR1",
        Duration::from_secs(5),
        || priority(&emu, &ids[9]) == 900,
    )
    .await;
    let (status, body) = http(&addr, "POST", "/reconcile?refresh=everything");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("refresh=tags"), "{body}");
    emu.shutdown().await;
}
