//! Broken and odd config files, values that used to pass `check` and then misbehave, signals
//! during start-up, and a closed stdout: tried as an adversary would.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use common::process::{daemon_config, http, policy, Daemon};
use common::wait::{poll, wait_until};
use common::*;
use s3prio::config::{self, Config};
use s3prio::daemon::reload::{ConfigSource, ReloadOutcome, Trigger};
use s3prio::telemetry::Metrics;
use tokio::sync::watch;

const TARGET: &str = r#"
[[targets]]
account_id = "123456789012"
region = "us-east-1"
"#;

fn good(set: i32) -> String {
    format!("{TARGET}\n[[rules]]\nname = \"r\"\nwhen = {{ description_glob = \"x*\" }}\naction = {{ set = {set} }}\n")
}

fn gauge(m: &Metrics) -> i64 {
    m.config_last_reload_successful.get()
}

/// Runs `s3prio ARGS` and returns (exit code, stderr); kills it and fails if it takes longer
/// than `within` (a read that blocks must fail the test, not hang it).
async fn exits(args: &[&str], within: Duration) -> (i32, String) {
    use std::io::Read;
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(s3prio_bin());
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    child_env(&mut cmd, home.path());
    let mut child = cmd.spawn().unwrap();
    let Some(status) = poll(within, || child.try_wait().unwrap()).await else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("`s3prio {}` still running after {within:?}", args.join(" "));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code().unwrap_or(-1), err)
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

// 1. The reload gauge says whether the file on disk would load now.
#[tokio::test]
async fn the_reload_gauge_follows_the_file_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s3prio.toml");
    std::fs::write(&path, good(500)).unwrap();
    let (mut source, cfg) = ConfigSource::load(&path, Default::default()).unwrap();
    let (tx, rx) = watch::channel(Arc::new(cfg));
    let m = Metrics::new();
    macro_rules! reload {
        ($trigger:expr) => {
            source.reload(&tx, &m, $trigger).await
        };
    }
    assert_eq!(reload!(Trigger::Watch), ReloadOutcome::Unchanged);
    assert_eq!(gauge(&m), 1);

    // A bad edit, then the running file back byte for byte: the gauge comes back to 1.
    std::fs::write(&path, good(500).replace("action", "acton")).unwrap();
    assert_eq!(reload!(Trigger::Watch), ReloadOutcome::Rejected);
    assert_eq!(gauge(&m), 0);
    std::fs::write(&path, good(500)).unwrap();
    assert_eq!(reload!(Trigger::Watch), ReloadOutcome::Unchanged);
    assert_eq!(gauge(&m), 1, "the file on disk is the running one again");

    // Deleted, a directory, a FIFO, unreadable: each is 0 until the file is back.
    std::fs::remove_file(&path).unwrap();
    assert_eq!(reload!(Trigger::Watch), ReloadOutcome::Unreadable);
    assert_eq!(gauge(&m), 0);
    std::fs::create_dir(&path).unwrap();
    assert_eq!(reload!(Trigger::Watch), ReloadOutcome::Unreadable);
    assert_eq!(gauge(&m), 0);
    std::fs::remove_dir(&path).unwrap();
    mkfifo(&path);
    assert_eq!(reload!(Trigger::Watch), ReloadOutcome::Unreadable);
    assert_eq!(gauge(&m), 0);
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, good(500)).unwrap();
    assert_eq!(reload!(Trigger::Watch), ReloadOutcome::Unchanged);
    assert_eq!(gauge(&m), 1);
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        // Root reads whatever the mode says: the check only means something for other users.
        if std::fs::read(&path).is_err() {
            assert_eq!(reload!(Trigger::Watch), ReloadOutcome::Unreadable);
            assert_eq!(gauge(&m), 0);
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    assert_eq!(reload!(Trigger::Watch), ReloadOutcome::Unchanged);
    assert_eq!(gauge(&m), 1);

    // A good new file applies; what runs is what the gauge vouches for.
    std::fs::write(&path, good(700)).unwrap();
    assert_eq!(reload!(Trigger::Watch), ReloadOutcome::Applied);
    assert_eq!(gauge(&m), 1);
    assert!(rx.borrow().policy.rule_count() == 1);
}

