//! A broken or hostile S3 Control endpoint, and a hostile client of the HTTP port: bounded
//! memory (a response size cap, paging that does not end), errors that say what went wrong,
//! connection limits, and an authorised, coalesced `POST /reconcile`.
//!
//! The misbehaving endpoint is a small HTTP server started by each test; the client is the real
//! `aws-sdk-s3control` one.

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use common::process::{http, Daemon};
use common::wait::wait_until;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the hostile server answers to one request.
enum Reply {
    /// A status and a body, sent with its length.
    Body(u16, String),
    /// 200 and a body that never ends (no length, the connection closes after it).
    Endless,
}

/// One request as the hostile server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
}

impl Seen {
    /// The S3 Control operation of the request.
    fn operation(&self) -> &'static str {
        let tail = self.path.trim_start_matches("/v20180820/jobs");
        match (self.method.as_str(), tail) {
            ("GET", "") => "ListJobs",
            ("GET", t) if t.ends_with("/tagging") => "GetJobTagging",
            ("PUT", t) if t.ends_with("/tagging") => "PutJobTagging",
            ("POST", t) if t.ends_with("/priority") => "UpdateJobPriority",
            ("GET", _) => "DescribeJob",
            _ => "other",
        }
    }

    fn job_id(&self) -> &str {
        self.path
            .trim_start_matches("/v20180820/jobs/")
            .split('/')
            .next()
            .unwrap_or("")
    }

    fn param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| v.to_string())
        })
    }
}

/// A small HTTP/1.1 server whose every answer `reply` decides.
struct Hostile {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Bytes of endless bodies that were written before the client hung up.
    endless_bytes: Arc<AtomicU64>,
}

impl Hostile {
    async fn start(reply: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let endless_bytes = Arc::new(AtomicU64::new(0));
        let reply = Arc::new(reply);
        let (s, e) = (seen.clone(), endless_bytes.clone());
        tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                let (reply, seen, endless) = (reply.clone(), s.clone(), e.clone());
                let _ = conn.set_nodelay(true);
                tokio::spawn(async move {
                    let _ = serve(conn, &*reply, &seen, &endless).await;
                });
            }
        });
        Hostile {
            url,
            seen,
            endless_bytes,
        }
    }

    fn count(&self, operation: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.operation() == operation)
            .count()
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve(
    mut conn: TcpStream,
    reply: &(dyn Fn(&Seen, usize) -> Reply + Send + Sync),
    seen: &Mutex<Vec<Seen>>,
    endless: &AtomicU64,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        // Read one request: its head, then as many body bytes as it declares.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        buf.drain(..head_end + length);
        let mut words = head.split_whitespace();
        let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let request = Seen {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
        };
        let index = {
            let mut s = seen.lock().unwrap();
            s.push(request.clone());
            s.iter()
                .filter(|r| r.operation() == request.operation())
                .count()
        };
        match reply(&request, index) {
            Reply::Body(status, body) => {
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/xml\r\nx-amz-request-id: hostile\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                conn.write_all(format!("{head}{body}").as_bytes()).await?;
            }
            Reply::Endless => {
                conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/xml\r\nconnection: close\r\n\r\n<ListJobsResult><Jobs>")
                    .await?;
                let filler = "<member><JobId>endless-job-0001</JobId></member>".repeat(1000);
                loop {
                    conn.write_all(filler.as_bytes()).await?;
                    endless.fetch_add(filler.len() as u64, Ordering::Relaxed);
                }
            }
        }
    }
}

const NS: &str = "http://awss3control.amazonaws.com/doc/2018-08-20/";

fn member(id: &str, description: &str, priority: i32) -> String {
    format!(
        "<member><JobId>{id}</JobId><Description>{description}</Description><Operation>S3PutObjectCopy</Operation><Priority>{priority}</Priority><Status>Active</Status><CreationTime>2026-11-01T00:00:00Z</CreationTime></member>"
    )
}

fn list_page(members: &[String], next: Option<&str>) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListJobsResult xmlns=\"{NS}\">{}<Jobs>{}</Jobs></ListJobsResult>",
        next.map(|t| format!("<NextToken>{t}</NextToken>"))
            .unwrap_or_default(),
        members.concat()
    )
}

