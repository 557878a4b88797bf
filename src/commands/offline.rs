//! The offline commands: `check`, `plan --jobs`, `explain --jobs`, `schema`. They read files
//! only; the clock is read here, at the edge, when `--at` is not given.

use std::path::Path;

use anyhow::Context as _;
use chrono::Utc;

use crate::cli::{CheckArgs, ExplainArgs, OutputFormat, PlanArgs};
use crate::config::{self, duration::format_duration, Cadence, Config, ConfigError};
use crate::plan;
use crate::snapshot;

/// Validates the config; the one-line summary on success.
pub fn check(args: &CheckArgs) -> Result<String, ConfigError> {
    let cfg = config::load(&args.config)?;
    Ok(summary(&args.config.display().to_string(), &cfg))
}

/// The one-line summary `check` prints.
pub fn summary(origin: &str, cfg: &Config) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let policy = &cfg.policy;
    let deciding = policy.rules().iter().filter(|r| r.is_deciding()).count();
    let cadence = match &cfg.reconcile.cadence {
        Cadence::Interval(d) => format!("every {}", format_duration(*d)),
        Cadence::Cron(c) => format!("cron \"{c}\" (UTC)"),
    };
    format!(
        "{origin}: OK: {} ({}), {}, {} ({deciding} deciding, {} clamp); reconcile {cadence}{}",
        plural(cfg.targets.len(), "target"),
        cfg.targets
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        plural(policy.window_count(), "window"),
        plural(policy.rule_count(), "rule"),
        policy.rule_count() - deciding,
        if cfg.reconcile.dry_run {
            ", dry-run"
        } else {
            ""
        },
    )
}

/// `plan --jobs SNAPSHOT`: the changes the policy would make to the snapshot's jobs.
pub fn plan_snapshot(args: &PlanArgs, jobs_path: &Path) -> anyhow::Result<String> {
    let cfg = config::load(&args.config)?;
    let jobs = snapshot::load(jobs_path)?;
    let now = args.at.unwrap_or_else(Utc::now);
    let planned = plan::plan(&cfg.policy, &jobs, now);
    Ok(match args.format {
        OutputFormat::Table => plan::render_table(&planned),
        OutputFormat::Json => {
            serde_json::to_string_pretty(&planned).context("rendering the plan as JSON")?
        }
    })
}

/// `explain --jobs SNAPSHOT JOB_ID`: every rule with each condition's result for one job.
pub fn explain_snapshot(args: &ExplainArgs, jobs_path: &Path) -> anyhow::Result<String> {
    let cfg = config::load(&args.config)?;
    let jobs = snapshot::load(jobs_path)?;
    let now = args.at.unwrap_or_else(Utc::now);
    let matching: Vec<_> = jobs.iter().filter(|o| o.job.id == args.job_id).collect();
    let observed = match matching.as_slice() {
        [one] => *one,
        [] => anyhow::bail!("job `{}` is not in {}", args.job_id, jobs_path.display()),
        many => anyhow::bail!(
            "job id `{}` is in {} targets of {}: ids must be unique for explain",
            args.job_id,
            many.len(),
            jobs_path.display()
        ),
    };
    let baseline = observed
        .memory
        .map_or(observed.job.priority, |m| m.baseline);
    let mut text = cfg
        .policy
        .explain(&observed.job, baseline, now)
        .render_text();
    let planned = plan::plan(&cfg.policy, std::slice::from_ref(observed), now);
    if let Some(h) = planned.hands_off.first() {
        text.push_str(&format!(
            "note: hands-off: priority {} was not set by s3prio (last set {}); on_manual_change = \"respect\" leaves it\n",
            h.observed,
            h.last_set.map_or_else(|| "-".to_string(), |v| v.to_string())
        ));
    }
    match planned.changes.first() {
        Some(c) => text.push_str(&format!("plan: change {} -> {}\n", c.from, c.to)),
        None => text.push_str("plan: no change\n"),
    }
    Ok(text)
}

/// `schema`: the JSON Schema of the config file, pretty-printed.
pub fn schema() -> String {
    serde_json::to_string_pretty(&config::json_schema())
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
