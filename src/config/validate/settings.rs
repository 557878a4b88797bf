//! The daemon's own settings: `[reconcile]` (cadence, shares, tag refresh), `[baseline]`
//! (stores), `[http]` and `[log]`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::super::raw::{RawBaseline, RawHttp, RawLog, RawReconcile, StoreKind};
use super::super::{BaselineSettings, Cadence, HttpSettings, LogSettings, ReconcileSettings};
use super::{duration, opt_duration, VResult, P};
use crate::model::JobStatus;

pub(super) fn reconcile(p: &P, r: &RawReconcile) -> VResult<ReconcileSettings> {
    let cadence = match (&r.interval, &r.cron) {
        (Some(_), Some(_)) => {
            return Err(p.k("cron").key_err(
                "`interval` and `cron` are both set",
                Some("keep one: `interval = \"30s\"` or `cron = \"0 */5 * * * *\"`".to_string()),
            ))
        }
        (Some(i), None) => Cadence::Interval(duration(&p.k("interval"), i, true)?),
        (None, Some(c)) => Cadence::Cron(cron(&p.k("cron"), c)?),
        (None, None) => Cadence::Interval(Duration::from_secs(30)),
    };
    let managed_statuses = match &r.managed_statuses {
        None => JobStatus::non_terminal(),
        Some(v) if v.is_empty() => {
            return Err(p.k("managed_statuses").err("no status is managed: s3prio would change nothing", Some("list statuses such as [\"Active\", \"Suspended\"], or omit the key for every non-terminal status".to_string())))
        }
        Some(v) => {
            let mut v = v.clone();
            v.sort_unstable();
            v.dedup();
            v
        }
    };
    let max_changes_per_cycle = match r.max_changes_per_cycle {
        None => None,
        Some(n) if n >= 1 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        Some(n) => {
            return Err(p.k("max_changes_per_cycle").err(
                format!("{n} is not a positive number of changes"),
                Some("use 1 or more (use `dry_run = true` to make no change)".to_string()),
            ))
        }
    };
    let tags_ttl = opt_duration(&p.k("tags_ttl"), &r.tags_ttl, Duration::from_secs(600))?;
    let tags_ttl_max = opt_duration(
        &p.k("tags_ttl_max"),
        &r.tags_ttl_max,
        Duration::from_secs(4 * 3600).max(tags_ttl),
    )?;
    if tags_ttl_max < tags_ttl {
        return Err(p.k("tags_ttl_max").err(
            "`tags_ttl_max` is shorter than `tags_ttl`",
            Some("the refresh interval starts at tags_ttl and grows up to tags_ttl_max; make tags_ttl_max at least tags_ttl".to_string()),
        ));
    }
    Ok(ReconcileSettings {
        cadence,
        managed_statuses,
        dry_run: r.dry_run,
        max_changes_per_cycle,
        tags_ttl,
        tags_ttl_max,
        read_share: share(&p.k("read_share"), r.read_share, 0.5, 0.9)?,
        tags_refresh_share: share(&p.k("tags_refresh_share"), r.tags_refresh_share, 0.05, 1.0)?,
        shutdown_timeout: opt_duration(
            &p.k("shutdown_timeout"),
            &r.shutdown_timeout,
            Duration::from_secs(10),
        )?,
        on_manual_change: r.on_manual_change.unwrap_or_default(),
        ignore_tag: r
            .ignore_tag
            .clone()
            .unwrap_or_else(|| "s3prio/ignore".to_string()),
    })
}

/// A share of a target's pace: `default` when absent, else within 0..=`max`.
fn share(p: &P, v: Option<f64>, default: f64, max: f64) -> VResult<f64> {
    match v {
        None => Ok(default),
        Some(v) if v.is_finite() && (0.0..=max).contains(&v) => Ok(v),
        Some(v) => Err(p.err(
            format!("{v} is not a share between 0 and {max}"),
            Some(format!(
                "a fraction of the target's requests per second, e.g. {default}"
            )),
        )),
    }
}

