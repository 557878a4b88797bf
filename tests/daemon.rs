//! The daemon as a process: hot reload (in place, rename, `..data` symlink swap), signals,
//! systemd notifications, window-boundary reaction, metrics and health.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use common::process::*;
use common::wait::wait_until;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_by_edit_rename_and_configmap_symlink_swap() {
    let emu = quiet_emulator().await;
    let ids = insert_jobs(&emu, 10, 3, 100);
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("etc");
    std::fs::create_dir_all(&dir).unwrap();
    let ep = emu.endpoint_url();
    let cfg = |set: i32| daemon_config(&ep, home.path(), "300s", &policy(set));

    // Lay the config out the way the kubelet does: s3prio.toml -> ..data/s3prio.toml,
    // ..data -> ..2026_01 (a timestamped directory).
    let write_generation = |name: &str, text: &str| {
        let gen = dir.join(name);
        std::fs::create_dir_all(&gen).unwrap();
        std::fs::write(gen.join("s3prio.toml"), text).unwrap();
        let tmp = dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(name, &tmp).unwrap();
        std::fs::rename(&tmp, dir.join("..data")).unwrap();
    };
    write_generation("..gen1", &cfg(500));
    std::os::unix::fs::symlink("..data/s3prio.toml", dir.join("s3prio.toml")).unwrap();
    let config_path = dir.join("s3prio.toml");

    let d = Daemon::start(&config_path, home.path(), &[]);
    let addr = d.http_addr().await;
    let urgent = || {
        ids[..3]
            .iter()
            .map(|id| priority(&emu, id))
            .collect::<Vec<_>>()
    };
    wait_until("first policy", Duration::from_secs(15), || {
        urgent() == vec![500; 3]
    })
    .await;

    // 1. ConfigMap-style symlink swap.
    write_generation("..gen2", &cfg(600));
    wait_until("symlink-swapped policy", Duration::from_secs(10), || {
        urgent() == vec![600; 3]
    })
    .await;

    // 2. Replace by rename (what editors do). This replaces the symlink with a plain file.
    let tmp = dir.join("s3prio.toml.new");
    std::fs::write(&tmp, cfg(700)).unwrap();
    std::fs::rename(&tmp, &config_path).unwrap();
    wait_until("renamed policy", Duration::from_secs(10), || {
        urgent() == vec![700; 3]
    })
    .await;

    // 3. A broken edit in place: the old policy stays, the process stays up, the metric is 0.
    std::fs::write(&config_path, cfg(800).replace("action", "acton")).unwrap();
    d.wait_log("config reload rejected", Duration::from_secs(10))
        .await;
    let (_, metrics) = http(&addr, "GET", "/metrics");
    assert!(
        metrics.contains("s3prio_config_last_reload_successful 0"),
        "{metrics}"
    );
    let err_line = d
        .wait_log("config reload rejected", Duration::from_secs(1))
        .await;
    assert!(
        err_line.contains("s3prio.toml:"),
        "located error: {err_line}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(urgent(), vec![700; 3]);

    // 4. The next good edit in place applies.
    std::fs::write(&config_path, cfg(850)).unwrap();
    wait_until("edited policy", Duration::from_secs(10), || {
        urgent() == vec![850; 3]
    })
    .await;
    let (_, metrics) = http(&addr, "GET", "/metrics");
    assert!(metrics.contains("s3prio_config_last_reload_successful 1"));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_sigterm_exits_zero_with_writes_in_flight() {
    let emu = quiet_emulator().await;
    let ids = insert_jobs(&emu, 400, 400, 100);
    let home = tempfile::tempdir().unwrap();
    let ep = emu.endpoint_url();
    // A slow pace, and jobs chosen by description (no tag read, opt-out tag off): the listing
    // decides all 400 changes at once, so most writes are still queued when SIGTERM arrives.
    let slow = |set: i32| {
        let rule = format!(
            "[[rules]]\nname = \"copies\"\nwhen = {{ description_glob = \"nightly copy *\" }}\naction = {{ set = {set} }}\n"
        );
        daemon_config(&ep, home.path(), "300s", &rule)
            .replace("[reconcile]\n", "[reconcile]\nignore_tag = \"\"\n")
            .replace("requests_per_second = 200", "requests_per_second = 20")
    };
    // The config is a hard link to a file in another directory: writes through that other
    // path are invisible to the watcher on this directory, so only SIGHUP can reload them.
    let other = home.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let etc = home.path().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(other.join("real.toml"), slow(500)).unwrap();
    let config_path = etc.join("s3prio.toml");
    std::fs::hard_link(other.join("real.toml"), &config_path).unwrap();
    let mut d = Daemon::start(&config_path, home.path(), &[]);
    d.http_addr().await;
    wait_until("some writes", Duration::from_secs(30), || {
        ids.iter().filter(|id| priority(&emu, id) == 500).count() >= 10
    })
    .await;
    std::fs::write(other.join("real.toml"), slow(600)).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !d.log().contains("config reloaded"),
        "the watcher saw the hard-link write"
    );
    d.signal("HUP");
    d.wait_log("config reloaded", Duration::from_secs(5)).await;
    // The reloaded policy is the one acted on.
    wait_until(
        "writes of the reloaded policy",
        Duration::from_secs(15),
        || ids.iter().filter(|id| priority(&emu, id) == 600).count() >= 5,
    )
    .await;

    // Within shutdown_timeout (5 s), by stopping the writes rather than by abandoning them.
    let shutdown_timeout = Duration::from_secs(5);
    let sent = Instant::now();
    d.signal("TERM");
    let status = d
        .wait_exit(Duration::from_secs(15))
        .await
        .expect("exits within the bound");
    let took = sent.elapsed();
    println!("SIGTERM -> exit in {took:?}");
    assert!(status.success(), "exit status {status:?}\n{}", d.log());
    assert!(
        took < shutdown_timeout,
        "took {took:?}, shutdown_timeout is {shutdown_timeout:?}"
    );
    let log = d.log();
    assert!(
        !log.contains("did not finish within reconcile.shutdown_timeout"),
        "in-flight writes were abandoned, not finished:\n{log}"
    );
    let at_600 = ids.iter().filter(|id| priority(&emu, id) == 600).count();
    assert!(
        at_600 < 400,
        "the test needs writes still pending at SIGTERM"
    );
    // Every write that landed has its audit line, and nothing more.
    let audited = log.matches("\"event\":\"priority_changed\"").count();
    let landed = emu.priority_updates().len();
    assert_eq!(audited, landed, "audit lines vs writes");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_notifications_arrive() {
    let emu = quiet_emulator().await;
    insert_jobs(&emu, 5, 1, 100);
    let home = tempfile::tempdir().unwrap();
    let config_path = home.path().join("s3prio.toml");
    let ep = emu.endpoint_url();
    std::fs::write(
        &config_path,
        daemon_config(&ep, home.path(), "30s", &policy(500)),
    )
    .unwrap();
    let sock_path: PathBuf = home.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut d = Daemon::start(
        &config_path,
        home.path(),
        &[
            ("NOTIFY_SOCKET", sock_path.display().to_string()),
            ("WATCHDOG_USEC", "1000000".to_string()),
        ],
    );
    let mut got = Vec::<String>::new();
    let mut reload_sent = false;
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).to_string());
        }
        let all = got.join("\n");
        if !reload_sent && all.contains("READY=1") {
            std::fs::write(
                &config_path,
                daemon_config(&ep, home.path(), "30s", &policy(600)),
            )
            .unwrap();
            reload_sent = true;
        }
        if all.contains("RELOADING=1")
            && all.contains("WATCHDOG=1")
            && all.matches("READY=1").count() >= 2
        {
            break;
        }
    }
    let all = got.join("\n");
    println!("{all}");
    assert!(all.contains("READY=1"));
    assert!(all.contains("STATUS="));
    let reloading = got
        .iter()
        .position(|m| m.contains("RELOADING=1"))
        .expect("RELOADING=1");
    assert!(
        got[reloading].contains("MONOTONIC_USEC="),
        "{}",
        got[reloading]
    );
    // systemd holds the unit in "reloading" until READY=1 follows.
    assert!(
        got[..reloading].iter().any(|m| m.contains("READY=1")),
        "READY=1 at start:\n{all}"
    );
    assert!(
        got[reloading + 1..].iter().any(|m| m.contains("READY=1")),
        "READY=1 after RELOADING=1:\n{all}"
    );
    assert!(all.contains("WATCHDOG=1"));
    d.signal("TERM");
    assert!(d
        .wait_exit(Duration::from_secs(10))
        .await
        .is_some_and(|s| s.success()));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_opening_is_acted_on_within_two_seconds() {
    use chrono::{Timelike, Utc};
    let emu = quiet_emulator().await;
    let ids = insert_jobs(&emu, 20, 20, 100);
    let home = tempfile::tempdir().unwrap();
    let config_path = home.path().join("s3prio.toml");
    // The window opens at the next full minute that is at least 15 s away, in UTC.
    let now = Utc::now();
    let mut open =
        now.with_second(0).unwrap().with_nanosecond(0).unwrap() + chrono::Duration::minutes(1);
    if (open - now).num_seconds() < 15 {
        open += chrono::Duration::minutes(1);
    }
    let close = open + chrono::Duration::minutes(30);
    let rules = format!(
        r#"
[windows.soon]
timezone = "UTC"
ranges = ["{}-{}"]

[[rules]]
name = "in-window"
when = {{ in_window = "soon" }}
action = {{ set = 777 }}
"#,
        open.format("%H:%M"),
        close.format("%H:%M")
    );
    std::fs::write(
        &config_path,
        daemon_config(&emu.endpoint_url(), home.path(), "5m", &rules),
    )
    .unwrap();
    let d = Daemon::start(&config_path, home.path(), &[]);
    d.http_addr().await;
    d.wait_log("s3prio started", Duration::from_secs(10)).await;
    assert!(ids.iter().all(|id| priority(&emu, id) == 100));
    wait_until("window opened + 5 s", Duration::from_secs(120), || {
        Utc::now() > open + chrono::Duration::seconds(5)
    })
    .await;
    let landed: Vec<chrono::DateTime<Utc>> = emu
        .priority_updates()
        .iter()
        .filter(|u| u.priority == 777)
        .map(|u| chrono::DateTime::<Utc>::from(u.wall))
        .collect();
    assert_eq!(landed.len(), 20, "every job changed once");
    let first = landed.iter().min().expect("changes landed");
    let last = landed.iter().max().expect("changes landed");
    println!(
        "window opened at {open}; the 20 changes landed from {:+.3} s to {:+.3} s",
        (*first - open).num_milliseconds() as f64 / 1000.0,
        (*last - open).num_milliseconds() as f64 / 1000.0
    );
    // Not before the window opens (both clocks are this machine's), and soon after.
    assert!(
        *first >= open,
        "a change landed before the window opened: {first}"
    );
    let lag = (*last - open).to_std().expect("after the opening");
    assert!(lag < Duration::from_secs(2), "lag {lag:?}");
    drop(d);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_and_readiness_follow_the_service() {
    let emu = quiet_emulator().await;
    insert_jobs(&emu, 10, 2, 100);
    let home = tempfile::tempdir().unwrap();
    let config_path = home.path().join("s3prio.toml");
    std::fs::write(
        &config_path,
        daemon_config(&emu.endpoint_url(), home.path(), "1s", &policy(500))
            .replace("max_attempts = 10", "max_attempts = 2"),
    )
    .unwrap();
    let d = Daemon::start(&config_path, home.path(), &[]);
    let addr = d.http_addr().await;
    wait_until("ready", Duration::from_secs(15), || {
        http(&addr, "GET", "/readyz").0 == 200
    })
    .await;

    let (status, body) = http(&addr, "GET", "/metrics");
    assert_eq!(status, 200);
    check_openmetrics(&body);
    for name in [
        "s3prio_api_requests_total{",
        "s3prio_throttled_total",
        "s3prio_priority_changes_total{",
        "s3prio_jobs{",
        "s3prio_reconcile_duration_seconds_bucket{",
        "s3prio_last_successful_reconcile_timestamp_seconds{",
        "s3prio_config_last_reload_successful",
        "s3prio_rate_limit_current_rps{",
        "s3prio_blast_radius_blocked_total",
    ] {
        assert!(body.contains(name), "missing {name} in\n{body}");
    }

    // The emulator goes down: liveness stays, readiness drops.
    emu.set_down(true);
    wait_until("not ready", Duration::from_secs(30), || {
        http(&addr, "GET", "/readyz").0 == 503
    })
    .await;
    assert_eq!(http(&addr, "GET", "/healthz").0, 200);
    emu.set_down(false);
    wait_until("ready again", Duration::from_secs(30), || {
        http(&addr, "GET", "/readyz").0 == 200
    })
    .await;

    // On-demand trigger.
    let (status, _) = http(&addr, "POST", "/reconcile");
    assert_eq!(status, 202);
    emu.shutdown().await;
}

/// Checks the OpenMetrics text format: every family declared once with TYPE, every sample of a
/// declared family, numeric values, and the closing `# EOF`.
fn check_openmetrics(body: &str) {
    let mut types = std::collections::HashMap::new();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.last().copied(), Some("# EOF"), "missing # EOF");
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            let (name, ty) = (it.next().unwrap(), it.next().unwrap_or(""));
            assert!(
                [
                    "counter",
                    "gauge",
                    "histogram",
                    "info",
                    "unknown",
                    "summary",
                    "stateset",
                    "gaugehistogram"
                ]
                .contains(&ty),
                "bad type line {line}"
            );
            assert!(
                types.insert(name.to_string(), ty.to_string()).is_none(),
                "family {name} declared twice"
            );
        } else if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
        } else {
            let (series, value) = line.rsplit_once(' ').expect("sample line");
            assert!(
                value.parse::<f64>().is_ok() || value == "+Inf" || value == "NaN",
                "bad value in {line}"
            );
            let name = series.split('{').next().unwrap();
            let family = types.keys().find(|f| {
                name == f.as_str()
                    || ["_total", "_bucket", "_count", "_sum", "_created"]
                        .iter()
                        .any(|suf| name == format!("{f}{suf}"))
            });
            assert!(family.is_some(), "sample of an undeclared family: {line}");
        }
    }
}