// 2. `check`, `run` and a reload read and parse the file the same way.
#[tokio::test]
async fn a_file_that_is_not_utf8_is_refused_by_check_run_and_reload_alike() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s3prio.toml");
    std::fs::write(&path, good(500)).unwrap();
    let (mut source, cfg) = ConfigSource::load(&path, Default::default()).unwrap();
    let (tx, rx) = watch::channel(Arc::new(cfg));
    let m = Metrics::new();

    // A change, plus a Latin-1 comment (`printf '# caf\xe9\n' >> s3prio.toml`).
    let mut bytes = good(600).into_bytes();
    bytes.extend_from_slice(b"# caf\xe9\n");
    std::fs::write(&path, &bytes).unwrap();
    let line = good(600).matches('\n').count() + 1;
    let located = format!(
        "{}:{line}:6: error: the file is not valid UTF-8 (byte 0xE9)",
        path.display()
    );

    let p = path.to_str().unwrap();
    let (code, err) = exits(&["check", "--config", p], Duration::from_secs(20)).await;
    assert_eq!(code, 78, "{err}");
    assert!(err.contains(&located), "{err}");
    let (code, err) = exits(&["run", "--config", p], Duration::from_secs(20)).await;
    assert_eq!(code, 78, "{err}");
    assert!(err.contains(&located), "{err}");

    assert_eq!(
        source.reload(&tx, &m, Trigger::Signal).await,
        ReloadOutcome::Rejected
    );
    assert_eq!(gauge(&m), 0);
    let running: &Config = &rx.borrow();
    let rule_set = format!("{:?}", running.policy);
    assert!(
        rule_set.contains("500") && !rule_set.contains("600"),
        "the edit was not applied"
    );
}

/// A daemon against the emulator with its config in `etc/` and the file store next to it.
struct Setup {
    _home: tempfile::TempDir,
    home: PathBuf,
    etc: PathBuf,
}

fn setup() -> Setup {
    let home = tempfile::tempdir().unwrap();
    let path = home.path().canonicalize().unwrap();
    let etc = path.join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    Setup {
        _home: home,
        home: path,
        etc,
    }
}

fn count(d: &Daemon, needle: &str) -> usize {
    d.lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(needle))
        .count()
}

fn reload_gauge(addr: &str) -> String {
    let (_, metrics) = http(addr, "GET", "/metrics");
    metrics
        .lines()
        .find(|l| l.starts_with("s3prio_config_last_reload_successful "))
        .unwrap_or("")
        .to_string()
}

