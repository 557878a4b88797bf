//! A child `s3prio run` process with its log collected, and small HTTP helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::wait::poll;
use super::{child_env, config_text, s3prio_bin};

/// A running `s3prio run` child with its log lines collected.
pub struct Daemon {
    pub child: Child,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    pub fn start(config: &Path, home: &Path, extra_env: &[(&str, String)]) -> Daemon {
        let mut cmd = Command::new(s3prio_bin());
        cmd.args(["run", "--log-format", "json", "--config"])
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        child_env(&mut cmd, home);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn s3prio run");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        Daemon { child, lines }
    }

    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits until a log line contains `needle`; returns the line.
    pub async fn wait_log(&self, needle: &str, timeout: Duration) -> String {
        let found = poll(timeout, || {
            let lines = self.lines.lock().unwrap();
            lines.iter().find(|l| l.contains(needle)).cloned()
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "no log line with `{needle}` within {timeout:?}:\n{}",
                self.log()
            )
        })
    }

    pub async fn http_addr(&self) -> String {
        let line = self
            .wait_log("serving /metrics", Duration::from_secs(20))
            .await;
        let v: serde_json::Value = serde_json::from_str(&line).expect("json log line");
        v["addr"].as_str().expect("addr field").to_string()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok);
    }

    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let child = &mut self.child;
        poll(timeout, || child.try_wait().expect("try_wait")).await
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 client (the tests must not depend on the code under test for HTTP).
pub fn http(addr: &str, method: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read");
    let status = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

pub fn policy(set: i32) -> String {
    format!(
        r#"
[[rules]]
name = "urgent"
when = {{ tags = {{ urgent = "true" }} }}
action = {{ set = {set} }}
"#
    )
}

pub fn daemon_config(endpoint: &str, dir: &Path, interval: &str, rules: &str) -> String {
    config_text(
        endpoint,
        200.0,
        &format!(
            r#"
[reconcile]
interval = "{interval}"
shutdown_timeout = "5s"

[baseline]
store = ["file"]
state_file = "{state}"

[http]
listen = "127.0.0.1:0"

{rules}
"#,
            state = dir.join("state.json").display()
        ),
    )
}
