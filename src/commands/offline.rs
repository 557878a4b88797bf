//! The offline commands: `check` (with its window calendar), `plan --jobs`, `explain --jobs`,
//! `schema`. They read files only; the clock is read here, at the edge, when `--at` / `--from`
//! is not given.

use std::path::Path;

use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};

use super::Error;
use crate::cli::{CheckArgs, ExplainArgs, OutputFormat, PlanArgs};
use crate::config::{self, Cadence, Config, ConfigError, Warning};
use crate::duration::format_duration;
use crate::plan;
use crate::policy::{CalendarEntry, CalendarEvent, Policy, TimeWindow, WallTime};
use crate::snapshot;

/// What `check` found in a valid config.
#[derive(Debug)]
pub struct CheckReport {
    /// For stdout: the one-line summary, then the calendar when asked for.
    pub output: String,
    /// For stderr, one line each.
    pub warnings: Vec<Warning>,
}

/// Validates the config: the one-line summary (and calendar) and the warnings on success.
pub fn check(args: &CheckArgs) -> Result<CheckReport, ConfigError> {
    let from = args.from.unwrap_or_else(Utc::now);
    let (cfg, warnings) = config::load_with_warnings(&args.config, from)?;
    let mut output = summary(&args.config.display().to_string(), &cfg);
    if args.calendar {
        output.push('\n');
        output.push_str(&calendar(
            &cfg.policy,
            from,
            from + ChronoDuration::days(i64::from(args.days)),
        ));
    }
    Ok(CheckReport { output, warnings })
}

/// Per window, everything that happens to it in `from..to`: when it opens and closes (local
/// time in its zone and UTC), its zone's DST shifts, excluded dates and ranges a skipped hour
/// swallows.
pub fn calendar(policy: &Policy, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let utc = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut out = format!("calendar from {} to {}\n", utc(from), utc(to));
    if policy.windows().is_empty() {
        out.push_str("(no windows)\n");
    }
    for (i, w) in policy.windows().iter().enumerate() {
        let users: Vec<&str> = policy
            .rules()
            .iter()
            .filter(|r| {
                let mut used = Vec::new();
                r.when.iter().for_each(|c| c.windows(&mut used));
                used.contains(&i)
            })
            .map(|r| r.name.as_str())
            .collect();
        let used = if users.is_empty() {
            "not used by any rule".to_string()
        } else {
            format!("used by {}", users.join(", "))
        };
        let excluded = if w.exclude_dates.is_empty() {
            String::new()
        } else {
            format!(" (excluding {} dates)", w.exclude_dates.len())
        };
        out.push_str(&format!(
            "\nwindow {} ({}): {}{excluded}; {used}\n",
            w.name,
            w.tz.name(),
            w.describe()
        ));
        let entries = w.calendar(from, to);
        if !entries.iter().any(|e| {
            matches!(
                e.event,
                CalendarEvent::Opens { .. } | CalendarEvent::Closes { .. }
            )
        }) {
            let state = if w.contains(from) { "open" } else { "closed" };
            out.push_str(&format!("  {state} throughout\n"));
        }
        for e in entries {
            let local = e.at.with_timezone(&w.tz).format("%a %Y-%m-%d %H:%M %Z");
            let what = describe_event(w, &e);
            out.push_str(&format!("  {local:<26} {}  {what}\n", utc(e.at)));
        }
    }
    out
}

fn describe_event(w: &TimeWindow, e: &CalendarEntry) -> String {
    let hm = |secs: u32| {
        let s = secs % 86_400;
        format!("{:02}:{:02}", s / 3600, (s % 3600) / 60)
    };
    let note = |wall: WallTime, secs: u32| match wall {
        WallTime::Normal => String::new(),
        WallTime::Repeated => format!(
            " [DST: {} comes twice tonight; this is the first]",
            hm(secs)
        ),
        WallTime::Skipped => format!(
            " [DST: {} is skipped tonight; this is the jump past it]",
            hm(secs)
        ),
    };
    match &e.event {
        CalendarEvent::Opens { range, wall, .. } => {
            format!("opens ({range}){}", note(*wall, range.start))
        }
        CalendarEvent::Closes { range, wall, .. } => {
            format!("closes ({range}){}", note(*wall, range.end))
        }
        CalendarEvent::ClockChange { before, after } => {
            let shift = i64::from(after - before);
            let amount = format_duration(std::time::Duration::from_secs(shift.unsigned_abs()));
            let was = e.at.naive_utc() + ChronoDuration::seconds(i64::from(*before));
            let was_zone = (e.at - ChronoDuration::seconds(1))
                .with_timezone(&w.tz)
                .format("%Z");
            let now = e.at.with_timezone(&w.tz).format("%H:%M %Z");
            format!(
                "DST: clocks go {} {amount}, {} {was_zone} -> {now}",
                if shift > 0 { "forward" } else { "back" },
                was.format("%H:%M"),
            )
        }
        CalendarEvent::Excluded { .. } => format!(
            "excluded date: {} does not open",
            w.ranges
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        CalendarEvent::Skipped { range, .. } => {
            format!("{range} does not open: it lies inside the skipped hour")
        }
    }
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
    let sets = if cfg.target_sets.is_empty() {
        String::new()
    } else {
        format!(
            ", {} ({}; listed from AWS Organizations when the daemon runs, shown by `plan`)",
            plural(cfg.target_sets.len(), "target set"),
            cfg.target_sets
                .iter()
                .map(|s| format!(
                    "{}: {} x {}",
                    s.name(),
                    match &s.set.scope {
                        crate::discovery::Scope::Organization => "every account".to_string(),
                        crate::discovery::Scope::Units { ou_ids, .. } =>
                            format!("accounts under {}", ou_ids.join(", ")),
                    },
                    plural(s.set.regions.len(), "region")
                ))
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    format!(
        "{origin}: OK: {} ({}){sets}, {}, {} ({deciding} deciding, {} clamp); reconcile {cadence}{}",
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
pub fn plan_snapshot(args: &PlanArgs, jobs_path: &Path) -> Result<String, Error> {
    let cfg = config::load(&args.config)?;
    let jobs = snapshot::load(jobs_path)?;
    let now = args.at.unwrap_or_else(Utc::now);
    let planned = plan::plan(&cfg.policy, &jobs, now);
    Ok(match args.format {
        OutputFormat::Table => format!(
            "{}\n{}",
            plan::render_table(&planned),
            plan::render_next_boundary(&cfg.policy, now)
        ),
        OutputFormat::Json => serde_json::to_string_pretty(&planned)
            .map_err(|e| Error::failed("rendering the plan as JSON", e))?,
    })
}

/// `explain --jobs SNAPSHOT JOB_ID`: every rule with each condition's result for one job.
pub fn explain_snapshot(args: &ExplainArgs, jobs_path: &Path) -> Result<String, Error> {
    let cfg = config::load(&args.config)?;
    let jobs = snapshot::load(jobs_path)?;
    let now = args.at.unwrap_or_else(Utc::now);
    let matching: Vec<_> = jobs.iter().filter(|o| o.job.id == args.job_id).collect();
    let observed = match matching.as_slice() {
        [one] => *one,
        [] => {
            return Err(Error::NotFound(format!(
                "job `{}` is not in {}",
                args.job_id,
                jobs_path.display()
            )))
        }
        many => {
            return Err(Error::Failed(format!(
                "job id `{}` is in {} targets of {}: ids must be unique for explain",
                args.job_id,
                many.len(),
                jobs_path.display()
            )))
        }
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
