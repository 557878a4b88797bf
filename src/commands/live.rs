//! The commands that talk to the live targets: `apply --once`, and `plan` / `explain` without
//! `--jobs` (read-only: they make no write).
//!
//! What they cost: `explain JOB_ID` and `plan --job JOB_ID` read that job only (`DescribeJob`,
//! and its tags when they can matter: two requests per target holding it); `plan` lists every
//! target and reads what the decisions need (with the tag store, every job's tags once);
//! `apply --once` is one daemon cycle. Long reads show progress lines on a terminal; Ctrl-C
//! stops them cleanly and says what was and was not done.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::progress::Printer;
use super::Error;
use crate::aws::{ClientOverrides, MemoryStore, SharedClients};
use crate::cli::{ApplyArgs, ExplainArgs, OutputFormat, PlanArgs, ProgressArg};
use crate::config::Config;
use crate::model::ObservedJob;
use crate::plan;
use crate::reconcile::{build_reconcilers, CycleStop, TargetReconciler, Wiring};
use crate::telemetry::{Audit, Heartbeat, Metrics};

/// The config and a reconciler per target that could be set up.
struct Session {
    cfg: Config,
    recs: Vec<TargetReconciler>,
    failed: Vec<String>,
    /// Cancelled on Ctrl-C: no new call is sent.
    shutdown: CancellationToken,
}

async fn session(cfg: Config, overrides: &ClientOverrides) -> Result<Session, Error> {
    let store = Arc::new(MemoryStore::open(&cfg.baseline)?);
    let metrics = Arc::new(Metrics::new());
    let shutdown = CancellationToken::new();
    let clients = Arc::new(SharedClients::new(overrides.clone()));
    let cfg = expand_target_sets(cfg, &clients).await?;
    let wiring = Wiring {
        clients,
        store,
        audit: Audit::new(metrics.clone()),
        metrics,
        shutdown: shutdown.clone(),
        heartbeat: Arc::new(Heartbeat::default()),
    };
    let mut recs = Vec::new();
    let mut failed = Vec::new();
    for r in build_reconcilers(&cfg, &wiring).await {
        match r {
            Ok(rec) => recs.push(rec),
            Err(e) => failed.push(e.to_string()),
        }
    }
    Ok(Session {
        cfg,
        recs,
        failed,
        shutdown,
    })
}

/// The config with its target sets listed once and their targets added (as the daemon runs
/// them, unsharded).
async fn expand_target_sets(cfg: Config, clients: &SharedClients) -> Result<Config, Error> {
    if cfg.target_sets.is_empty() {
        return Ok(cfg);
    }
    let discovered = crate::daemon::fleet::discover_once(&cfg, clients)
        .await
        .map_err(|e| Error::failed("discovering the target sets", e))?;
    Ok(crate::daemon::fleet::running_config(
        &cfg,
        &discovered,
        crate::shard::ShardSpec::WHOLE,
    ))
}

/// The targets a plan covers, with where each came from (for the table output).
fn targets_table(cfg: &Config) -> String {
    let mut out = format!("targets ({}):\n", cfg.targets.len());
    for t in &cfg.targets {
        let from = t
            .origin
            .as_ref()
            .map_or("[[targets]]".to_string(), |set| format!("target set {set}"));
        let role = t.role_arn.as_deref().unwrap_or("(own credentials)");
        out.push_str(&format!("  {:<28} {:<24} {role}\n", t.name, from));
    }
    out
}

impl Session {
    /// Progress lines; `writes`: the command makes changes (`apply`).
    fn printer(&self, mode: ProgressArg, writes: bool) -> Printer {
        let per_change = match (writes, self.cfg.baseline.stores.is_empty()) {
            (false, _) => 0,
            (true, true) => 1,
            (true, false) => 2,
        };
        Printer::start(
            mode,
            self.recs
                .iter()
                .map(|r| (r.target().name.clone(), r.progress(), per_change))
                .collect(),
        )
    }
}

/// Awaits `work`; on Ctrl-C calls `interrupt` and awaits `work` to its (prompt) end. Returns
/// its output and whether it was interrupted.
async fn until_interrupted<F: Future>(work: F, interrupt: impl FnOnce()) -> (F::Output, bool) {
    tokio::pin!(work);
    tokio::select! {
        out = &mut work => (out, false),
        r = tokio::signal::ctrl_c() => {
            if r.is_ok() {
                interrupt();
            }
            (work.await, r.is_ok())
        }
    }
}

/// `s3prio apply --once`: one full cycle for every target (independently: one failing target
/// does not stop the others). Ok(summary) when every target succeeded.
pub async fn apply(
    args: &ApplyArgs,
    cfg: Config,
    overrides: &ClientOverrides,
) -> Result<String, Error> {
    let mut s = session(cfg, overrides).await?;
    let printer = s.printer(args.progress, true);
    let stops: Vec<CycleStop> = s.recs.iter().map(|_| CycleStop::default()).collect();
    let now = Utc::now();
    let cfg = &s.cfg;
    let work = futures_util::future::join_all(
        s.recs
            .iter_mut()
            .zip(&stops)
            .map(|(rec, stop)| rec.cycle_until(cfg, now, stop.clone())),
    );
    let (results, interrupted) = until_interrupted(work, || {
        stops.iter().for_each(CycleStop::abandon);
        s.shutdown.cancel();
    })
    .await;
    printer.finish().await;
    let mut lines = Vec::new();
    for r in results {
        match r {
            Ok(report) => {
                lines.push(report.summary());
                if !report.is_clean() && !interrupted {
                    s.failed.push(report.summary());
                }
            }
            Err(e) => s.failed.push(e.to_string()),
        }
    }
    if interrupted {
        return Err(Error::Interrupted(format!(
            "interrupted: the changes written are in the lines below (and in the audit log); no other change was made\n{}",
            lines.join("\n")
        )));
    }
    if s.failed.is_empty() {
        Ok(lines.join("\n"))
    } else {
        lines.extend(s.failed.iter().map(|f| format!("FAILED: {f}")));
        Err(Error::Targets(lines.join("\n")))
    }
}

