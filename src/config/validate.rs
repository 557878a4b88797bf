//! Raw config -> validated `Config` + compiled `Policy`. Each error carries the key path of the
//! offending value; `span_of` maps it back to the source text.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::SocketAddr;
use std::ops::Range;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use chrono_tz::Tz;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::error::{did_you_mean, display_path, PathSeg};
use super::raw::*;
use super::*;
use crate::duration::parse_duration;
use crate::model::{JobStatus, MAX_PRIORITY, OPERATION_NAMES};
use crate::policy::{
    Action, Bounds, Condition, Glob, PlannerSettings, Policy, Rule, TagKey, TimeRange, TimeWindow,
    ValueAction,
};

/// A validation error at a key path.
#[derive(Debug)]
pub(super) struct SemErr {
    pub path: Vec<PathSeg>,
    /// Point at the key rather than the value (e.g. for a key that must not be there).
    pub at_key: bool,
    pub message: String,
    pub help: Option<String>,
}

type VResult<T> = Result<T, SemErr>;

/// A key path under construction: `P::root().k("rules").i(2).k("action")`.
#[derive(Clone, Debug, Default)]
pub(super) struct P(Vec<PathSeg>);

impl P {
    pub(super) fn root() -> P {
        P(Vec::new())
    }
    pub(super) fn k(&self, key: &str) -> P {
        let mut v = self.0.clone();
        v.push(PathSeg::Key(key.to_string()));
        P(v)
    }
    pub(super) fn i(&self, index: usize) -> P {
        let mut v = self.0.clone();
        v.push(PathSeg::Index(index));
        P(v)
    }
    pub(super) fn err(
        &self,
        message: impl Into<String>,
        help: impl Into<Option<String>>,
    ) -> SemErr {
        SemErr {
            path: self.0.clone(),
            at_key: false,
            message: message.into(),
            help: help.into(),
        }
    }
    fn key_err(&self, message: impl Into<String>, help: impl Into<Option<String>>) -> SemErr {
        SemErr {
            at_key: true,
            ..self.err(message, help)
        }
    }
}

fn duration(p: &P, s: &str, positive: bool) -> VResult<Duration> {
    let d = parse_duration(s).map_err(|e| p.err(format!("invalid duration: {e}"), None))?;
    if positive && d.is_zero() {
        return Err(p.err(
            "duration must be longer than zero",
            Some("e.g. \"30s\"".to_string()),
        ));
    }
    Ok(d)
}

fn opt_duration(p: &P, s: &Option<String>, default: Duration) -> VResult<Duration> {
    s.as_deref().map_or(Ok(default), |s| duration(p, s, true))
}

fn priority(p: &P, v: i64) -> VResult<i32> {
    i32::try_from(v).ok().filter(|v| *v >= 0).ok_or_else(|| {
        p.err(
            format!("priority {v} is out of range"),
            Some(format!("priorities are integers from 0 to {MAX_PRIORITY}")),
        )
    })
}

fn account_id(p: &P, s: &str) -> VResult<()> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(p.err(
            format!("`{s}` is not an AWS account id"),
            Some(
                "an account id is exactly 12 digits, written as a string: \"123456789012\""
                    .to_string(),
            ),
        ))
    }
}

pub(super) fn validate(raw: &RawConfig) -> VResult<Config> {
    let root = P::root();
    let baseline = baseline_settings(&root.k("baseline"), &raw.baseline)?;
    let reconcile = reconcile_settings(&root.k("reconcile"), &raw.reconcile)?;
    let http = HttpSettings {
        listen: match &raw.http.listen {
            None => SocketAddr::from(([127, 0, 0, 1], 9464)),
            Some(s) => s.parse().map_err(|_| {
                root.k("http").k("listen").err(
                    format!("`{s}` is not a socket address"),
                    Some("use IP:PORT, e.g. \"127.0.0.1:9464\" or \"0.0.0.0:9464\"".to_string()),
                )
            })?,
        },
        reconcile_token_file: match &raw.http.reconcile_token_file {
            None => None,
            Some(f) if f.trim().is_empty() => {
                return Err(root.k("http").k("reconcile_token_file").err(
                    "the token file path is empty",
                    Some("a file holding one line, the token, e.g. \"/run/secrets/s3prio-reconcile-token\"; or remove the key".to_string()),
                ))
            }
            Some(f) => Some(PathBuf::from(f)),
        },
    };
    if let Some(level) = &raw.log.level {
        tracing_subscriber::EnvFilter::try_new(level).map_err(|e| {
            root.k("log").k("level").err(
                format!("invalid log filter `{level}`: {e}"),
                Some("e.g. \"info\", \"debug\" or \"info,s3prio=debug\"".to_string()),
            )
        })?;
    }
    let log = LogSettings {
        format: raw.log.format.unwrap_or_default(),
        level: raw.log.level.clone(),
    };
    let targets = targets(&root, &raw.targets)?;
    let (windows, window_index) = windows(&root.k("windows"), &raw.windows)?;
    let rules = rules(
        &root.k("rules"),
        &raw.rules,
        &window_index,
        baseline.stores.is_empty(),
    )?;
    let settings = PlannerSettings {
        managed_statuses: reconcile.managed_statuses.clone(),
        on_manual_change: reconcile.on_manual_change,
        max_changes_per_cycle: reconcile.max_changes_per_cycle,
        ignore_tag: reconcile.ignore_tag.clone(),
    };
    Ok(Config {
        reconcile,
        baseline,
        http,
        log,
        targets,
        policy: Arc::new(Policy::new(rules, windows, settings)),
    })
}

