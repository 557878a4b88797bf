//! `[[target_sets]]`: accounts of an AWS organization, times regions, reached through a role.
//! Everything that can be checked without calling AWS is checked here, so `check` catches a
//! bad set offline.

use std::collections::HashSet;
use std::time::Duration;

use super::super::raw::RawTargetSet;
use super::super::{Pacing, Target, TargetSetConfig};
use super::targets::{backoff, endpoint_url, rate_limit};
use super::{opt_duration, VResult, P};
use crate::discovery::{RoleArnTemplate, Scope, TargetSet};
use crate::policy::Glob;

/// Discovery runs this often unless told otherwise.
pub const DEFAULT_DISCOVERY_INTERVAL: Duration = Duration::from_secs(600);
/// Organizations allows one request per second per account for most List calls; listing
/// more often than this is a typo.
const MIN_DISCOVERY_INTERVAL: Duration = Duration::from_secs(10);

pub(super) fn target_sets(root: &P, raw: &[RawTargetSet]) -> VResult<Vec<TargetSetConfig>> {
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, s) in raw.iter().enumerate() {
        let p = root.k("target_sets").i(i);
        if s.name.is_empty() || !names.insert(s.name.clone()) {
            return Err(p.k("name").err(
                format!("target set name `{}` is empty or used twice", s.name),
                Some("give every [[target_sets]] table a unique `name`".to_string()),
            ));
        }
        out.push(target_set(&p, s)?);
    }
    Ok(out)
}

fn target_set(p: &P, s: &RawTargetSet) -> VResult<TargetSetConfig> {
    let role = RoleArnTemplate::parse(&s.role_arn).map_err(|e| p.k("role_arn").err(e, None))?;
    let name_glob = s
        .account_name
        .as_deref()
        .map(|g| Glob::new(g).map_err(|e| p.k("account_name").err(e, None)))
        .transpose()?;
    let scope = match &s.organizational_units {
        None => Scope::Organization,
        Some(ou_ids) => Scope::Units {
            ou_ids: ou_ids.clone(),
            recursive: true,
        },
    };
    for (key, url) in [
        ("endpoint_url", &s.endpoint_url),
        ("organizations_endpoint_url", &s.organizations_endpoint_url),
        ("sts_endpoint_url", &s.sts_endpoint_url),
    ] {
        if let Some(url) = url {
            endpoint_url(url).map_err(|why| {
                p.k(key).err(
                    format!("`{url}` is not a usable endpoint URL: {why}"),
                    Some(
                        "scheme, host and optional port, e.g. \"http://127.0.0.1:9000\""
                            .to_string(),
                    ),
                )
            })?;
        }
    }
    let discovery_interval = opt_duration(
        &p.k("discovery_interval"),
        &s.discovery_interval,
        DEFAULT_DISCOVERY_INTERVAL,
    )?;
    if discovery_interval < MIN_DISCOVERY_INTERVAL {
        return Err(p.k("discovery_interval").err(
            format!("discovery every {discovery_interval:?} is too often"),
            Some(format!(
                "at least {} s; accounts join an organization rarely, \"10m\" is the default",
                MIN_DISCOVERY_INTERVAL.as_secs()
            )),
        ));
    }
    let set = TargetSet {
        name: s.name.clone(),
        scope,
        include_accounts: s.accounts.clone(),
        exclude_accounts: s.exclude_accounts.clone(),
        name_glob,
        regions: s.regions.clone(),
        role,
        endpoint_url: s.endpoint_url.clone(),
        pacing: Pacing {
            rate_limit: rate_limit(&p.k("rate_limit"), s.rate_limit.as_ref())?,
            backoff: backoff(&p.k("backoff"), s.backoff.as_ref())?,
            request_timeout: opt_duration(
                &p.k("request_timeout"),
                &s.request_timeout,
                Duration::from_secs(10),
            )?,
        },
    };
    if let Some((field, message)) = set.problems().into_iter().next() {
        return Err(p.k(field).err(message, None));
    }
    Ok(TargetSetConfig {
        set,
        discovery_interval,
        organizations_endpoint_url: s.organizations_endpoint_url.clone(),
        sts_endpoint_url: s.sts_endpoint_url.clone(),
    })
}

/// Static targets need not exist when there are target sets; with neither, nothing is managed.
pub(super) fn require_some(root: &P, targets: &[Target], sets: &[TargetSetConfig]) -> VResult<()> {
    if targets.is_empty() && sets.is_empty() {
        return Err(root.err(
            "no targets",
            Some("add at least one [[targets]] table with account_id and region, or a [[target_sets]] table".to_string()),
        ));
    }
    Ok(())
}
