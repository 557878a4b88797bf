//! `[[targets]]`: the accounts and regions s3prio manages, each with its endpoint, pace and
//! retry settings.

use std::collections::HashSet;
use std::time::Duration;

use super::super::raw::{RawBackoff, RawRateLimit, RawTarget};
use super::super::{
    min_burst, Backoff, RateLimit, Target, MAX_BURST, MAX_REQUESTS_PER_SECOND,
    MAX_WRITE_REQUESTS_PER_SECOND, MIN_BURST_WINDOW, MIN_REQUESTS_PER_SECOND,
};
use super::{account_id, opt_duration, VResult, P};

pub(super) fn targets(root: &P, raw: &[RawTarget]) -> VResult<Vec<Target>> {
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, t) in raw.iter().enumerate() {
        let p = root.k("targets").i(i);
        where_to_call(&p, t)?;
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
        out.push(Target {
            name,
            account_id: t.account_id.clone(),
            region: t.region.clone(),
            role_arn: t.role_arn.clone(),
            endpoint_url: t.endpoint_url.clone(),
            sts_endpoint_url: None,
            origin: None,
            rate_limit: rate_limit(&p.k("rate_limit"), t.rate_limit.as_ref())?,
            backoff: backoff(&p.k("backoff"), t.backoff.as_ref())?,
            request_timeout: opt_duration(
                &p.k("request_timeout"),
                &t.request_timeout,
                Duration::from_secs(10),
            )?,
        });
    }
    Ok(out)
}

/// The account, region, role and endpoint a target's calls go to.
fn where_to_call(p: &P, t: &RawTarget) -> VResult<()> {
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
    Ok(())
}

/// A pace in requests per second, within what the pace can keep.
fn rate(p: &P, v: f64, max: f64, why: &str) -> VResult<f64> {
    if v.is_finite() && (MIN_REQUESTS_PER_SECOND..=max).contains(&v) {
        Ok(v)
    } else {
        Err(p.err(
            if v.is_finite() && v > 0.0 {
                format!("{v} requests per second is outside what the pace can keep ({MIN_REQUESTS_PER_SECOND} to {max})")
            } else {
                format!("{v} is not a positive rate")
            },
            Some(format!("requests per second from {MIN_REQUESTS_PER_SECOND} (one call every 5 s) to {max} ({why}), e.g. 10 or 0.5")),
        ))
    }
}

pub(super) fn rate_limit(p: &P, rl: Option<&RawRateLimit>) -> VResult<RateLimit> {
    let requests_per_second = rate(
        &p.k("requests_per_second"),
        rl.and_then(|r| r.requests_per_second).unwrap_or(10.0),
        MAX_REQUESTS_PER_SECOND,
        "its burst holding the calls of 2 ms",
    )?;
    let write_requests_per_second = rl
        .and_then(|r| r.write_requests_per_second)
        .map(|v| {
            rate(
                &p.k("write_requests_per_second"),
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
            p.k("burst").err(
                format!("burst {burst} is out of range"),
                Some(format!("a whole number of requests from 1 to {MAX_BURST}; the bucket never holds more than one second of requests at the current pace")),
            )
        })?;
    let least = min_burst(requests_per_second);
    if burst < least {
        return Err(p.k("burst").err(
            format!("burst {burst} is too small for {requests_per_second} requests per second"),
            Some(format!(
                "at least {least}: the calls of {} ms, so a late timer tick costs no pace",
                MIN_BURST_WINDOW.as_millis()
            )),
        ));
    }
    Ok(RateLimit {
        requests_per_second,
        burst,
        write_requests_per_second,
    })
}

pub(super) fn backoff(bp: &P, bo: Option<&RawBackoff>) -> VResult<Backoff> {
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
    Ok(Backoff {
        base,
        max_delay,
        max_attempts,
    })
}

/// Why `url` cannot serve as an S3 Control endpoint, if it cannot. Strict on purpose: the SDK
/// would accept some of what is refused here and fail on every call instead.
pub(super) fn endpoint_url(url: &str) -> Result<(), String> {
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