fn reconcile_settings(p: &P, r: &RawReconcile) -> VResult<ReconcileSettings> {
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

/// Why `url` cannot serve as an S3 Control endpoint, if it cannot. Strict on purpose: the SDK
/// would accept some of what is refused here and fail on every call instead.
fn endpoint_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("it must start with http:// or https://")?;
    if let Some(c) = rest.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!("{c:?} is not allowed in a URL"));
    }
    if rest.contains(['?', '#']) {
        return Err("an endpoint has no query or fragment".into());
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err(
            "credentials in the URL are not supported; use the AWS credential chain".into(),
        );
    }
    if let Some(c) = path.chars().find(|c| "\"<>\\^`{|}".contains(*c)) {
        return Err(format!("{c:?} is not allowed in a URL path"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (ip, after) = v6
            .split_once(']')
            .ok_or("an IPv6 host needs a closing `]`")?;
        ip.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("`{ip}` is not an IPv6 address"))?;
        match after {
            "" => (ip, None),
            p => (
                ip,
                Some(p.strip_prefix(':').ok_or("expected `:PORT` after `]`")?),
            ),
        }
    } else {
        let (h, p) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if !h.is_empty() {
            hostname(h)?;
        }
        (h, p)
    };
    if host.is_empty() {
        return Err("it has no host".into());
    }
    if let Some(port) = port {
        if !(port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|n| n > 0)) {
            return Err(format!("`{port}` is not a port (1 to 65535)"));
        }
    }
    Ok(())
}

/// A DNS name or an IPv4 address.
fn hostname(h: &str) -> Result<(), String> {
    let labels: Vec<&str> = h.split('.').collect();
    if labels
        .iter()
        .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
    {
        return h
            .parse::<std::net::Ipv4Addr>()
            .map(|_| ())
            .map_err(|_| format!("`{h}` is not an IPv4 address"));
    }
    let ok = h.len() <= 253
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("`{h}` is not a host name"))
    }
}

