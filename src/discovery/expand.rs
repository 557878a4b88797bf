//! The pure half of discovery: which listed accounts a set selects, and the targets they become.
//! No I/O, no clock: the same accounts give the same targets in the same order.

use std::collections::{BTreeMap, HashSet};

use super::spec::{AccountStatus, OrgAccount, TargetSet};

/// One `(account, region)` a set expands to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredTarget<P> {
    /// `ACCOUNT/REGION`, the name a static target gets by default, so a target keeps its
    /// name (and its shard) when it moves between a set and `[[targets]]`.
    pub name: String,
    /// The set that produced it.
    pub set: String,
    pub account_id: String,
    pub account_name: String,
    pub region: String,
    pub role_arn: String,
    pub endpoint_url: Option<String>,
    pub pacing: P,
}

/// The accounts of `accounts` that `set` selects: ACTIVE, in the allow list when there is one,
/// not in the deny list, name matching the glob. Each account once, in the order given.
pub fn select<'a, P>(
    set: &'a TargetSet<P>,
    accounts: &'a [OrgAccount],
) -> impl Iterator<Item = &'a OrgAccount> + 'a {
    let mut seen = HashSet::new();
    accounts.iter().filter(move |a| {
        a.status == AccountStatus::Active
            && (set.include_accounts.is_empty() || set.include_accounts.contains(&a.id))
            && !set.exclude_accounts.contains(&a.id)
            && set.name_glob.as_ref().is_none_or(|g| g.is_match(&a.name))
            && seen.insert(a.id.as_str())
    })
}

/// The targets `set` makes of `accounts`: every selected account times every region, sorted by
/// account id, then in the set's region order.
pub fn expand<P: Clone>(set: &TargetSet<P>, accounts: &[OrgAccount]) -> Vec<DiscoveredTarget<P>> {
    let mut selected: Vec<&OrgAccount> = select(set, accounts).collect();
    selected.sort_by(|a, b| a.id.cmp(&b.id));
    let mut out = Vec::with_capacity(selected.len() * set.regions.len());
    for account in selected {
        let role_arn = set.role.render(&account.id);
        for region in &set.regions {
            out.push(DiscoveredTarget {
                name: format!("{}/{}", account.id, region),
                set: set.name.clone(),
                account_id: account.id.clone(),
                account_name: account.name.clone(),
                region: region.clone(),
                role_arn: role_arn.clone(),
                endpoint_url: set.endpoint_url.clone(),
                pacing: set.pacing.clone(),
            });
        }
    }
    out
}

/// A target name that two sets (or a set and a static target) both produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub name: String,
    /// The set (or static target) that keeps it: the first one given.
    pub kept_by: String,
    pub dropped_from: String,
}

/// Several sets' targets as one list, each name once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged<P> {
    /// Sorted by name.
    pub targets: Vec<DiscoveredTarget<P>>,
    pub duplicates: Vec<Duplicate>,
}