/// How often `file` is opened during `span` (by anyone), as inotify reports it.
async fn opens_of(file: &Path, span: Duration) -> usize {
    use notify_debouncer_full::notify::{
        self, event::AccessKind, EventKind, RecursiveMode, Watcher,
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let mut w = notify::recommended_watcher(tx).unwrap();
    w.watch(file.parent().unwrap(), RecursiveMode::NonRecursive)
        .unwrap();
    tokio::time::sleep(span).await;
    drop(w);
    rx.try_iter()
        .filter_map(Result::ok)
        .filter(|e| matches!(e.kind, EventKind::Access(AccessKind::Open(_))))
        .filter(|e| e.paths.iter().any(|p| p == file))
        .count()
}

// 3. The watcher reacts to the config file (and what it links to) only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_reacts_to_the_config_file_and_its_link_target_only() {
    let emu = quiet_emulator().await;
    let ids = insert_jobs(&emu, 6, 3, 100);
    let s = setup();
    let ep = emu.endpoint_url();
    // Configuration management's layout: the config is a link into another directory, and
    // the state file lives next to the link.
    let managed = s.home.join("managed");
    std::fs::create_dir_all(&managed).unwrap();
    let target = managed.join("s3prio.toml");
    let state_dir = s.etc.clone();
    let cfg = |set: i32| daemon_config(&ep, &state_dir, "300s", &policy(set));
    std::fs::write(&target, cfg(500)).unwrap();
    let config_path = s.etc.join("s3prio.toml");
    std::os::unix::fs::symlink(&target, &config_path).unwrap();
    let d = Daemon::start(&config_path, &s.home, &[]);
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

    // Its own reads of the file do not make the daemon read it again (a silent loop).
    let opens = opens_of(&target, Duration::from_secs(3)).await;
    assert!(
        opens <= 1,
        "the config was opened {opens} times in 3 s of quiet"
    );

    // An edit of the link's target, in place.
    std::fs::write(&target, cfg(600)).unwrap();
    wait_until(
        "edit through the link applied",
        Duration::from_secs(10),
        || urgent() == vec![600; 3],
    )
    .await;

    // A bad edit is reported once, however much else happens in either directory.
    std::fs::write(&target, cfg(700).replace("action", "acton")).unwrap();
    d.wait_log("config reload rejected", Duration::from_secs(10))
        .await;
    for i in 0..10 {
        std::fs::write(s.etc.join("notes.txt"), format!("{i}")).unwrap();
        std::fs::write(managed.join(".s3prio.toml.swp"), format!("{i}")).unwrap();
        std::fs::write(s.etc.join("state.json.bak"), format!("{i}")).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(count(&d, "config reload rejected"), 1, "{}", d.log());
    assert_eq!(
        reload_gauge(&addr),
        "s3prio_config_last_reload_successful 0"
    );
    assert_eq!(urgent(), vec![600; 3]);

    // A directory at the config path: an error, the gauge at 0, and no reload loop.
    std::fs::remove_file(&config_path).unwrap();
    std::fs::create_dir(&config_path).unwrap();
    d.wait_log("a directory, not a regular file", Duration::from_secs(10))
        .await;
    // The removal and the new directory may be seen apart: at most one line each.
    let errors = count(&d, "the config file cannot be read");
    assert!(errors <= 2, "{}", d.log());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        count(&d, "the config file cannot be read"),
        errors,
        "a reload loop:\n{}",
        d.log()
    );
    assert_eq!(
        reload_gauge(&addr),
        "s3prio_config_last_reload_successful 0"
    );

    // The link back, to the file that runs: the gauge is 1 again.
    std::fs::remove_dir(&config_path).unwrap();
    std::fs::write(&target, cfg(600)).unwrap();
    std::os::unix::fs::symlink(&target, &config_path).unwrap();
    wait_until("gauge back to 1", Duration::from_secs(10), || {
        reload_gauge(&addr) == "s3prio_config_last_reload_successful 1"
    })
    .await;
    assert_eq!(count(&d, "config reloaded"), 1, "{}", d.log());
    drop(d);
    emu.shutdown().await;
}