fn baseline_settings(p: &P, b: &RawBaseline) -> VResult<BaselineSettings> {
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

fn targets(root: &P, raw: &[RawTarget]) -> VResult<Vec<Target>> {
    if raw.is_empty() {
        return Err(root.err(
            "no targets",
            Some("add at least one [[targets]] table with account_id and region".to_string()),
        ));
    }
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, t) in raw.iter().enumerate() {
        let p = root.k("targets").i(i);
        account_id(&p.k("account_id"), &t.account_id)?;
        let region_ok = !t.region.is_empty()
            && t.region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return Err(p.k("region").err(
                format!("`{}` is not an AWS region", t.region),
                Some("e.g. \"us-east-1\"".to_string()),
            ));
        }
        if let Some(arn) = &t.role_arn {
            if !arn.starts_with("arn:") || !arn.contains(":role/") {
                return Err(p.k("role_arn").err(
                    format!("`{arn}` is not an IAM role ARN"),
                    Some("e.g. \"arn:aws:iam::123456789012:role/s3prio\"".to_string()),
                ));
            }
        }
        if let Some(url) = &t.endpoint_url {
            endpoint_url(url).map_err(|why| {
                p.k("endpoint_url").err(
                    format!("`{url}` is not a usable endpoint URL: {why}"),
                    Some("scheme, host and optional port and path, e.g. \"http://127.0.0.1:9000\" or \"https://s3-control.vpce.example.com\"".to_string()),
                )
            })?;
        }
        let name = t
            .name
            .clone()
            .unwrap_or_else(|| format!("{}/{}", t.account_id, t.region));
        if !names.insert(name.clone()) {
            let at = if t.name.is_some() {
                p.k("name")
            } else {
                p.k("region")
            };
            return Err(at.err(
                format!("duplicate target `{name}`"),
                Some(
                    "target names (default ACCOUNT/REGION) must be unique; give one a `name`"
                        .to_string(),
                ),
            ));
        }
        let rl = t.rate_limit.as_ref();
        let rate = |key: &str, v: f64, max: f64, why: &str| -> VResult<f64> {
            if v.is_finite() && (MIN_REQUESTS_PER_SECOND..=max).contains(&v) {
                Ok(v)
            } else {
                Err(p.k("rate_limit").k(key).err(
                    if v.is_finite() && v > 0.0 {
                        format!("{v} requests per second is outside what the pace can keep ({MIN_REQUESTS_PER_SECOND} to {max})")
                    } else {
                        format!("{v} is not a positive rate")
                    },
                    Some(format!("requests per second from {MIN_REQUESTS_PER_SECOND} (one call every 5 s) to {max} ({why}), e.g. 10 or 0.5")),
                ))
            }
        };
        let requests_per_second = rate(
            "requests_per_second",
            rl.and_then(|r| r.requests_per_second).unwrap_or(10.0),
            MAX_REQUESTS_PER_SECOND,
            "its burst holding the calls of 2 ms",
        )?;
        let write_requests_per_second = rl
            .and_then(|r| r.write_requests_per_second)
            .map(|v| {
                rate(
                    "write_requests_per_second",
                    v,
                    MAX_WRITE_REQUESTS_PER_SECOND,
                    "the write pace sends one call per millisecond timer tick at most",
                )
            })
            .transpose()?;
        let burst = rl.and_then(|r| r.burst).unwrap_or(10);
        let burst = u32::try_from(burst)
            .ok()
            .filter(|b| (1..=MAX_BURST).contains(b))
            .ok_or_else(|| {
                p.k("rate_limit").k("burst").err(
                    format!("burst {burst} is out of range"),
                    Some(format!("a whole number of requests from 1 to {MAX_BURST}; the bucket never holds more than one second of requests at the current pace")),
                )
            })?;
        let least = min_burst(requests_per_second);
        if burst < least {
            return Err(p.k("rate_limit").k("burst").err(
                format!("burst {burst} is too small for {requests_per_second} requests per second"),
                Some(format!(
                    "at least {least}: the calls of {} ms, so a late timer tick costs no pace",
                    MIN_BURST_WINDOW.as_millis()
                )),
            ));
        }
        let bo = t.backoff.as_ref();
        let bp = p.k("backoff");
        let base = opt_duration(
            &bp.k("base"),
            &bo.and_then(|b| b.base.clone()),
            Duration::from_millis(100),
        )?;
        let max_delay = opt_duration(
            &bp.k("max_delay"),
            &bo.and_then(|b| b.max_delay.clone()),
            Duration::from_secs(20),
        )?;
        if max_delay < base {
            return Err(bp
                .k("max_delay")
                .err("max_delay is shorter than base", None));
        }
        let attempts = bo.and_then(|b| b.max_attempts).unwrap_or(8);
        let max_attempts = u32::try_from(attempts)
            .ok()
            .filter(|a| (1..=100).contains(a))
            .ok_or_else(|| {
                bp.k("max_attempts").err(
                    format!("{attempts} attempts is out of range"),
                    Some("1 to 100 (1 = no retry)".to_string()),
                )
            })?;
        out.push(Target {
            name,
            account_id: t.account_id.clone(),
            region: t.region.clone(),
            role_arn: t.role_arn.clone(),
            endpoint_url: t.endpoint_url.clone(),
            rate_limit: RateLimit {
                requests_per_second,
                burst,
                write_requests_per_second,
            },
            backoff: Backoff {
                base,
                max_delay,
                max_attempts,
            },
            request_timeout: opt_duration(
                &p.k("request_timeout"),
                &t.request_timeout,
                Duration::from_secs(10),
            )?,
        });
    }
    Ok(out)
}

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const DAY_FULL: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn day(s: &str) -> Option<usize> {
    let s = s.trim();
    (0..7).find(|&i| DAY_NAMES[i].eq_ignore_ascii_case(s) || DAY_FULL[i].eq_ignore_ascii_case(s))
}