fn error_body(code: &str, message: &str) -> String {
    format!("<ErrorResponse><Error><Code>{code}</Code><Message>{message}</Message></Error><RequestId>hostile</RequestId></ErrorResponse>")
}

/// A config against `endpoint` with the file store (no tag reads) and a rule on descriptions.
fn config_against(endpoint: &str, dir: &std::path::Path, rps: f64) -> String {
    config_text(
        endpoint,
        rps,
        &format!(
            r#"
[baseline]
store = ["file"]
state_file = "{}"

[[rules]]
name = "urgent"
when = {{ description_glob = "urgent*" }}
action = {{ set = 900 }}
"#,
            dir.join("state.json").display()
        ),
    )
}

async fn failing_cycle(endpoint: &str, rps: f64) -> (String, Rig) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = parse(&config_against(endpoint, dir.path(), rps));
    let mut rig = rig(&cfg).await;
    let err = rig
        .reconciler
        .cycle(&cfg, chrono::Utc::now())
        .await
        .expect_err("the cycle fails");
    (err.to_string(), rig)
}

fn outcome_count(rig: &Rig, outcome: &str) -> u64 {
    let text = rig.metrics.encode();
    text.lines()
        .filter(|l| l.starts_with("s3prio_api_requests_total") && l.contains(outcome))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

// 6. Bounded memory: a body that never ends is cut at the cap, not read to exhaustion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_body_that_never_ends_fails_the_call_at_the_size_cap() {
    let server = Hostile::start(|_, _| Reply::Endless).await;
    let started = Instant::now();
    let (err, rig) = failing_cycle(&server.url, 50.0).await;
    let took = started.elapsed();
    assert!(
        err.contains("larger than 8 MiB") && err.contains(&server.url),
        "{err}"
    );
    assert!(err.contains("after 1 attempt(s)"), "not retried: {err}");
    // What the server managed to write: the cap plus what the socket buffers hold, never the
    // gigabytes an unbounded read takes in the 2 s request timeout.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let written = server.endless_bytes.load(Ordering::Relaxed);
    println!("endless body: {written} bytes written, the call failed after {took:?}: {err}");
    assert!(
        written < 48 * 1024 * 1024,
        "{written} bytes were written before the client stopped reading"
    );
    assert!(took < Duration::from_secs(10), "took {took:?} to give up");
    assert_eq!(server.count("ListJobs"), 1);
    assert_eq!(outcome_count(&rig, "bad_response"), 1);
}

// 6. Paging that loops (A, B, A, B) or never ends is detected and fails the cycle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_that_loops_or_never_ends_fails_the_cycle_with_a_clear_error() {
    // Tokens alternate A, B, A, B: the third page repeats the first page's token.
    let looping = Hostile::start(|req, _| {
        let next = match req.param("nextToken").as_deref() {
            None | Some("B") => "A",
            _ => "B",
        };
        Reply::Body(
            200,
            list_page(&[member("loop-job-0001", "x", 5)], Some(next)),
        )
    })
    .await;
    let (err, _) = failing_cycle(&looping.url, 200.0).await;
    assert!(
        err.contains("page 3 returned the NextToken page 1 returned"),
        "{err}"
    );
    assert_eq!(looping.count("ListJobs"), 3);

    // A new token on every page, each with no job: stopped at the page bound.
    let endless =
        Hostile::start(|_, n| Reply::Body(200, list_page(&[], Some(&format!("t{n}"))))).await;
    let (err, _) = failing_cycle(&endless.url, 1000.0).await;
    assert!(err.contains("did not end within 2000 pages"), "{err}");
    assert_eq!(endless.count("ListJobs"), 2000);

    // Full pages of new jobs, forever: stopped at the most jobs a listing may hold.
    let page: Arc<Vec<String>> = Arc::new(
        (0..1000)
            .map(|i| member(&format!("many-job-{i:06}"), "x", 5))
            .collect(),
    );
    let growing = Hostile::start(move |_, n| {
        let members: Vec<String> = page
            .iter()
            .map(|m| m.replace("many-job-", &format!("p{n:05}-job-")))
            .collect();
        Reply::Body(200, list_page(&members, Some(&format!("t{n}"))))
    })
    .await;
    let (err, _) = failing_cycle(&growing.url, 1000.0).await;
    assert!(err.contains("passed 200000 jobs"), "{err}");
    assert_eq!(growing.count("ListJobs"), 201);
}