// 4. Special files are refused, never read or waited on; large files are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn special_and_oversized_files_are_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.toml");
    mkfifo(&fifo);
    let big = dir.path().join("big.toml");
    let mut text = good(500);
    while text.len() <= 1024 * 1024 {
        text.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&big, &text).unwrap();

    let quick = Duration::from_secs(15);
    for (path, what) in [
        (
            fifo.to_str().unwrap(),
            "a FIFO (named pipe), not a regular file",
        ),
        ("/dev/zero", "a character device, not a regular file"),
        (
            dir.path().to_str().unwrap(),
            "a directory, not a regular file",
        ),
        (big.to_str().unwrap(), "larger than 1024 KiB"),
    ] {
        for cmd in ["check", "run"] {
            let (code, err) = exits(&[cmd, "--config", path], quick).await;
            assert_eq!(code, 78, "{cmd} {path}: {err}");
            assert!(
                err.contains(path) && err.contains(what),
                "{cmd} {path}: {err}"
            );
        }
    }

    // A running daemon whose config becomes a FIFO keeps answering and stops on SIGTERM.
    let emu = quiet_emulator().await;
    let s = setup();
    let config_path = s.etc.join("s3prio.toml");
    std::fs::write(
        &config_path,
        daemon_config(&emu.endpoint_url(), &s.etc, "300s", &policy(500)),
    )
    .unwrap();
    let mut d = Daemon::start(&config_path, &s.home, &[]);
    let addr = d.http_addr().await;
    let tmp = s.etc.join("incoming");
    mkfifo(&tmp);
    std::fs::rename(&tmp, &config_path).unwrap();
    d.wait_log("the config file cannot be read", Duration::from_secs(10))
        .await;
    d.signal("HUP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(http(&addr, "GET", "/healthz").0, 200);
    assert_eq!(
        reload_gauge(&addr),
        "s3prio_config_last_reload_successful 0"
    );
    d.signal("TERM");
    let status = d
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("exits on SIGTERM");
    assert!(status.success(), "{status:?}");
    emu.shutdown().await;
}

fn endpoint_error(url: &str) -> Option<String> {
    let src = format!("{TARGET}endpoint_url = \"{url}\"\n");
    config::parse(&src, "t.toml").err().map(|e| e.to_string())
}

// 5. Values that passed `check` and then misbehaved: endpoint URLs.
#[test]
fn endpoint_urls_are_parsed_strictly() {
    for bad in [
        "http://[::zz]:x/ y",
        "http://[::1]:x",
        "http://host:99999",
        "http://host:0",
        "http://exa mple.com",
        "http://user:secret@host",
        "ftp://host",
        "http://",
        "http://-host-.example",
        "http://300.1.1.1",
        "https://host/path?query=1",
    ] {
        let err = endpoint_error(bad).unwrap_or_else(|| panic!("`{bad}` was accepted"));
        assert!(
            err.contains("t.toml:5:") && err.contains("is not a usable endpoint URL"),
            "{bad}: {err}"
        );
    }
    for good in [
        "http://127.0.0.1:9000",
        "https://s3-control.vpce-0a1b.us-east-1.vpce.amazonaws.com",
        "http://[::1]:9000/base",
        "http://localhost",
    ] {
        assert_eq!(endpoint_error(good), None, "`{good}` was refused");
    }
}

fn rate_error(rate_limit: &str) -> Option<String> {
    let src = format!("{TARGET}\n[targets.rate_limit]\n{rate_limit}\n");
    config::parse(&src, "t.toml").err().map(|e| e.to_string())
}

// 5. Rates and bursts are bounded to what the pace keeps.
#[test]
fn rates_and_bursts_are_bounded_to_what_the_pace_keeps() {
    for (bad, bounds) in [
        ("requests_per_second = 1e10", "0.2 to 10000"),
        ("requests_per_second = 10000.5\nburst = 100", "0.2 to 10000"),
        ("requests_per_second = 0.1", "0.2 to 10000"),
        ("write_requests_per_second = 5000", "0.2 to 1000"),
    ] {
        let err = rate_error(bad).unwrap_or_else(|| panic!("`{bad}` was accepted"));
        assert!(err.contains(bounds), "{bad}: {err}");
    }
    let err = rate_error("burst = 100000").expect("burst refused");
    assert!(err.contains("from 1 to 10000"), "{err}");
    // A fast pace needs a burst that holds the calls of 2 ms (timer ticks are 1 ms).
    let err = rate_error("requests_per_second = 2000\nburst = 3").expect("small burst refused");
    assert!(
        err.contains("burst 3 is too small") && err.contains("at least 4"),
        "{err}"
    );
    for ok in [
        "requests_per_second = 10000\nburst = 20",
        "requests_per_second = 2000\nburst = 4",
        "requests_per_second = 0.2",
        "write_requests_per_second = 1000",
    ] {
        assert_eq!(rate_error(ok), None, "{ok}");
    }
    // The lower bound is the pace's floor.
    assert_eq!(
        config::MIN_REQUESTS_PER_SECOND,
        s3prio::aws::AdaptivePace::FLOOR_RPS
    );
}