/// What a word for a group of days (not a day name) most likely means.
enum DayGroup {
    Span(&'static str),
    Every,
}

fn day_group(word: &str) -> Option<DayGroup> {
    let w: String = word
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect::<String>()
        .to_lowercase();
    match w.as_str() {
        "weekday" | "weekdays" | "workday" | "workdays" | "workweek" | "businessday"
        | "businessdays" | "monfri" | "mondayfriday" | "mondaytofriday" => {
            Some(DayGroup::Span("Mon-Fri"))
        }
        "weekend" | "weekends" | "satsun" | "saturdaysunday" => Some(DayGroup::Span("Sat-Sun")),
        "daily" | "everyday" | "all" | "alldays" | "any" | "anyday" => Some(DayGroup::Every),
        _ => None,
    }
}

fn days(p: &P, list: &Option<Vec<String>>) -> VResult<[bool; 7]> {
    let Some(list) = list else {
        return Ok([true; 7]);
    };
    if list.is_empty() {
        return Err(p.err(
            "no days: the window would never open",
            Some("list days such as [\"Mon-Fri\"] or omit `days` for every day".to_string()),
        ));
    }
    let mut out = [false; 7];
    for (i, s) in list.iter().enumerate() {
        let bad = || {
            const DAYS: &str =
                "days are Mon, Tue, Wed, Thu, Fri, Sat, Sun, or a span such as \"Mon-Fri\"";
            let help = match day_group(s) {
                Some(DayGroup::Span(span)) => format!("did you mean \"{span}\"? {DAYS}"),
                Some(DayGroup::Every) => format!("omit `days` for every day; {DAYS}"),
                None => match did_you_mean(s, DAY_NAMES.iter().chain(DAY_FULL.iter()).copied()) {
                    Some(h) => format!("did you mean `{h}`? {DAYS}"),
                    None => DAYS.to_string(),
                },
            };
            p.i(i)
                .err(format!("`{s}` is not a day of the week"), Some(help))
        };
        match s.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a).ok_or_else(bad)?, day(b).ok_or_else(bad)?);
                // A span wraps around the week: "Fri-Mon" is Fri, Sat, Sun, Mon.
                let mut d = a;
                loop {
                    out[d] = true;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => out[day(s).ok_or_else(bad)?] = true,
        }
    }
    Ok(out)
}

fn windows(
    p: &P,
    raw: &BTreeMap<String, RawWindow>,
) -> VResult<(Vec<TimeWindow>, BTreeMap<String, usize>)> {
    let mut out = Vec::with_capacity(raw.len());
    let mut index = BTreeMap::new();
    for (name, w) in raw {
        let wp = p.k(name);
        let tz = Tz::from_str(&w.timezone).map_err(|_| {
            let hint = did_you_mean(&w.timezone, chrono_tz::TZ_VARIANTS.iter().map(|t| t.name()));
            wp.k("timezone").err(
                format!("unknown time zone `{}`", w.timezone),
                Some(match hint {
                    Some(h) => format!("did you mean `{h}`? use an IANA time zone name"),
                    None => "use an IANA time zone name such as \"America/New_York\", \"Europe/Berlin\" or \"UTC\"".to_string(),
                }),
            )
        })?;
        let days = days(&wp.k("days"), &w.days)?;
        if w.ranges.is_empty() {
            return Err(wp.k("ranges").err(
                "no ranges: the window would never open",
                Some("add a range such as \"09:00-17:00\"".to_string()),
            ));
        }
        let mut ranges: Vec<TimeRange> = Vec::with_capacity(w.ranges.len());
        for (i, r) in w.ranges.iter().enumerate() {
            let rp = wp.k("ranges").i(i);
            let range = TimeRange::parse(r).map_err(|e| rp.err(format!("invalid time range: {e}"), Some("ranges are \"HH:MM-HH:MM\" in local time; an end before the start crosses midnight (\"22:00-06:00\")".to_string())))?;
            if let Some(j) = ranges.iter().position(|o| o.overlaps_on(&range, &days)) {
                return Err(rp.err(
                    format!("range `{r}` overlaps `{}`", w.ranges[j]),
                    Some("merge the ranges or make them disjoint".to_string()),
                ));
            }
            ranges.push(range);
        }
        let mut exclude_dates = BTreeSet::new();
        for (i, d) in w.exclude_dates.iter().enumerate() {
            let date = NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|e| {
                wp.k("exclude_dates").i(i).err(
                    format!("`{d}` is not a date ({e})"),
                    Some("dates are \"YYYY-MM-DD\" strings, e.g. \"2026-12-25\"".to_string()),
                )
            })?;
            exclude_dates.insert(date);
        }
        index.insert(name.clone(), out.len());
        out.push(TimeWindow {
            name: name.clone(),
            tz,
            days,
            ranges,
            exclude_dates,
        });
    }
    Ok((out, index))
}

fn rules(
    p: &P,
    raw: &[RawRule],
    windows: &BTreeMap<String, usize>,
    no_store: bool,
) -> VResult<Vec<Rule>> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let rp = p.i(i);
        if r.name.trim().is_empty() {
            return Err(rp.k("name").err(
                "empty rule name",
                Some("give every rule a short unique name".to_string()),
            ));
        }
        if let Some(first) = seen.insert(r.name.as_str(), i) {
            return Err(rp.k("name").err(
                format!("duplicate rule name `{}` (also rules[{first}])", r.name),
                Some("rule names must be unique: they label plans and metrics".to_string()),
            ));
        }
        let when = match &r.when {
            None => Vec::new(),
            Some(c) => conditions(&rp.k("when"), c, windows)?,
        };
        let action = action(&rp.k("action"), &r.action, no_store)?;
        out.push(Rule {
            name: r.name.clone(),
            when,
            action,
        });
    }
    Ok(out)
}

