//! The commands that talk to the live targets: `apply --once`, and `plan` / `explain` without
//! `--jobs` (read-only: they make no write).

use std::sync::Arc;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::aws::{ClientOverrides, MemoryStore};
use crate::cli::{ApplyArgs, ExplainArgs, OutputFormat, PlanArgs};
use crate::config::{self, Config, ConfigError};
use crate::plan;
use crate::reconcile::{build_reconcilers, CycleMode, TargetReconciler, Wiring};
use crate::telemetry::{Audit, Heartbeat, Metrics};

/// A live command failed.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Store(#[from] crate::aws::memory::StoreError),
    /// One or more targets failed; the text is the per-target summary.
    #[error("{0}")]
    Targets(String),
    #[error("{0}")]
    NotFound(String),
}

impl LiveError {
    pub fn exit_code(&self) -> i32 {
        match self {
            LiveError::Config(_) | LiveError::Store(_) => 78,
            _ => 1,
        }
    }
}

async fn reconcilers(
    cfg: &Config,
    overrides: &ClientOverrides,
    store: Arc<MemoryStore>,
) -> (Vec<TargetReconciler>, Vec<String>) {
    let metrics = Arc::new(Metrics::new());
    let wiring = Wiring {
        store,
        audit: Audit::new(metrics.clone()),
        metrics,
        shutdown: CancellationToken::new(),
        heartbeat: Arc::new(Heartbeat::default()),
    };
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for r in build_reconcilers(cfg, overrides, &wiring).await {
        match r {
            Ok(rec) => ok.push(rec),
            Err(e) => failed.push(e.to_string()),
        }
    }
    (ok, failed)
}

/// `s3prio apply --once`: one full cycle for every target (independently: one failing target
/// does not stop the others). Ok(summary) when every target succeeded.
pub async fn apply(args: &ApplyArgs, overrides: &ClientOverrides) -> Result<String, LiveError> {
    let mut cfg = config::load(&args.config)?;
    if args.dry_run {
        cfg.reconcile.dry_run = true;
    }
    let store = Arc::new(MemoryStore::open(&cfg.baseline)?);
    let (recs, mut failed) = reconcilers(&cfg, overrides, store).await;
    let now = Utc::now();
    let cfg_ref = &cfg;
    let results = futures::future::join_all(
        recs.into_iter()
            .map(|mut rec| async move { rec.cycle(cfg_ref, now, CycleMode::default()).await }),
    )
    .await;
    let mut lines = Vec::new();
    for r in results {
        match r {
            Ok(report) => {
                lines.push(report.summary());
                if !report.is_clean() {
                    failed.push(report.summary());
                }
            }
            Err(e) => failed.push(e.to_string()),
        }
    }
    if failed.is_empty() {
        Ok(lines.join("\n"))
    } else {
        lines.extend(failed.iter().map(|f| format!("FAILED: {f}")));
        Err(LiveError::Targets(lines.join("\n")))
    }
}

/// `s3prio plan` against the live targets.
pub async fn plan(args: &PlanArgs, overrides: &ClientOverrides) -> Result<String, LiveError> {
    let cfg = config::load(&args.config)?;
    let store = Arc::new(MemoryStore::open(&cfg.baseline)?);
    let (recs, failed) = reconcilers(&cfg, overrides, store).await;
    let now = args.at.unwrap_or_else(Utc::now);
    let mut all = Vec::new();
    let mut errors = failed;
    for mut rec in recs {
        match rec.observe(&cfg, now).await {
            Ok((jobs, _)) => all.extend(jobs),
            Err(e) => errors.push(e.to_string()),
        }
    }
    let plan = plan::plan(&cfg.policy, &all, now);
    let mut out = match args.format {
        OutputFormat::Table => format!(
            "{}\n{}",
            plan::render_table(&plan),
            plan::render_next_boundary(&cfg.policy, now)
        ),
        OutputFormat::Json => serde_json::to_string_pretty(&plan).unwrap_or_default(),
    };
    if !errors.is_empty() {
        return Err(LiveError::Targets(format!(
            "{out}\n{}",
            errors
                .iter()
                .map(|e| format!("FAILED: {e}"))
                .collect::<Vec<_>>()
                .join("\n")
        )));
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// `s3prio explain` against the live targets.
pub async fn explain(args: &ExplainArgs, overrides: &ClientOverrides) -> Result<String, LiveError> {
    let cfg = config::load(&args.config)?;
    let store = Arc::new(MemoryStore::open(&cfg.baseline)?);
    let (recs, failed) = reconcilers(&cfg, overrides, store).await;
    let now = args.at.unwrap_or_else(Utc::now);
    for mut rec in recs {
        let (jobs, _) = match rec.observe(&cfg, now).await {
            Ok(x) => x,
            Err(e) => return Err(LiveError::Targets(e.to_string())),
        };
        if let Some(mut obs) = jobs.into_iter().find(|o| o.job.id == args.job_id) {
            if obs.job.tags.is_none() {
                if let Ok(tags) = rec.read_tags(&obs.job.id).await {
                    obs.job.tags = Some(tags);
                }
            }
            let baseline = obs.memory.map(|m| m.baseline).unwrap_or(obs.job.priority);
            let explanation = cfg.policy.explain(&obs.job, baseline, now);
            let planned = plan::plan(&cfg.policy, std::slice::from_ref(&obs), now);
            let mut out = explanation.render_text();
            if let Some(m) = obs.memory {
                out.push_str(&format!(
                    "\nremembered: baseline {}, last set {:?}, previous {:?}\n",
                    m.baseline, m.last_set, m.prev_set
                ));
            }
            if !planned.hands_off.is_empty() {
                out.push_str("\nhands off: the priority was changed by someone else; s3prio leaves it (reconcile.on_manual_change)\n");
            }
            return Ok(out);
        }
    }
    let mut msg = format!(
        "job {} is not among the managed jobs of any target (managed statuses: {}). It may not exist, belong to another account or region, or be in a status s3prio does not manage",
        args.job_id,
        cfg.reconcile
            .managed_statuses
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for f in failed {
        msg.push_str(&format!("\nFAILED: {f}"));
    }
    Err(LiveError::NotFound(msg))
}
