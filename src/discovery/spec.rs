//! What a target set says (plain data the config layer fills in) and the checks that can be
//! made without calling AWS, so `check` can validate a set offline.

use crate::policy::Glob;

/// Which part of the organization a set covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every account (`ListAccounts`).
    Organization,
    /// The accounts directly in these OUs or roots (`ListAccountsForParent`), and with
    /// `recursive` those of every OU below them (`ListOrganizationalUnitsForParent`).
    Units {
        ou_ids: Vec<String>,
        recursive: bool,
    },
}

/// A target set: accounts of the organization, times regions, reached through a role.
#[derive(Debug, Clone)]
pub struct TargetSet<P> {
    /// Names the set in errors, logs and [`super::Duplicate`]s.
    pub name: String,
    pub scope: Scope,
    /// When not empty, only these account ids.
    pub include_accounts: Vec<String>,
    /// Never these account ids.
    pub exclude_accounts: Vec<String>,
    /// Only accounts whose name matches.
    pub name_glob: Option<Glob>,
    /// Every selected account becomes one target per region, in this order.
    pub regions: Vec<String>,
    pub role: RoleArnTemplate,
    /// S3 Control endpoint for every target of the set (a VPC endpoint, or the emulator).
    pub endpoint_url: Option<String>,
    /// Rate limit, backoff and the like, copied into every target as given.
    pub pacing: P,
}

/// An account's status as Organizations reports it. Only [`AccountStatus::Active`] accounts
/// become targets: a suspended account's API calls fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    Suspended,
    PendingClosure,
    /// A status this build does not know (AWS added one).
    Other(String),
}

impl AccountStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "ACTIVE" => AccountStatus::Active,
            "SUSPENDED" => AccountStatus::Suspended,
            "PENDING_CLOSURE" => AccountStatus::PendingClosure,
            other => AccountStatus::Other(other.to_string()),
        }
    }
}

/// An account as discovery saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAccount {
    pub id: String,
    pub name: String,
    pub status: AccountStatus,
    /// The root or OU it was listed under (unknown when listed with `ListAccounts`).
    pub parent: Option<String>,
}

/// `arn:aws:iam::{account_id}:role/NAME`: the role assumed in each discovered account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArnTemplate {
    template: String,
}

/// The one placeholder a role ARN template holds.
pub const ACCOUNT_PLACEHOLDER: &str = "{account_id}";

impl RoleArnTemplate {
    /// Checks the template: an IAM role ARN with `{account_id}` as its account field and no
    /// other placeholder.
    pub fn parse(template: &str) -> Result<Self, String> {
        let example = "arn:aws:iam::{account_id}:role/s3prio";
        let fields: Vec<&str> = template.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = fields.as_slice() else {
            return Err(format!(
                "role ARN template `{template}` is not an ARN; write it like `{example}`"
            ));
        };
        if *arn != "arn" || partition.is_empty() || *service != "iam" || !region.is_empty() {
            return Err(format!(
                "role ARN template `{template}` is not an IAM role ARN; write it like `{example}`"
            ));
        }
        if *account != ACCOUNT_PLACEHOLDER {
            return Err(format!(
                "role ARN template `{template}` must have `{ACCOUNT_PLACEHOLDER}` as its account field (found `{account}`), like `{example}`"
            ));
        }
        let Some(path) = resource.strip_prefix("role/") else {
            return Err(format!(
                "role ARN template `{template}` must name a role (`role/NAME`), like `{example}`"
            ));
        };
        let name = path.rsplit('/').next().unwrap_or("");
        let valid = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c);
        if name.is_empty() || name.len() > 64 || !path.chars().all(valid) {
            return Err(format!(
                "role name `{path}` in template `{template}` must be 1..64 characters of letters, digits and +=,.@_- (a path may come before it)"
            ));
        }
        Ok(RoleArnTemplate {
            template: template.to_string(),
        })
    }

    /// The role ARN in `account_id`.
    pub fn render(&self, account_id: &str) -> String {
        self.template.replacen(ACCOUNT_PLACEHOLDER, account_id, 1)
    }

    pub fn as_str(&self) -> &str {
        &self.template
    }
}

pub fn validate_account_id(id: &str) -> Result<(), String> {
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!("account id `{id}` must be 12 digits"))
    }
}