fn non_empty<T>(p: &P, v: &[T], what: &str) -> VResult<()> {
    if v.is_empty() {
        Err(p.err(
            format!("empty {what}: this condition can never hold"),
            Some("list at least one value, or remove the key".to_string()),
        ))
    } else {
        Ok(())
    }
}

fn glob(p: &P, s: &str) -> VResult<Glob> {
    Glob::new(s).map_err(|e| p.err(e, None))
}

fn bounds<T: Copy + PartialOrd + std::fmt::Display>(
    p: &P,
    b: &RawBounds<T>,
    lo: T,
    hi: T,
    unit: &str,
) -> VResult<Bounds<T>> {
    if b.min.is_none() && b.max.is_none() {
        return Err(p.err(
            "give `min`, `max` or both",
            Some(format!("e.g. {{ min = {lo} }}")),
        ));
    }
    for (key, v) in [("min", b.min), ("max", b.max)] {
        if let Some(v) = v {
            if !(v >= lo && v <= hi) {
                return Err(p.k(key).err(
                    format!("{v} is out of range"),
                    Some(format!("{unit} from {lo} to {hi}")),
                ));
            }
        }
    }
    if let (Some(a), Some(z)) = (b.min, b.max) {
        if a > z {
            return Err(p
                .k("min")
                .err(format!("min {a} is greater than max {z}"), None));
        }
    }
    Ok(Bounds {
        min: b.min,
        max: b.max,
    })
}

