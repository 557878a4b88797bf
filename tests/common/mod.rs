//! Shared helpers of the integration tests: an in-process emulator, configs pointing at it,
//! and reconcilers built with the real `aws-sdk-s3control` client.
#![allow(dead_code)]

pub mod process;
pub mod wait;

use std::sync::Arc;

use s3prio::aws::{ClientOverrides, MemoryStore, SharedClients};
use s3prio::config::{self, Config};
use s3prio::emulator::{self, EmulatorHandle, EmulatorOptions, JobSpec, JobStatus, Tag};
use s3prio::reconcile::{build_reconcilers, TargetReconciler, Wiring};
use s3prio::telemetry::{Audit, Heartbeat, Metrics};
use tokio_util::sync::CancellationToken;

pub const ACCOUNT: &str = "123456789012";

/// An emulator with no population, no simulation (exact counts), unthrottled.
pub async fn quiet_emulator() -> EmulatorHandle {
    emulator::start(EmulatorOptions {
        simulate: false,
        ..Default::default()
    })
    .await
    .expect("emulator starts")
}

pub fn tag(k: &str, v: &str) -> Tag {
    Tag {
        key: k.to_string(),
        value: v.to_string(),
    }
}

/// Inserts `n` jobs at priority `priority`; `urgent` of them tagged urgent=true.
pub fn insert_jobs(emu: &EmulatorHandle, n: usize, urgent: usize, priority: i32) -> Vec<String> {
    (0..n)
        .map(|i| {
            let mut tags = vec![tag("team", if i % 2 == 0 { "data" } else { "ml" })];
            if i < urgent {
                tags.push(tag("urgent", "true"));
            }
            emu.insert_job(JobSpec {
                account_id: ACCOUNT.to_string(),
                description: Some(format!("nightly copy {i}")),
                priority,
                status: JobStatus::Active,
                tags,
                ..Default::default()
            })
        })
        .collect()
}

/// Inserts `n` jobs whose description starts with `prefix` (no tags needed to select them).
pub fn insert_described(
    emu: &EmulatorHandle,
    n: usize,
    prefix: &str,
    priority: i32,
) -> Vec<String> {
    (0..n)
        .map(|i| {
            emu.insert_job(JobSpec {
                account_id: ACCOUNT.to_string(),
                description: Some(format!("{prefix}-{i}")),
                priority,
                status: JobStatus::Ready,
                ..Default::default()
            })
        })
        .collect()
}

/// A config with one target at `endpoint`, the given extra top-level TOML and rules.
pub fn config_text(endpoint: &str, rps: f64, extra: &str) -> String {
    format!(
        r#"
{extra}

[[targets]]
name = "emu"
account_id = "{ACCOUNT}"
region = "us-east-1"
endpoint_url = "{endpoint}"
request_timeout = "2s"

[targets.rate_limit]
requests_per_second = {rps}
burst = {burst}

[targets.backoff]
base = "50ms"
max_delay = "2s"
max_attempts = 10
"#,
        burst = (rps.ceil() as u32).clamp(1, 50)
    )
}

pub fn parse(text: &str) -> Config {
    match config::parse(text, "test.toml") {
        Ok(c) => c,
        Err(e) => panic!("test config invalid:\n{e}\n---\n{text}"),
    }
}

pub struct Rig {
    pub reconciler: TargetReconciler,
    pub metrics: Arc<Metrics>,
    pub audit: Audit,
    pub store: Arc<MemoryStore>,
}

pub async fn rig(cfg: &Config) -> Rig {
    let metrics = Arc::new(Metrics::new());
    let audit = Audit::new(metrics.clone());
    let store = Arc::new(MemoryStore::open(&cfg.baseline).expect("store opens"));
    let wiring = Wiring {
        clients: Arc::new(SharedClients::new(ClientOverrides::emulator())),
        store: store.clone(),
        metrics: metrics.clone(),
        audit: audit.clone(),
        shutdown: CancellationToken::new(),
        heartbeat: Arc::new(Heartbeat::default()),
    };
    let mut recs = build_reconcilers(cfg, &wiring).await;
    let reconciler = recs.remove(0).expect("client builds");
    Rig {
        reconciler,
        metrics,
        audit,
        store,
    }
}

pub fn priority(emu: &EmulatorHandle, id: &str) -> i32 {
    emu.job(ACCOUNT, id).expect("job exists").priority
}

/// Environment for a child `s3prio` process talking to the emulator: static dummy credentials,
/// no instance-metadata probing, no shared profile.
pub fn child_env(cmd: &mut std::process::Command, home: &std::path::Path) {
    cmd.env("AWS_ACCESS_KEY_ID", "AKIDS3PRIOTEST")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.join("no-aws-credentials"),
        )
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("NOTIFY_SOCKET")
        .env("RUST_LOG", "info");
}

pub fn s3prio_bin() -> &'static str {
    env!("CARGO_BIN_EXE_s3prio")
}