/// A root (`r-` and 4..32 lowercase letters or digits) or an OU (`ou-`, 4..32, `-`, 8..32):
/// the Organizations model's pattern for a parent id.
pub fn validate_ou_id(id: &str) -> Result<(), String> {
    let part = |s: &str, lo: usize, hi: usize| {
        (lo..=hi).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    };
    let ok = if let Some(rest) = id.strip_prefix("r-") {
        part(rest, 4, 32)
    } else if let Some(rest) = id.strip_prefix("ou-") {
        rest.split_once('-')
            .is_some_and(|(a, b)| part(a, 4, 32) && part(b, 8, 32))
    } else {
        false
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{id}` is neither an OU id (like `ou-ab12-cd34ef56`) nor a root id (like `r-ab12`); list them with `aws organizations list-roots` and `list-organizational-units-for-parent`"
        ))
    }
}

/// A region name as AWS spells them: lowercase letters and digits in dash-separated parts,
/// ending in a number (`eu-west-1`, `us-gov-west-1`).
pub fn validate_region(region: &str) -> Result<(), String> {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{region}` is not a region name; write it like `eu-west-1`"
        ))
    }
}

impl<P> TargetSet<P> {
    /// Every problem a set has that can be seen without calling AWS, as (field, message).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.regions.is_empty() {
            out.push((
                "regions",
                "a target set needs at least one region, like `regions = [\"eu-west-1\"]`"
                    .to_string(),
            ));
        }
        for (i, r) in self.regions.iter().enumerate() {
            if let Err(e) = validate_region(r) {
                out.push(("regions", e));
            }
            if self.regions[..i].contains(r) {
                out.push(("regions", format!("region `{r}` is listed twice")));
            }
        }
        if let Scope::Units { ou_ids, .. } = &self.scope {
            if ou_ids.is_empty() {
                out.push((
                    "organizational_units",
                    "an empty OU list selects nothing; leave `organizational_units` out to cover the whole organization"
                        .to_string(),
                ));
            }
            for id in ou_ids {
                if let Err(e) = validate_ou_id(id) {
                    out.push(("organizational_units", e));
                }
            }
        }
        for (field, ids) in [
            ("accounts", &self.include_accounts),
            ("exclude_accounts", &self.exclude_accounts),
        ] {
            for id in ids {
                if let Err(e) = validate_account_id(id) {
                    out.push((field, e));
                }
            }
        }
        for id in &self.include_accounts {
            if self.exclude_accounts.contains(id) {
                out.push((
                    "exclude_accounts",
                    format!("account {id} is both included and excluded; remove it from one list"),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_templates() {
        let t = RoleArnTemplate::parse("arn:aws:iam::{account_id}:role/s3prio").expect("valid");
        assert_eq!(
            t.render("123456789012"),
            "arn:aws:iam::123456789012:role/s3prio"
        );
        let t =
            RoleArnTemplate::parse("arn:aws-cn:iam::{account_id}:role/ops/s3prio").expect("path");
        assert_eq!(t.render("1"), "arn:aws-cn:iam::1:role/ops/s3prio");
        for (bad, says) in [
            ("s3prio", "not an ARN"),
            ("arn:aws:sts::{account_id}:role/x", "not an IAM role ARN"),
            ("arn:aws:iam::123456789012:role/x", "as its account field"),
            ("arn:aws:iam::{account_id}:user/x", "must name a role"),
            ("arn:aws:iam::{account_id}:role/", "1..64 characters"),
            ("arn:aws:iam::{account_id}:role/a b", "1..64 characters"),
        ] {
            let e = RoleArnTemplate::parse(bad).expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn ids_and_regions() {
        assert!(validate_ou_id("ou-ab12-cd34ef56").is_ok());
        assert!(validate_ou_id("r-ab12").is_ok());
        assert!(validate_ou_id("ou-ab12").is_err());
        assert!(validate_ou_id("OU-ab12-cd34ef56").is_err());
        assert!(validate_account_id("123456789012").is_ok());
        assert!(validate_account_id("12345678901").is_err());
        assert!(validate_region("eu-west-1").is_ok());
        assert!(validate_region("us-gov-west-1").is_ok());
        assert!(validate_region("eu-west").is_err());
        assert!(validate_region("EU-west-1").is_err());
    }

    #[test]
    fn problems_name_their_field() {
        let set = TargetSet {
            name: "prod".into(),
            scope: Scope::Units {
                ou_ids: vec!["ou-bad".into()],
                recursive: true,
            },
            include_accounts: vec!["123456789012".into(), "42".into()],
            exclude_accounts: vec!["123456789012".into()],
            name_glob: None,
            regions: vec!["eu-west-1".into(), "eu-west-1".into()],
            role: RoleArnTemplate::parse("arn:aws:iam::{account_id}:role/s3prio").expect("valid"),
            endpoint_url: None,
            pacing: (),
        };
        let fields: Vec<&str> = set.problems().iter().map(|(f, _)| *f).collect();
        assert_eq!(
            fields,
            vec![
                "regions",
                "organizational_units",
                "accounts",
                "exclude_accounts"
            ]
        );
    }
}