/// Compiles a condition table to a list (all must hold), cheap conditions first.
fn conditions(
    p: &P,
    c: &RawCondition,
    windows: &BTreeMap<String, usize>,
) -> VResult<Vec<Condition>> {
    let mut out = Vec::new();
    if let Some(v) = &c.status {
        non_empty(&p.k("status"), v, "status list")?;
        out.push(Condition::Status(v.clone()));
    }
    if let Some(v) = &c.operation {
        let op = p.k("operation");
        non_empty(&op, v, "operation list")?;
        for (i, o) in v.iter().enumerate() {
            if !OPERATION_NAMES.contains(&o.as_str()) {
                let hint = did_you_mean(o, OPERATION_NAMES);
                return Err(op.i(i).err(
                    format!("unknown operation `{o}`"),
                    Some(match hint {
                        Some(h) => format!(
                            "did you mean `{h}`? operations: {}",
                            OPERATION_NAMES.join(", ")
                        ),
                        None => format!("operations: {}", OPERATION_NAMES.join(", ")),
                    }),
                ));
            }
        }
        out.push(Condition::Operation(v.clone()));
    }
    if let Some(v) = &c.account {
        non_empty(&p.k("account"), v, "account list")?;
        for (i, a) in v.iter().enumerate() {
            account_id(&p.k("account").i(i), a)?;
        }
        out.push(Condition::Account(v.clone()));
    }
    if let Some(v) = &c.region {
        non_empty(&p.k("region"), v, "region list")?;
        out.push(Condition::Region(v.clone()));
    }
    if let Some(b) = &c.priority {
        let b = bounds(
            &p.k("priority"),
            b,
            0,
            i64::from(MAX_PRIORITY),
            "priorities",
        )?;
        let narrow = |v: Option<i64>| v.map(|v| i32::try_from(v).unwrap_or(MAX_PRIORITY));
        out.push(Condition::Priority(Bounds {
            min: narrow(b.min),
            max: narrow(b.max),
        }));
    }
    if let Some(b) = &c.percent_done {
        out.push(Condition::PercentDone(bounds(
            &p.k("percent_done"),
            b,
            0.0,
            100.0,
            "percent",
        )?));
    }
    if let Some(b) = &c.total_tasks {
        out.push(Condition::TotalTasks(bounds(
            &p.k("total_tasks"),
            b,
            0,
            i64::MAX,
            "task counts",
        )?));
    }
    if let Some(s) = &c.older_than {
        out.push(Condition::OlderThan(duration(
            &p.k("older_than"),
            s,
            false,
        )?));
    }
    if let Some(s) = &c.newer_than {
        out.push(Condition::NewerThan(duration(&p.k("newer_than"), s, true)?));
    }
    for (key, name, inside) in [
        ("in_window", &c.in_window, true),
        ("outside_window", &c.outside_window, false),
    ] {
        if let Some(n) = name {
            let Some(&i) = windows.get(n) else {
                let hint = did_you_mean(n, windows.keys().map(String::as_str));
                let known = if windows.is_empty() {
                    "no windows are defined; add a [windows.NAME] table".to_string()
                } else {
                    format!(
                        "defined windows: {}",
                        windows.keys().cloned().collect::<Vec<_>>().join(", ")
                    )
                };
                return Err(p.k(key).err(
                    format!("unknown window `{n}`"),
                    Some(match hint {
                        Some(h) => format!("did you mean `{h}`? {known}"),
                        None => known,
                    }),
                ));
            };
            out.push(if inside {
                Condition::InWindow(i, n.clone())
            } else {
                Condition::OutsideWindow(i, n.clone())
            });
        }
    }
    if let Some(s) = &c.description_glob {
        out.push(Condition::DescriptionGlob(glob(
            &p.k("description_glob"),
            s,
        )?));
    }
    if let Some(s) = &c.description_regex {
        let re = regex::Regex::new(s).map_err(|e| {
            p.k("description_regex").err(
                format!(
                    "invalid regular expression: {}",
                    e.to_string().lines().last().unwrap_or("")
                ),
                Some(
                    "Rust regex syntax; in TOML prefer literal strings: '^backup-\\d+$'"
                        .to_string(),
                ),
            )
        })?;
        out.push(Condition::DescriptionRegex(re));
    }
    let tag_key = |kp: &P, k: &str| -> VResult<()> {
        if k.is_empty() {
            Err(kp.key_err("empty tag key", None))
        } else {
            Ok(())
        }
    };
    if let Some(m) = &c.tags {
        for (k, v) in m {
            tag_key(&p.k("tags").k(k), k)?;
            out.push(Condition::TagEquals(TagKey::new(k.clone()), v.clone()));
        }
    }
    if let Some(m) = &c.tags_in {
        for (k, v) in m {
            let kp = p.k("tags_in").k(k);
            tag_key(&kp, k)?;
            non_empty(&kp, v, "value list")?;
            out.push(Condition::TagIn(TagKey::new(k.clone()), v.clone()));
        }
    }
    if let Some(m) = &c.tags_glob {
        for (k, v) in m {
            let kp = p.k("tags_glob").k(k);
            tag_key(&kp, k)?;
            out.push(Condition::TagGlob(TagKey::new(k.clone()), glob(&kp, v)?));
        }
    }
    for (key, list, exists) in [
        ("tags_exist", &c.tags_exist, true),
        ("tags_absent", &c.tags_absent, false),
    ] {
        if let Some(v) = list {
            non_empty(&p.k(key), v, "tag key list")?;
            for (i, k) in v.iter().enumerate() {
                tag_key(&p.k(key).i(i), k)?;
                out.push(if exists {
                    Condition::TagExists(TagKey::new(k.clone()))
                } else {
                    Condition::TagAbsent(TagKey::new(k.clone()))
                });
            }
        }
    }
    if let Some(s) = &c.role_arn {
        out.push(Condition::RoleArn(glob(&p.k("role_arn"), s)?));
    }
    for (key, list, any) in [("any", &c.any, true), ("all", &c.all, false)] {
        if let Some(v) = list {
            if v.is_empty() {
                return Err(p.k(key).err(
                    if any {
                        "an empty `any` can never hold: none of no conditions holds"
                    } else {
                        "an empty `all` is always true; remove it"
                    },
                    Some(if any {
                        "list conditions, e.g. `any = [{ tags = { tier = \"gold\" } }, { total_tasks = { min = 1000 } }]`, or remove the key".to_string()
                    } else {
                        "remove `all = []`, or list conditions, e.g. `all = [{ status = [\"Ready\"] }]`".to_string()
                    }),
                ));
            }
            let mut subs = Vec::with_capacity(v.len());
            for (i, sub) in v.iter().enumerate() {
                subs.push(group(conditions(&p.k(key).i(i), sub, windows)?));
            }
            out.push(if any {
                Condition::Any(subs)
            } else {
                Condition::All(subs)
            });
        }
    }
    if let Some(sub) = &c.not {
        out.push(Condition::Not(Box::new(Condition::All(conditions(
            &p.k("not"),
            sub,
            windows,
        )?))));
    }
    Ok(out)
}

/// One sub-condition table as one condition: a single condition stands alone, several are `all`.
fn group(mut v: Vec<Condition>) -> Condition {
    if v.len() == 1 {
        v.remove(0)
    } else {
        Condition::All(v)
    }
}