// 5. The upper bounds are paces the limiter keeps, with the smallest burst allowed.
#[tokio::test(start_paused = true)]
async fn the_fastest_allowed_paces_are_kept() {
    use s3prio::aws::AdaptivePace;
    for (rps, burst) in [
        (
            config::MAX_REQUESTS_PER_SECOND,
            config::min_burst(config::MAX_REQUESTS_PER_SECOND),
        ),
        (config::MAX_WRITE_REQUESTS_PER_SECOND, 1),
    ] {
        let pace = AdaptivePace::new(rps, burst);
        let start = tokio::time::Instant::now();
        let n = (rps * 3.0) as usize;
        for _ in 0..n {
            pace.acquire().await;
        }
        let took = start.elapsed().as_secs_f64();
        assert!(
            (2.9..=3.1).contains(&took),
            "{n} permits at {rps}/s, burst {burst}, took {took} s"
        );
        assert_eq!(pace.current_rps(), rps);
    }
}

// 5. A cron cadence that never fires is refused.
#[test]
fn a_cron_cadence_that_never_fires_is_refused() {
    for never in ["0 0 0 30 2 *", "0 0 0 1 1 * 2020"] {
        let src = format!("[reconcile]\ncron = \"{never}\"\n{TARGET}");
        let err = config::parse(&src, "t.toml")
            .err()
            .unwrap_or_else(|| panic!("`{never}` was accepted"))
            .to_string();
        assert!(
            err.contains("t.toml:2:") && err.contains("never fires"),
            "{never}: {err}"
        );
    }
    let src = format!("[reconcile]\ncron = \"0 */5 * * * *\"\n{TARGET}");
    assert!(config::parse(&src, "t.toml").is_ok());
}

fn open_state(json: &str) -> Result<s3prio::aws::MemoryStore, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    std::fs::write(&path, json).unwrap();
    s3prio::aws::MemoryStore::open(&config::BaselineSettings {
        stores: vec![config::StoreKind::File],
        state_file: Some(path),
        tag_prefix: "s3prio/".into(),
    })
    .map_err(|e| e.to_string())
}