/// Joins expansions: the first claim on a name wins (so list static targets' names in
/// `claimed` to let them win over every set), later ones are reported as duplicates.
pub fn merge<P>(
    claimed: &[(String, String)],
    expansions: impl IntoIterator<Item = Vec<DiscoveredTarget<P>>>,
) -> Merged<P> {
    let mut owner: BTreeMap<String, String> = claimed.iter().cloned().collect();
    let mut kept: BTreeMap<String, DiscoveredTarget<P>> = BTreeMap::new();
    let mut duplicates = Vec::new();
    for targets in expansions {
        for t in targets {
            match owner.get(&t.name) {
                Some(first) => duplicates.push(Duplicate {
                    name: t.name.clone(),
                    kept_by: first.clone(),
                    dropped_from: t.set.clone(),
                }),
                None => {
                    owner.insert(t.name.clone(), t.set.clone());
                    kept.insert(t.name.clone(), t);
                }
            }
        }
    }
    Merged {
        targets: kept.into_values().collect(),
        duplicates,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::spec::{RoleArnTemplate, Scope};
    use crate::policy::Glob;

    fn account(id: &str, name: &str, status: AccountStatus) -> OrgAccount {
        OrgAccount {
            id: id.into(),
            name: name.into(),
            status,
            parent: None,
        }
    }

    fn set(name: &str) -> TargetSet<u32> {
        TargetSet {
            name: name.into(),
            scope: Scope::Organization,
            include_accounts: Vec::new(),
            exclude_accounts: Vec::new(),
            name_glob: None,
            regions: vec!["eu-west-1".into(), "us-east-1".into()],
            role: RoleArnTemplate::parse("arn:aws:iam::{account_id}:role/s3prio").expect("valid"),
            endpoint_url: Some("http://127.0.0.1:9000".into()),
            pacing: 7,
        }
    }

    fn accounts() -> Vec<OrgAccount> {
        vec![
            account("300000000003", "prod-payments", AccountStatus::Active),
            account("100000000001", "prod-data", AccountStatus::Active),
            account("200000000002", "dev-sandbox", AccountStatus::Active),
            account("400000000004", "prod-closed", AccountStatus::Suspended),
            account(
                "500000000005",
                "prod-leaving",
                AccountStatus::PendingClosure,
            ),
            account(
                "600000000006",
                "prod-new",
                AccountStatus::Other("NEW".into()),
            ),
        ]
    }

    #[test]
    fn active_accounts_times_regions_in_a_stable_order() {
        let targets = expand(&set("all"), &accounts());
        let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "100000000001/eu-west-1",
                "100000000001/us-east-1",
                "200000000002/eu-west-1",
                "200000000002/us-east-1",
                "300000000003/eu-west-1",
                "300000000003/us-east-1",
            ]
        );
        let t = &targets[0];
        assert_eq!(t.role_arn, "arn:aws:iam::100000000001:role/s3prio");
        assert_eq!(t.account_name, "prod-data");
        assert_eq!(t.endpoint_url.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(t.pacing, 7);
        assert_eq!(t.set, "all");
    }

    #[test]
    fn allow_deny_and_glob_filter() {
        let mut s = set("prod");
        s.name_glob = Some(Glob::new("prod-*").expect("glob"));
        s.exclude_accounts = vec!["300000000003".into()];
        let ids: Vec<String> = select(&s, &accounts()).map(|a| a.id.clone()).collect();
        assert_eq!(ids, vec!["100000000001"]);

        let mut s = set("some");
        s.include_accounts = vec!["200000000002".into(), "400000000004".into()];
        let ids: Vec<String> = select(&s, &accounts()).map(|a| a.id.clone()).collect();
        // The suspended one stays out even when named.
        assert_eq!(ids, vec!["200000000002"]);
    }

    #[test]
    fn an_account_listed_twice_is_one_target_per_region() {
        let mut list = accounts();
        list.push(account("100000000001", "prod-data", AccountStatus::Active));
        assert_eq!(expand(&set("all"), &list).len(), 6);
    }

    #[test]
    fn merge_keeps_the_first_claim_and_reports_the_rest() {
        let a = expand(&set("a"), &accounts());
        let mut narrow = set("b");
        narrow.include_accounts = vec!["200000000002".into()];
        narrow.regions = vec!["us-east-1".into(), "ap-south-1".into()];
        let b = expand(&narrow, &accounts());
        let claimed = vec![("100000000001/eu-west-1".to_string(), "static".to_string())];
        let merged = merge(&claimed, [a, b]);
        let names: Vec<&str> = merged.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "100000000001/us-east-1",
                "200000000002/ap-south-1",
                "200000000002/eu-west-1",
                "200000000002/us-east-1",
                "300000000003/eu-west-1",
                "300000000003/us-east-1",
            ]
        );
        assert_eq!(
            merged.duplicates,
            vec![
                Duplicate {
                    name: "100000000001/eu-west-1".into(),
                    kept_by: "static".into(),
                    dropped_from: "a".into(),
                },
                Duplicate {
                    name: "200000000002/us-east-1".into(),
                    kept_by: "a".into(),
                    dropped_from: "b".into(),
                },
            ]
        );
    }
}