// 6. A job listed several times is handled (and written) once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_listed_five_times_is_written_once() {
    let server = Hostile::start(|req, _| match req.operation() {
        "ListJobs" => {
            let dup = member("dup-job-0001", "urgent copy", 10);
            let other = member("other-job-0001", "urgent other", 10);
            let page = [dup.clone(), dup.clone(), other, dup.clone(), dup.clone(), dup];
            Reply::Body(200, list_page(&page, None))
        }
        // The opt-out tag is checked before a write.
        "GetJobTagging" => Reply::Body(
            200,
            format!("<GetJobTaggingResult xmlns=\"{NS}\"><Tags></Tags></GetJobTaggingResult>"),
        ),
        "UpdateJobPriority" => Reply::Body(
            200,
            format!(
                "<UpdateJobPriorityResult xmlns=\"{NS}\"><JobId>{}</JobId><Priority>{}</Priority></UpdateJobPriorityResult>",
                req.job_id(),
                req.param("priority").unwrap_or_default()
            ),
        ),
        _ => Reply::Body(400, error_body("BadRequestException", "unexpected")),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = parse(&config_against(&server.url, dir.path(), 50.0));
    let mut rig = rig(&cfg).await;
    let report = rig
        .reconciler
        .cycle(&cfg, chrono::Utc::now())
        .await
        .expect("cycle");
    assert_eq!(report.listed, 2, "{}", report.summary());
    assert_eq!(report.duplicates, 4);
    let writes: Vec<String> = server
        .seen()
        .iter()
        .filter(|s| s.operation() == "UpdateJobPriority")
        .map(|s| s.job_id().to_string())
        .collect();
    assert_eq!(
        writes.iter().filter(|id| *id == "dup-job-0001").count(),
        1,
        "{writes:?}"
    );
    assert_eq!(writes.len(), 2, "{writes:?}");
    let tag_reads = server
        .seen()
        .iter()
        .filter(|s| s.operation() == "GetJobTagging" && s.job_id() == "dup-job-0001")
        .count();
    assert_eq!(
        tag_reads, 1,
        "the duplicate's tags were read {tag_reads} times"
    );
}

// 7. A response that does not parse says so, with the endpoint and the operation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unparseable_or_empty_200_is_reported_as_such() {
    for (body, expect) in [
        (
            "<html><body>Welcome to the proxy</body></html>",
            "starting `<html><body>Welcome to the proxy",
        ),
        ("", "empty body"),
        ("{\"Jobs\": []}", "starting `{\"Jobs\": []}`"),
    ] {
        let server = Hostile::start(move |_, _| Reply::Body(200, body.to_string())).await;
        let (err, rig) = failing_cycle(&server.url, 50.0).await;
        let from = format!("HTTP 200 from {}", server.url);
        assert!(
            err.contains("could not be parsed as a ListJobs result")
                && err.contains(&from)
                && err.contains(expect)
                && !err.contains("UnknownError"),
            "{err}"
        );
        assert!(err.contains("BadResponse"), "{err}");
        assert_eq!(outcome_count(&rig, "bad_response"), 1, "{err}");
    }
}