/// Validates a 6-field (seconds first; optional 7th = year) cron expression with the parser
/// tokio-cron-scheduler uses.
fn cron(p: &P, expr: &str) -> VResult<String> {
    let help = || {
        Some("6 fields, seconds first, evaluated in UTC: \"SEC MIN HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK\", e.g. \"0 */5 * * * *\" (every 5 minutes)".to_string())
    };
    let fields = expr.split_whitespace().count();
    if !(6..=7).contains(&fields) {
        return Err(p.err(
            format!("cron expression `{expr}` has {fields} fields, expected 6"),
            help(),
        ));
    }
    // Built the way the daemon builds its schedule, so what passes here runs there.
    let mut job = tokio_cron_scheduler::JobBuilder::new()
        .with_timezone(chrono::Utc)
        .with_cron_job_type()
        .with_schedule(expr)
        .and_then(|b| b.with_run_sync(Box::new(|_, _| {})).build())
        .map_err(|_| p.err(format!("invalid cron expression `{expr}`"), help()))?;
    // The scheduler's next firing from now; 0 when there is none (a 30th of February, a year
    // that has passed).
    let next = job.job_data().map(|d| d.next_tick).unwrap_or(0);
    if next == 0 {
        return Err(p.err(
            format!("cron expression `{expr}` never fires"),
            Some("check the day of month against the month (e.g. no 30 February) and any year field; a cadence must fire, e.g. \"0 */5 * * * *\"".to_string()),
        ));
    }
    Ok(expr.to_string())
}

pub(super) fn baseline(p: &P, b: &RawBaseline) -> VResult<BaselineSettings> {
    let stores = b.store.clone().unwrap_or_else(|| vec![StoreKind::Tag]);
    let unique: HashSet<_> = stores.iter().collect();
    if unique.len() != stores.len() {
        return Err(p.k("store").err("a store is listed twice", None));
    }
    let has_file = stores.contains(&StoreKind::File);
    match (has_file, &b.state_file) {
        (true, None) => {
            return Err(p.k("store").err(
                "the \"file\" store needs a state file",
                Some("add `state_file = \"/var/lib/s3prio/state.json\"` to [baseline]".to_string()),
            ))
        }
        (false, Some(_)) => {
            return Err(p.k("state_file").key_err(
                "`state_file` is set but `store` does not include \"file\"",
                Some("add \"file\" to `store`, or remove `state_file`".to_string()),
            ))
        }
        _ => {}
    }
    let tag_prefix = b
        .tag_prefix
        .clone()
        .unwrap_or_else(|| "s3prio/".to_string());
    if tag_prefix.is_empty() || tag_prefix.starts_with("aws:") {
        return Err(p.k("tag_prefix").err(
            "invalid tag prefix",
            Some("use a non-empty prefix not starting with \"aws:\", e.g. \"s3prio/\"".to_string()),
        ));
    }
    Ok(BaselineSettings {
        stores,
        state_file: b.state_file.clone(),
        tag_prefix,
    })
}

pub(super) fn http(p: &P, h: &RawHttp) -> VResult<HttpSettings> {
    Ok(HttpSettings {
        listen: match &h.listen {
            None => SocketAddr::from(([127, 0, 0, 1], 9464)),
            Some(s) => s.parse().map_err(|_| {
                p.k("listen").err(
                    format!("`{s}` is not a socket address"),
                    Some("use IP:PORT, e.g. \"127.0.0.1:9464\" or \"0.0.0.0:9464\"".to_string()),
                )
            })?,
        },
        reconcile_token_file: match &h.reconcile_token_file {
            None => None,
            Some(f) if f.trim().is_empty() => {
                return Err(p.k("reconcile_token_file").err(
                    "the token file path is empty",
                    Some("a file holding one line, the token, e.g. \"/run/secrets/s3prio-reconcile-token\"; or remove the key".to_string()),
                ))
            }
            Some(f) => Some(PathBuf::from(f)),
        },
    })
}

pub(super) fn log(p: &P, l: &RawLog) -> VResult<LogSettings> {
    if let Some(level) = &l.level {
        tracing_subscriber::EnvFilter::try_new(level).map_err(|e| {
            p.k("level").err(
                format!("invalid log filter `{level}`: {e}"),
                Some("e.g. \"info\", \"debug\" or \"info,s3prio=debug\"".to_string()),
            )
        })?;
    }
    Ok(LogSettings {
        format: l.format.unwrap_or_default(),
        level: l.level.clone(),
    })
}