// 5. A state file of another version, or with a negative priority, is refused.
#[test]
fn a_state_file_of_another_version_or_with_negative_priorities_is_refused() {
    let entry = |baseline: i64| {
        format!(
            r#"{{"123456789012/us-east-1/job-1": {{"baseline": {baseline}, "last_set": 900, "last_seen": 1}}}}"#
        )
    };
    let err = open_state(&format!(r#"{{"version": 99, "jobs": {}}}"#, entry(10)))
        .expect_err("version 99");
    assert!(
        err.contains("version 99 is not the supported version 1") && err.contains("move it away"),
        "{err}"
    );
    let err = open_state(&format!(r#"{{"version": 1, "jobs": {}}}"#, entry(-5)))
        .expect_err("negative baseline");
    assert!(
        err.contains("baseline -5 is negative") && err.contains("move it away"),
        "{err}"
    );
    assert!(open_state(&format!(r#"{{"version": 1, "jobs": {}}}"#, entry(10))).is_ok());
}

/// The signals the process catches, from `/proc/PID/status`.
fn caught_signals(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

// 10. SIGHUP and SIGUSR1 during start-up are handled, not fatal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_during_start_up_do_not_kill_the_daemon() {
    let emu = quiet_emulator().await;
    let s = setup();
    // A large policy makes start-up long enough to signal into (parsing is most of it).
    let rules: String = (0..5000)
        .map(|i| format!("\n[[rules]]\nname = \"r{i}\"\nwhen = {{ description_glob = \"job-{i}-*\" }}\naction = {{ set = {} }}\n", i % 1000))
        .collect();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config_path = s.etc.join("s3prio.toml");
    std::fs::write(
        &config_path,
        daemon_config(&emu.endpoint_url(), &s.etc, "300s", &rules)
            .replace("127.0.0.1:0", &format!("127.0.0.1:{port}")),
    )
    .unwrap();
    let mut d = Daemon::start(&config_path, &s.home, &[]);
    let pid = d.child.id();
    const HUP: u64 = 1 << 0;
    const USR1: u64 = 1 << 9;
    let start = Instant::now();
    while caught_signals(pid) & (HUP | USR1) != HUP | USR1 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no signal handlers"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // The handlers are in place while the config is still being read: nothing listens yet.
    let listening = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    d.signal("HUP");
    d.signal("USR1");
    d.signal("HUP");
    assert!(
        !listening,
        "the handlers came only after start-up; this test needs a slower start"
    );
    d.wait_log("s3prio started", Duration::from_secs(30)).await;
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "the daemon died:\n{}",
        d.log()
    );
    d.wait_log("SIGHUP: reloading the config", Duration::from_secs(10))
        .await;
    assert_eq!(http(&format!("127.0.0.1:{port}"), "GET", "/healthz").0, 200);
    d.signal("TERM");
    let status = d.wait_exit(Duration::from_secs(10)).await.expect("exits");
    assert!(status.success(), "{status:?}");
    emu.shutdown().await;
}

// 11. A closed stdout and stderr (`s3prio run | head -c 3000`) do not stop reconciling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_and_stderr_do_not_stop_reconciling() {
    use std::io::Read;
    let emu = quiet_emulator().await;
    insert_jobs(&emu, 40, 40, 100);
    let s = setup();
    let config_path = s.etc.join("s3prio.toml");
    std::fs::write(
        &config_path,
        daemon_config(&emu.endpoint_url(), &s.etc, "1s", &policy(500)),
    )
    .unwrap();
    let mut cmd = Command::new(s3prio_bin());
    cmd.args(["run", "--log-format", "json", "--config"])
        .arg(&config_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    child_env(&mut cmd, &s.home);
    let mut child = cmd.spawn().unwrap();
    // Read the first 3000 bytes of the log, then close both pipes.
    let mut out = child.stdout.take().unwrap();
    let mut head = vec![0u8; 3000];
    out.read_exact(&mut head).unwrap();
    let head = String::from_utf8_lossy(&head).to_string();
    let addr = head
        .lines()
        .find(|l| l.contains("serving /metrics"))
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .and_then(|v| v["addr"].as_str().map(str::to_string))
        .expect("the serving line in the first 3000 bytes");
    drop(out);
    drop(child.stderr.take());

    // New work after the pipes closed, with plenty to log, and a reload on SIGHUP.
    let late = insert_jobs(&emu, 30, 30, 100);
    wait_until("the new jobs changed", Duration::from_secs(20), || {
        late.iter().all(|id| priority(&emu, id) == 500)
    })
    .await;
    std::fs::write(
        &config_path,
        daemon_config(&emu.endpoint_url(), &s.etc, "1s", &policy(650)),
    )
    .unwrap();
    let ok = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    wait_until(
        "the reloaded policy applied",
        Duration::from_secs(20),
        || late.iter().all(|id| priority(&emu, id) == 650),
    )
    .await;
    assert!(child.try_wait().unwrap().is_none(), "the daemon exited");
    let (status, body) = http(&addr, "GET", "/metrics");
    assert_eq!(status, 200);
    assert!(
        body.contains("s3prio_target_loop_panics_total{target=\"emu\"} 0"),
        "{}",
        body.lines()
            .filter(|l| l.contains("panics"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(http(&addr, "GET", "/healthz").0, 200);
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = poll(Duration::from_secs(10), || child.try_wait().unwrap())
        .await
        .expect("no exit after SIGTERM");
    assert!(status.success(), "{status:?}");
    emu.shutdown().await;
}