// 7. Credentials the service refuses count as credential errors, and readiness says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_refused_by_the_service_count_and_show_in_readyz() {
    for code in [
        "ExpiredToken",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
    ] {
        let server =
            Hostile::start(move |_, _| Reply::Body(403, error_body(code, "The service says no")))
                .await;
        let (err, rig) = failing_cycle(&server.url, 50.0).await;
        assert!(err.contains(code) && err.contains("Credentials"), "{err}");
        let line = rig
            .metrics
            .encode()
            .lines()
            .find(|l| l.starts_with("s3prio_credential_errors_total{target=\"emu\"}"))
            .map(str::to_string)
            .unwrap_or_default();
        assert!(line.ends_with(" 1"), "{code}: {line}");
    }

    // The daemon: /readyz names the refusal.
    let server = Hostile::start(|_, _| {
        Reply::Body(
            403,
            error_body("ExpiredToken", "The provided token has expired."),
        )
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("s3prio.toml");
    std::fs::write(
        &config,
        config_against(&server.url, home.path(), 50.0).replace(
            "[baseline]",
            "[http]\nlisten = \"127.0.0.1:0\"\n\n[baseline]",
        ),
    )
    .unwrap();
    let d = Daemon::start(&config, home.path(), &[]);
    let addr = d.http_addr().await;
    let mut last = (0, String::new());
    wait_until("readyz with a reason", Duration::from_secs(15), || {
        last = http(&addr, "GET", "/readyz");
        last.1.contains("ExpiredToken")
    })
    .await;
    assert_eq!(last.0, 503);
    assert!(
        last.1.contains("refused the credentials")
            && last.1.contains("The provided token has expired"),
        "{}",
        last.1
    );
    let (_, metrics) = http(&addr, "GET", "/metrics");
    assert!(
        metrics.lines().any(
            |l| l.starts_with("s3prio_credential_errors_total{target=\"emu\"}")
                && !l.ends_with(" 0")
        ),
        "{metrics}"
    );
}

// 8. Idle and half-open connections cannot take the port from the probes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_half_open_connections_are_capped_and_closed() {
    use s3prio::telemetry::http::{serve, HttpLimits, HttpOptions, ReconcileAdmission};
    use s3prio::telemetry::{Health, Metrics};
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let limits = HttpLimits {
        max_connections: 32,
        request_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_millis(1500),
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = serve(
        HttpOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            ready_max_age: Duration::from_secs(60),
            reconcile_token: None,
            limits,
        },
        metrics.clone(),
        health,
        Arc::new(|_| ReconcileAdmission::Started),
        shutdown.clone(),
    )
    .await
    .unwrap();
    let addr = server.addr;
    // 100 connections that never send a byte, 20 that send half a request.
    let mut held = Vec::new();
    for i in 0..120 {
        let mut c = TcpStream::connect(addr).await.unwrap();
        if i >= 100 {
            c.write_all(b"GET /healthz HTTP/1.1\r\nHo").await.unwrap();
        }
        held.push(c);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    println!(
        "120 idle connections at a cap of 32: {} refused",
        metrics.http_connections_refused.get()
    );
    assert!(
        metrics.http_connections_refused.get() >= 80,
        "refused: {}",
        metrics.http_connections_refused.get()
    );
    // Every one of them is closed by the server within the request timeout (plus margin).
    let closed = tokio::time::timeout(Duration::from_secs(3), async {
        for c in &mut held {
            let mut b = [0u8; 64];
            loop {
                match c.read(&mut b).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "some connections were still open after 3 s");
    // The probes get through again.
    let (status, body) =
        tokio::task::spawn_blocking(move || http(&addr.to_string(), "GET", "/healthz"))
            .await
            .unwrap();
    assert_eq!((status, body.as_str()), (200, "ok\n"));

    // A kept-alive connection that goes quiet after a response is closed after the idle timeout.
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut b = [0u8; 512];
    let n = c.read(&mut b).await.unwrap();
    assert!(String::from_utf8_lossy(&b[..n]).starts_with("HTTP/1.1 200"));
    let t = Instant::now();
    let end = tokio::time::timeout(Duration::from_secs(5), c.read(&mut b)).await;
    assert!(matches!(end, Ok(Ok(0)) | Ok(Err(_))), "{end:?}");
    assert!(
        t.elapsed() >= Duration::from_millis(1200),
        "{:?}",
        t.elapsed()
    );
    shutdown.cancel();
    server.join().await;
}

// 8. The unit's file limit leaves room for the connection cap and the daemon's own sockets.
#[test]
fn the_systemd_unit_raises_the_file_limit_above_the_connection_cap() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/systemd/s3prio.service"
    ))
    .unwrap();
    let limit: usize = unit
        .lines()
        .find_map(|l| l.strip_prefix("LimitNOFILE="))
        .and_then(|v| v.trim().parse().ok())
        .expect("LimitNOFILE= with a number");
    let cap = s3prio::telemetry::http::HttpLimits::default().max_connections;
    assert!(limit >= 4 * cap, "LimitNOFILE={limit} for a cap of {cap}");
}

fn post(addr: &str, path: &str, headers: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n{headers}\r\n").unwrap();
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    let status = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (
        status,
        buf.split("\r\n\r\n").nth(1).unwrap_or("").to_string(),
    )
}

/// A local address of this host that is not loopback, if it has one.
fn lan_address() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("10.255.255.255:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

// 9. POST /reconcile: coalesced, rate-limited, refused to web pages and, without a token, to
// clients that are not on loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_reconcile_is_coalesced_rate_limited_and_authorised() {
    let emu = quiet_emulator().await;
    insert_jobs(&emu, 5, 0, 100);
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("s3prio.toml");
    let text = common::process::daemon_config(
        &emu.endpoint_url(),
        home.path(),
        "300s",
        &common::process::policy(500),
    )
    .replace("listen = \"127.0.0.1:0\"", "listen = \"0.0.0.0:0\"");
    std::fs::write(&config, &text).unwrap();
    let d = Daemon::start(&config, home.path(), &[]);
    let port = d.http_addr().await.rsplit(':').next().unwrap().to_string();
    let addr = format!("127.0.0.1:{port}");
    let lists = || emu.stats().count("ListJobs", "ok");
    wait_until("the first cycle", Duration::from_secs(15), || lists() >= 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = lists();

    // A flood from loopback: one cycle now, one when the interval ends, none in between.
    let accepted = Arc::new(AtomicUsize::new(0));
    let flood = {
        let (addr, accepted) = (addr.clone(), accepted.clone());
        tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            let mut n = 0;
            while start.elapsed() < Duration::from_secs(2) {
                if post(&addr, "/reconcile", "").0 == 202 {
                    accepted.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
            n
        })
    };
    let sent = flood.await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let cycles = lists() - before;
    println!("POST /reconcile flood: {sent} requests in 2 s started {cycles} cycle(s)");
    assert!(sent >= 200, "only {sent} requests sent");
    assert_eq!(
        accepted.load(Ordering::Relaxed),
        sent,
        "every request is answered 202"
    );
    assert!(
        (1..=2).contains(&cycles),
        "{sent} requests started {cycles} cycles"
    );
    let (status, body) = post(&addr, "/reconcile", "");
    assert_eq!(status, 202);
    assert!(body.contains("reconcile"), "{body}");

    // A page in a browser.
    let (status, body) = post(&addr, "/reconcile", "Origin: https://evil.example\r\n");
    assert_eq!(status, 403, "{body}");

    // From another host (this host's LAN address), with no token configured.
    if let Some(ip) = lan_address() {
        let (status, body) = post(&format!("{ip}:{port}"), "/reconcile", "");
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("reconcile_token_file"), "{body}");
        // The probes and metrics stay open to everyone.
        assert_eq!(http(&format!("{ip}:{port}"), "GET", "/healthz").0, 200);
    } else {
        println!("no non-loopback address on this host: the LAN check was skipped");
    }
    drop(d);

    // With a token file, every client needs the token.
    let token = "0123456789abcdef0123456789abcdef";
    std::fs::write(home.path().join("token"), format!("{token}\n")).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "listen = \"0.0.0.0:0\"",
            &format!(
                "listen = \"0.0.0.0:0\"\nreconcile_token_file = \"{}\"",
                home.path().join("token").display()
            ),
        ),
    )
    .unwrap();
    let d = Daemon::start(&config, home.path(), &[]);
    let port = d.http_addr().await.rsplit(':').next().unwrap().to_string();
    let addr = format!("127.0.0.1:{port}");
    assert_eq!(post(&addr, "/reconcile", "").0, 401);
    assert_eq!(
        post(&addr, "/reconcile", "Authorization: Bearer wrong\r\n").0,
        401
    );
    let auth = format!("Authorization: Bearer {token}\r\n");
    assert_eq!(post(&addr, "/reconcile", &auth).0, 202);
    if let Some(ip) = lan_address() {
        assert_eq!(post(&format!("{ip}:{port}"), "/reconcile", &auth).0, 202);
    }
    drop(d);
    emu.shutdown().await;
}