/// `s3prio plan` against the live targets (every job, or `--job` only).
pub async fn plan(
    args: &PlanArgs,
    cfg: Config,
    overrides: &ClientOverrides,
) -> Result<String, Error> {
    let now = args.at.unwrap_or_else(Utc::now);
    let mut s = session(cfg, overrides).await?;
    let (jobs, mut errors) = match &args.job {
        Some(id) => one_job(&s, id).await?,
        None => every_job(&mut s, args.progress, now).await?,
    };
    errors.splice(0..0, s.failed.drain(..));
    let plan = plan::plan(&s.cfg.policy, &jobs, now);
    let mut out = match args.format {
        OutputFormat::Table => format!(
            "{}{}\n{}",
            if s.cfg.target_sets.is_empty() {
                String::new()
            } else {
                targets_table(&s.cfg) + "\n"
            },
            plan::render_table(&plan),
            plan::render_next_boundary(&s.cfg.policy, now)
        ),
        OutputFormat::Json => serde_json::to_string_pretty(&plan).unwrap_or_default(),
    };
    if !errors.is_empty() {
        let failed: Vec<String> = errors.iter().map(|e| format!("FAILED: {e}")).collect();
        return Err(Error::Targets(format!("{out}\n{}", failed.join("\n"))));
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// Every target's jobs with what planning needs, read concurrently, with progress lines.
async fn every_job(
    s: &mut Session,
    progress: ProgressArg,
    now: DateTime<Utc>,
) -> Result<(Vec<ObservedJob>, Vec<String>), Error> {
    let printer = s.printer(progress, false);
    let cfg = &s.cfg;
    let work = futures_util::future::join_all(s.recs.iter_mut().map(|rec| rec.observe(cfg, now)));
    let shutdown = s.shutdown.clone();
    let (results, interrupted) = until_interrupted(work, || shutdown.cancel()).await;
    printer.finish().await;
    let progress: Vec<String> = s
        .recs
        .iter()
        .map(|r| {
            let p = r.progress().snapshot();
            format!(
                "{}: {} jobs listed, {} of {} reads done",
                r.target().name,
                p.listed,
                p.reads_done,
                p.reads_queued
            )
        })
        .collect();
    if interrupted {
        return Err(Error::Interrupted(format!(
            "interrupted: no plan (it would be incomplete); nothing was changed, plan never writes\n{}",
            progress.join("\n")
        )));
    }
    let mut jobs = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok((found, _)) => jobs.extend(found),
            Err(e) => errors.push(e.to_string()),
        }
    }
    Ok((jobs, errors))
}

/// One job, from whichever target holds it.
async fn one_job(s: &Session, id: &str) -> Result<(Vec<ObservedJob>, Vec<String>), Error> {
    let mut errors = Vec::new();
    for rec in &s.recs {
        match rec.observe_job(&s.cfg, id).await {
            Ok(Some(o)) => return Ok((vec![o], errors)),
            Ok(None) => {}
            Err(e) => errors.push(format!("target {}: {e}", rec.target().name)),
        }
    }
    if errors.is_empty() {
        return Err(Error::NotFound(no_such_job(s, id)));
    }
    Ok((Vec::new(), errors))
}

fn no_such_job(s: &Session, id: &str) -> String {
    let targets: Vec<String> = s
        .recs
        .iter()
        .map(|r| {
            let t = r.target();
            format!("`{}` ({}, {})", t.name, t.account_id, t.region)
        })
        .collect();
    let mut msg = format!(
        "no such job in {} {}: {id}. Check the id (`aws s3control list-jobs --account-id ACCOUNT`), and that the job's account and region are a target of the config",
        if targets.len() == 1 { "target" } else { "any target:" },
        targets.join(", ")
    );
    for f in &s.failed {
        msg.push_str(&format!("\nFAILED: {f}"));
    }
    msg
}

/// `s3prio explain` against the live targets: the job is read with `DescribeJob` (and its tags),
/// never by listing the account.
pub async fn explain(
    args: &ExplainArgs,
    cfg: Config,
    overrides: &ClientOverrides,
) -> Result<String, Error> {
    let s = session(cfg, overrides).await?;
    let now = args.at.unwrap_or_else(Utc::now);
    let (jobs, errors) = one_job(&s, &args.job_id).await?;
    let Some(obs) = jobs.into_iter().next() else {
        return Err(Error::Targets(
            errors
                .iter()
                .map(|e| format!("FAILED: {e}"))
                .collect::<Vec<_>>()
                .join("\n"),
        ));
    };
    let policy = &s.cfg.policy;
    let baseline = obs.memory.map(|m| m.baseline).unwrap_or(obs.job.priority);
    let mut out = policy.explain(&obs.job, baseline, now).render_text();
    if let Some(m) = obs.memory {
        out.push_str(&format!(
            "\nremembered: baseline {}, last set {:?}, previous {:?}\n",
            m.baseline, m.last_set, m.prev_set
        ));
    }
    let planned = plan::plan(policy, std::slice::from_ref(&obs), now);
    if !planned.hands_off.is_empty() {
        out.push_str("\nhands off: the priority was changed by someone else; s3prio leaves it (reconcile.on_manual_change)\n");
    }
    if !policy.manages(obs.job.status) {
        out.push_str(&format!(
            "\nstatus {} is not managed (reconcile.managed_statuses): s3prio leaves this job alone\n",
            obs.job.status
        ));
    }
    Ok(out)
}