fn action(p: &P, a: &RawAction, no_store: bool) -> VResult<Action> {
    let mut values: Vec<(&str, ValueAction)> = Vec::new();
    if let Some(n) = a.set {
        values.push(("set", ValueAction::Set(priority(&p.k("set"), n)?)));
    }
    if let Some(n) = a.raise {
        values.push(("raise", ValueAction::Raise(priority(&p.k("raise"), n)?)));
    }
    if let Some(n) = a.lower {
        values.push(("lower", ValueAction::Lower(priority(&p.k("lower"), n)?)));
    }
    if let Some(b) = &a.age_boost {
        let bp = p.k("age_boost");
        values.push((
            "age_boost",
            ValueAction::AgeBoost {
                every: duration(&bp.k("every"), &b.every, true)?,
                by: priority(&bp.k("by"), b.by)?,
                max: priority(&bp.k("max"), b.max)?,
            },
        ));
    }
    match a.baseline {
        Some(true) => values.push(("baseline", ValueAction::Baseline)),
        Some(false) => {
            return Err(p.k("baseline").key_err(
                "`baseline = false` has no effect",
                Some(
                    "write `baseline = true` to keep jobs at their baseline, or remove the key"
                        .to_string(),
                ),
            ))
        }
        None => {}
    }
    if values.len() > 1 {
        let names: Vec<&str> = values.iter().map(|v| v.0).collect();
        return Err(p.k(values[1].0).key_err(
            format!("an action has one value, found {}", names.join(" and ")),
            Some("use one of set / raise / lower / age_boost / baseline; add at_least / at_most for bounds, or split into two rules".to_string()),
        ));
    }
    let value = values.first().map(|v| v.1);
    let at_least = a
        .at_least
        .map(|n| priority(&p.k("at_least"), n))
        .transpose()?;
    let at_most = a
        .at_most
        .map(|n| priority(&p.k("at_most"), n))
        .transpose()?;
    if value.is_none() && at_least.is_none() && at_most.is_none() {
        return Err(p.err(
            "empty action",
            Some(
                "give one of set / raise / lower / age_boost / baseline, and/or at_least / at_most"
                    .to_string(),
            ),
        ));
    }
    if let (Some(lo), Some(hi)) = (at_least, at_most) {
        if lo > hi {
            return Err(p
                .k("at_least")
                .err(format!("at_least {lo} is greater than at_most {hi}"), None));
        }
    }
    if let (Some((key, v)), true) = (values.first(), no_store) {
        if v.is_relative() {
            return Err(p.k(key).key_err(
                format!("`{key}` is relative to the job's baseline, but no baseline store is enabled"),
                Some("enable a store in [baseline] (store = [\"tag\"] or [\"file\"]), or use an absolute `set`".to_string()),
            ));
        }
    }
    Ok(Action {
        value,
        at_least,
        at_most,
    })
}

/// Help for a serde / TOML syntax error message; "did you mean" for misspelt keys and values,
/// and for a value of the wrong type, the key path and an example. `path` is where the error
/// is (empty when unknown).
pub(super) fn explain_serde_error(message: &str, path: &[PathSeg]) -> (String, Option<String>) {
    let message = message.trim().to_string();
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        if let Some(explained) = explain_type_error(rest, path) {
            return explained;
        }
    }
    let ticked = |s: &str| -> Vec<String> {
        s.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    for kind in ["unknown field", "unknown variant"] {
        if let Some(rest) = message.strip_prefix(kind) {
            let words = ticked(rest);
            let (Some(bad), expected) = (words.first(), words.get(1..).unwrap_or_default()) else {
                break;
            };
            let what = if kind == "unknown field" {
                "keys"
            } else {
                "values"
            };
            let allowed = if expected.is_empty() {
                format!("no {what} are allowed here")
            } else {
                format!("allowed {what}: {}", expected.join(", "))
            };
            let help = match did_you_mean(bad, expected.iter().map(String::as_str)) {
                Some(h) => format!("did you mean `{h}`? {allowed}"),
                None => allowed,
            };
            let message = message
                .split(", expected")
                .next()
                .unwrap_or(&message)
                .to_string();
            return (message, Some(help));
        }
    }
    let help = if message.starts_with("invalid type") && message.contains("expected a string") {
        Some("write this value as a quoted string".to_string())
    } else if let Some(rest) = message.strip_prefix("missing field") {
        ticked(rest)
            .first()
            .map(|f| format!("add `{f} = ...` to this table"))
    } else {
        None
    };
    (message, help)
}

/// `found, expected what` (serde's "invalid type" text) as "`path` must be ..., e.g. ...".
fn explain_type_error(rest: &str, path: &[PathSeg]) -> Option<(String, Option<String>)> {
    let (found, expected) = rest.rsplit_once(", expected ")?;
    let key = path.iter().rev().find_map(|s| match s {
        PathSeg::Key(k) => Some(k.as_str()),
        PathSeg::Index(_) => None,
    })?;
    let shown = display_path(path);
    // The value as written, without serde's quoting: `string "900"`, "integer `7`".
    let literal = found
        .split_once(' ')
        .map(|(_, v)| v.trim_matches(|c| c == '`' || c == '"'))
        .unwrap_or("");
    let expected = expected.trim();
    let example_for = |value: String| {
        if matches!(path.last(), Some(PathSeg::Index(_))) {
            format!("`{key} = [{value}]`")
        } else {
            format!("`{key} = {value}`")
        }
    };
    let (what, example) = match expected {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" | "an integer" => {
            let n = literal
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map_or_else(|| "1".to_string(), |v| format!("{}", v.trunc() as i64));
            ("an integer", example_for(n))
        }
        "f32" | "f64" | "a float" => {
            let n = literal
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map_or_else(|| "0.5".to_string(), |v| format!("{v}"));
            ("a number", example_for(n))
        }
        "a string" | "string" | "a borrowed string" => {
            let v = if literal.is_empty() || found == "sequence" || found == "map" {
                "...".to_string()
            } else {
                literal.to_string()
            };
            ("a quoted string", example_for(format!("{v:?}")))
        }
        "a boolean" | "bool" => ("true or false", example_for("true".to_string())),
        "a sequence" | "a list" => {
            if found == "map" && path.len() == 1 {
                return Some((
                    format!("`{shown}` must be an array of tables"),
                    Some(format!(
                        "use `[[{key}]]` (an array of tables): each `[[{key}]]` header starts one entry; `[{key}.NAME]` makes a table instead"
                    )),
                ));
            }
            let item = match found.split_once(' ') {
                Some(("string", _)) => format!("{literal:?}"),
                Some(_) => literal.to_string(),
                None => "...".to_string(),
            };
            ("an array", format!("`{key} = [{item}]`"))
        }
        e if e.starts_with("struct ") || e == "a map" || e == "a table" => (
            "a table",
            format!("`{key} = {{ ... }}` or a `[...{key}]` section"),
        ),
        _ => return None,
    };
    Some((
        format!("`{shown}` must be {what}, e.g. {example}"),
        Some(format!("found {found}")),
    ))
}

/// The key path of the value at byte range `span` (a TOML error's location): the value whose
/// span is exactly `span`, else the innermost one containing it.
pub(super) fn path_at(src: &str, span: &Range<usize>) -> Vec<PathSeg> {
    let Ok(doc) = DeTable::parse(src) else {
        return Vec::new();
    };
    let mut exact = None;
    let mut containing: Vec<PathSeg> = Vec::new();
    let mut path = Vec::new();
    search_table(doc.get_ref(), span, &mut path, &mut exact, &mut containing);
    exact.unwrap_or(containing)
}

fn search_table(
    t: &DeTable<'_>,
    span: &Range<usize>,
    path: &mut Vec<PathSeg>,
    exact: &mut Option<Vec<PathSeg>>,
    containing: &mut Vec<PathSeg>,
) {
    for (k, v) in t.iter() {
        path.push(PathSeg::Key(k.get_ref().to_string()));
        search_value(v, span, path, exact, containing);
        path.pop();
    }
}

fn search_value(
    v: &Spanned<DeValue<'_>>,
    span: &Range<usize>,
    path: &mut Vec<PathSeg>,
    exact: &mut Option<Vec<PathSeg>>,
    containing: &mut Vec<PathSeg>,
) {
    if exact.is_some() {
        return;
    }
    let vs = v.span();
    if vs == *span && !vs.is_empty() {
        *exact = Some(path.clone());
        return;
    }
    if vs.start <= span.start && span.end <= vs.end && path.len() > containing.len() {
        *containing = path.clone();
    }
    match v.get_ref() {
        DeValue::Table(t) => search_table(t, span, path, exact, containing),
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                path.push(PathSeg::Index(i));
                search_value(item, span, path, exact, containing);
                path.pop();
            }
        }
        _ => {}
    }
}

/// The byte span of the value (or key) at the error's path, falling back to the nearest
/// ancestor that exists in the file.
pub(super) fn span_of(src: &str, e: &SemErr) -> Range<usize> {
    let Ok(doc) = DeTable::parse(src) else {
        return 0..0;
    };
    let mut best: Range<usize> = 0..0;
    let mut table: Option<&DeTable<'_>> = Some(doc.get_ref());
    let mut value: Option<&Spanned<DeValue<'_>>> = None;
    for (n, seg) in e.path.iter().enumerate() {
        let last = n + 1 == e.path.len();
        match seg {
            PathSeg::Key(k) => {
                let container = table.or_else(|| value.and_then(|v| v.get_ref().as_table()));
                let Some((key, v)) = container.and_then(|t| t.get_key_value(k.as_str())) else {
                    break;
                };
                best = if last && e.at_key {
                    key.span()
                } else if last {
                    v.span()
                } else {
                    key.span()
                };
                value = Some(v);
                table = None;
            }
            PathSeg::Index(i) => {
                let Some(item) = value
                    .and_then(|v| v.get_ref().as_array())
                    .and_then(|a| a.get(*i))
                else {
                    break;
                };
                // An array-of-tables item's span is its body; a value item's span is the value.
                if !item.span().is_empty() {
                    best = item.span();
                }
                value = Some(item);
            }
        }
    }
    best
}
