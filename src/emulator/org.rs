//! The organization behind the emulated AWS Organizations and STS: a root, nested OUs, member
//! accounts (each of which holds its own jobs in the job store) and, per account, the IAM roles
//! that exist and whether the caller may assume them.
//!
//! Why a model of its own: organization-wide targets are discovered by listing accounts page by
//! page and then reached by assuming a role in each. Tests need to grow and shrink the
//! organization, suspend accounts and break roles while a daemon runs, and benchmarks need a
//! thousand accounts; both go through the real SDK clients, so the listing rules (parents,
//! page sizes, tokens) live here and the wire format in `org_api`.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::job::is_valid_account_id;

/// Organizations pages hold at most this many items (also the default `MaxResults`).
pub const MAX_ORG_RESULTS: usize = 20;

/// The emulated organization's id and root id (fixed: one organization per emulator).
pub const ORGANIZATION_ID: &str = "o-s3prio0emu";
pub const ROOT_ID: &str = "r-s3pr";

/// An account's status as `ListAccounts` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountStatus {
    #[default]
    Active,
    Suspended,
    PendingClosure,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "ACTIVE",
            AccountStatus::Suspended => "SUSPENDED",
            AccountStatus::PendingClosure => "PENDING_CLOSURE",
        }
    }
}

/// A member account to add to the organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAccountSpec {
    pub id: String,
    pub name: String,
    /// Default: `<name>@example.com`.
    pub email: Option<String>,
    pub status: AccountStatus,
    /// The root (`None`) or an OU id.
    pub parent: Option<String>,
}

impl OrgAccountSpec {
    /// An ACTIVE account directly under the root.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        OrgAccountSpec {
            id: id.into(),
            name: name.into(),
            email: None,
            status: AccountStatus::Active,
            parent: None,
        }
    }

    pub fn in_ou(mut self, ou: impl Into<String>) -> Self {
        self.parent = Some(ou.into());
        self
    }

    pub fn with_status(mut self, status: AccountStatus) -> Self {
        self.status = status;
        self
    }
}

/// An account as the organization holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAccount {
    pub id: String,
    pub name: String,
    pub email: String,
    pub status: AccountStatus,
    /// Root or OU id.
    pub parent: String,
    pub joined: DateTime<Utc>,
}

/// An organizational unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgUnit {
    pub id: String,
    pub name: String,
    /// Root or OU id.
    pub parent: String,
}

/// Whether a role in an account may be assumed by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleAccess {
    Assumable,
    /// The role exists but its trust policy does not name the caller.
    Denied,
}

/// What the Organizations listings do besides answering (to test clients that page).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrgPaging {
    /// Serve at most this many items per page, whatever `MaxResults` asks (short pages).
    pub page_cap: Option<usize>,
    /// Put an empty page with a `NextToken` before every page with items.
    pub empty_pages: bool,
    /// Answer every request that carries a `NextToken` with that same token (a stuck service).
    pub stuck_token: bool,
}

/// The shape of a generated organization (`--org-accounts N --org-ous M`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgShape {
    /// Accounts in all, the management account (`EmulatorOptions::account_id`) included.
    pub accounts: usize,
    /// OUs: the first half under the root, the others nested one level below them.
    pub ous: usize,
    /// Jobs generated in every account (the management account's come from `jobs`).
    pub jobs_per_account: usize,
    /// A role of this name is assumable in every account.
    pub role_name: String,
}

impl Default for OrgShape {
    fn default() -> Self {
        OrgShape {
            accounts: 1,
            ous: 0,
            jobs_per_account: 0,
            role_name: DEFAULT_ROLE_NAME.to_string(),
        }
    }
}

/// The role name a generated organization makes assumable everywhere.
pub const DEFAULT_ROLE_NAME: &str = "s3prio";

/// The id of the `index`-th generated member account (index 0 is the management account).
pub fn generated_account_id(index: usize) -> String {
    format!("{:012}", 200_000_000_000u64 + index as u64)
}

/// Why an organization change was refused (the builder API's errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgError {
    #[error("account id `{0}` must be 12 digits")]
    BadAccountId(String),
    #[error("account {0} is already in the organization")]
    DuplicateAccount(String),
    #[error("no account {0} in the organization")]
    NoSuchAccount(String),
    #[error("parent `{0}` is neither the root ({ROOT_ID}) nor an OU of the organization")]
    NoSuchParent(String),
}

/// The organization (when there is one) and the roles of every account.
#[derive(Debug, Default)]
pub struct Directory {
    org: Option<Organization>,
    /// account -> role name -> access. A role missing here does not exist.
    roles: HashMap<String, BTreeMap<String, RoleAccess>>,
    /// Access key id -> (account, principal), for keys this emulator's STS handed out. The
    /// principal is the key of the long-term credentials at the root of the chain of roles.
    sessions: HashMap<String, (String, String)>,
    pub paging: OrgPaging,
}

#[derive(Debug)]
struct Organization {
    management_account: String,
    ous: BTreeMap<String, OrgUnit>,
    accounts: BTreeMap<String, OrgAccount>,
    next_ou: u64,
}

/// Sessions kept for caller lookup; past this, the table is cleared (callers then count as the
/// management account, the default).
const MAX_SESSIONS: usize = 200_000;

/// Which listing a token belongs to (a token of one listing is refused by another).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    Accounts,
    AccountsForParent,
    OusForParent,
    Roots,
}

impl Listing {
    fn tag(self) -> char {
        match self {
            Listing::Accounts => 'a',
            Listing::AccountsForParent => 'p',
            Listing::OusForParent => 'o',
            Listing::Roots => 'r',
        }
    }
}

/// A listing request's page and where the next one starts.
#[derive(Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

/// Why a listing request was refused (mapped to wire errors by `org_api`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListError {
    NotInUse,
    ParentNotFound(String),
    InvalidToken,
}

/// Where a listing resumes: after `after` (an id), possibly via an empty page first.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    after: Option<String>,
    /// The empty page of [`OrgPaging::empty_pages`] was served already.
    past_empty: bool,
}

fn encode_token(listing: Listing, parent: &str, cursor: &Cursor) -> String {
    let raw = format!(
        "{}|{}|{}|{}",
        listing.tag(),
        parent,
        cursor.after.as_deref().unwrap_or(""),
        u8::from(cursor.past_empty)
    );
    let mut token = String::with_capacity(1 + raw.len() * 2);
    token.push('2');
    for b in raw.bytes() {
        token.push_str(&format!("{b:02x}"));
    }
    token
}

fn decode_token(token: &str, listing: Listing, parent: &str) -> Option<Cursor> {
    let hex = token.strip_prefix('2')?;
    if hex.len() % 2 != 0 || token.len() > 1024 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    let raw = String::from_utf8(bytes?).ok()?;
    let mut parts = raw.split('|');
    let (tag, tparent, after, empty) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || tag.len() != 1 || !tag.starts_with(listing.tag()) {
        return None;
    }
    if tparent != parent {
        return None;
    }
    Some(Cursor {
        after: (!after.is_empty()).then(|| after.to_string()),
        past_empty: match empty {
            "0" => false,
            "1" => true,
            _ => return None,
        },
    })
}

impl Directory {
    /// Makes the organization exist (with `management` as its management account, in the root)
    /// if it does not yet.
    pub fn ensure_org(&mut self, management: &str, now: DateTime<Utc>) {
        if self.org.is_some() {
            return;
        }
        let mut accounts = BTreeMap::new();
        accounts.insert(
            management.to_string(),
            OrgAccount {
                id: management.to_string(),
                name: "management".into(),
                email: "management@example.com".into(),
                status: AccountStatus::Active,
                parent: ROOT_ID.to_string(),
                joined: now,
            },
        );
        self.org = Some(Organization {
            management_account: management.to_string(),
            ous: BTreeMap::new(),
            accounts,
            next_ou: 1,
        });
    }

    pub fn management_account(&self) -> Option<&str> {
        self.org.as_ref().map(|o| o.management_account.as_str())
    }

    fn parent_exists(org: &Organization, parent: &str) -> bool {
        parent == ROOT_ID || org.ous.contains_key(parent)
    }

    /// Adds an OU under `parent` (the root or an OU); returns its id.
    pub fn add_ou(&mut self, parent: &str, name: &str) -> Result<String, OrgError> {
        let org = self
            .org
            .as_mut()
            .ok_or_else(|| OrgError::NoSuchParent(parent.to_string()))?;
        if !Self::parent_exists(org, parent) {
            return Err(OrgError::NoSuchParent(parent.to_string()));
        }
        let id = format!("ou-{}-{:08x}", &ROOT_ID[2..], org.next_ou);
        org.next_ou += 1;
        org.ous.insert(
            id.clone(),
            OrgUnit {
                id: id.clone(),
                name: name.to_string(),
                parent: parent.to_string(),
            },
        );
        Ok(id)
    }

    pub fn add_account(
        &mut self,
        spec: OrgAccountSpec,
        now: DateTime<Utc>,
    ) -> Result<(), OrgError> {
        if !is_valid_account_id(&spec.id) {
            return Err(OrgError::BadAccountId(spec.id));
        }
        let org = self
            .org
            .as_mut()
            .ok_or_else(|| OrgError::NoSuchAccount(spec.id.clone()))?;
        if org.accounts.contains_key(&spec.id) {
            return Err(OrgError::DuplicateAccount(spec.id));
        }
        let parent = spec.parent.unwrap_or_else(|| ROOT_ID.to_string());
        if !Self::parent_exists(org, &parent) {
            return Err(OrgError::NoSuchParent(parent));
        }
        let email = spec
            .email
            .unwrap_or_else(|| format!("{}@example.com", spec.name.replace(' ', "-")));
        org.accounts.insert(
            spec.id.clone(),
            OrgAccount {
                id: spec.id,
                name: spec.name,
                email,
                status: spec.status,
                parent,
                joined: now,
            },
        );
        Ok(())
    }

    pub fn set_account_status(&mut self, id: &str, status: AccountStatus) -> Result<(), OrgError> {
        self.account_mut(id)?.status = status;
        Ok(())
    }

    /// Moves an account to another parent (root or OU).
    pub fn move_account(&mut self, id: &str, parent: &str) -> Result<(), OrgError> {
        let exists = self
            .org
            .as_ref()
            .is_some_and(|o| Self::parent_exists(o, parent));
        if !exists {
            return Err(OrgError::NoSuchParent(parent.to_string()));
        }
        self.account_mut(id)?.parent = parent.to_string();
        Ok(())
    }

    fn account_mut(&mut self, id: &str) -> Result<&mut OrgAccount, OrgError> {
        self.org
            .as_mut()
            .and_then(|o| o.accounts.get_mut(id))
            .ok_or_else(|| OrgError::NoSuchAccount(id.to_string()))
    }

    /// The account leaves the organization (its jobs and roles stay, as they would in AWS).
    pub fn remove_account(&mut self, id: &str) -> Option<OrgAccount> {
        self.org.as_mut().and_then(|o| o.accounts.remove(id))
    }

    pub fn accounts(&self) -> Vec<OrgAccount> {
        self.org
            .as_ref()
            .map(|o| o.accounts.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn ous(&self) -> Vec<OrgUnit> {
        self.org
            .as_ref()
            .map(|o| o.ous.values().cloned().collect())
            .unwrap_or_default()
    }

    /// `Some(access)` when the role exists.
    pub fn role(&self, account: &str, role: &str) -> Option<RoleAccess> {
        self.roles.get(account).and_then(|r| r.get(role)).copied()
    }

    pub fn set_role(&mut self, account: &str, role: &str, access: Option<RoleAccess>) {
        match access {
            Some(a) => {
                self.roles
                    .entry(account.to_string())
                    .or_default()
                    .insert(role.to_string(), a);
            }
            None => {
                if let Some(r) = self.roles.get_mut(account) {
                    r.remove(role);
                }
            }
        }
    }

    /// Remembers that `access_key` (handed out by AssumeRole to `caller`) acts in `account`.
    pub fn remember_session(&mut self, access_key: String, account: String, caller: Option<&str>) {
        if self.sessions.len() >= MAX_SESSIONS {
            self.sessions.clear();
        }
        let principal = caller.map_or_else(|| "(unsigned)".to_string(), |c| self.principal(c));
        self.sessions.insert(access_key, (account, principal));
    }

    /// The account an access key acts in, when this emulator's STS issued it.
    pub fn session_account(&self, access_key: &str) -> Option<&str> {
        self.sessions.get(access_key).map(|(a, _)| a.as_str())
    }

    /// Who is behind an access key: the long-term key at the root of its chain of roles (the
    /// key itself when this emulator's STS did not issue it).
    pub fn principal(&self, access_key: &str) -> String {
        self.sessions
            .get(access_key)
            .map_or_else(|| access_key.to_string(), |(_, p)| p.clone())
    }

    fn org(&self) -> Result<&Organization, ListError> {
        self.org.as_ref().ok_or(ListError::NotInUse)
    }

    /// One page of a listing. `parent` is "" for the listings that take none.
    fn page<T: Clone>(
        &self,
        listing: Listing,
        parent: &str,
        items: impl Iterator<Item = (String, T)>,
        max: usize,
        token: Option<&str>,
    ) -> Result<Page<T>, ListError> {
        let cursor = match token {
            None => Cursor {
                after: None,
                past_empty: false,
            },
            Some(t) => decode_token(t, listing, parent).ok_or(ListError::InvalidToken)?,
        };
        if let Some(t) = token {
            if self.paging.stuck_token {
                return Ok(Page {
                    items: Vec::new(),
                    next_token: Some(t.to_string()),
                });
            }
        }
        let max = self.paging.page_cap.map_or(max, |cap| max.min(cap.max(1)));
        let mut rest = items
            .filter(|(key, _)| cursor.after.as_ref().is_none_or(|a| key > a))
            .peekable();
        if self.paging.empty_pages && !cursor.past_empty && rest.peek().is_some() {
            let next = Cursor {
                after: cursor.after.clone(),
                past_empty: true,
            };
            return Ok(Page {
                items: Vec::new(),
                next_token: Some(encode_token(listing, parent, &next)),
            });
        }
        let mut out = Vec::with_capacity(max);
        let mut last = None;
        while out.len() < max {
            match rest.next() {
                Some((key, item)) => {
                    last = Some(key);
                    out.push(item);
                }
                None => break,
            }
        }
        let next_token = match (rest.peek(), last) {
            (Some(_), Some(after)) => Some(encode_token(
                listing,
                parent,
                &Cursor {
                    after: Some(after),
                    past_empty: false,
                },
            )),
            _ => None,
        };
        Ok(Page {
            items: out,
            next_token,
        })
    }

    pub fn list_accounts(
        &self,
        max: usize,
        token: Option<&str>,
    ) -> Result<Page<OrgAccount>, ListError> {
        let org = self.org()?;
        let items = org.accounts.iter().map(|(k, a)| (k.clone(), a.clone()));
        self.page(Listing::Accounts, "", items, max, token)
    }

    pub fn list_accounts_for_parent(
        &self,
        parent: &str,
        max: usize,
        token: Option<&str>,
    ) -> Result<Page<OrgAccount>, ListError> {
        let org = self.org()?;
        if !Self::parent_exists(org, parent) {
            return Err(ListError::ParentNotFound(parent.to_string()));
        }
        let items = org
            .accounts
            .iter()
            .filter(|(_, a)| a.parent == parent)
            .map(|(k, a)| (k.clone(), a.clone()));
        self.page(Listing::AccountsForParent, parent, items, max, token)
    }

    pub fn list_ous_for_parent(
        &self,
        parent: &str,
        max: usize,
        token: Option<&str>,
    ) -> Result<Page<OrgUnit>, ListError> {
        let org = self.org()?;
        if !Self::parent_exists(org, parent) {
            return Err(ListError::ParentNotFound(parent.to_string()));
        }
        let items = org
            .ous
            .iter()
            .filter(|(_, o)| o.parent == parent)
            .map(|(k, o)| (k.clone(), o.clone()));
        self.page(Listing::OusForParent, parent, items, max, token)
    }

    /// The root ids (one).
    pub fn list_roots(&self, max: usize, token: Option<&str>) -> Result<Page<String>, ListError> {
        self.org()?;
        let items = std::iter::once((ROOT_ID.to_string(), ROOT_ID.to_string()));
        self.page(Listing::Roots, "", items, max, token)
    }

    /// The path of a parent from the organization down: `o-…/r-…/ou-…/`.
    pub fn path_of(&self, parent: &str) -> String {
        let mut chain = Vec::new();
        if let Some(org) = &self.org {
            let mut at = parent.to_string();
            // Bounded: OUs nest at most five deep in AWS; a cycle cannot be built here.
            for _ in 0..16 {
                if at == ROOT_ID {
                    break;
                }
                let Some(ou) = org.ous.get(&at) else { break };
                chain.push(ou.id.clone());
                at = ou.parent.clone();
            }
        }
        let mut path = format!("{ORGANIZATION_ID}/{ROOT_ID}/");
        for id in chain.iter().rev() {
            path.push_str(id);
            path.push('/');
        }
        path
    }

    /// Builds the organization a [`OrgShape`] describes; returns the member accounts' ids in
    /// order (management account first).
    pub fn generate(
        &mut self,
        shape: &OrgShape,
        management: &str,
        now: DateTime<Utc>,
    ) -> Vec<String> {
        self.ensure_org(management, now);
        let top = shape.ous.div_ceil(2);
        let mut ous: Vec<String> = Vec::with_capacity(shape.ous);
        for i in 0..shape.ous {
            let parent = if i < top {
                ROOT_ID.to_string()
            } else {
                ous[(i - top) % top].clone()
            };
            // The root and the OUs just made always exist.
            if let Ok(id) = self.add_ou(&parent, &format!("unit-{:02}", i + 1)) {
                ous.push(id);
            }
        }
        let mut ids = vec![management.to_string()];
        self.set_role(management, &shape.role_name, Some(RoleAccess::Assumable));
        for k in 1..shape.accounts {
            let id = generated_account_id(k);
            let slot = k % (ous.len() + 1);
            let parent = (slot > 0).then(|| ous[slot - 1].clone());
            let spec = OrgAccountSpec {
                id: id.clone(),
                name: format!("member-{k:04}"),
                email: None,
                status: AccountStatus::Active,
                parent,
            };
            if self.add_account(spec, now).is_ok() {
                self.set_role(&id, &shape.role_name, Some(RoleAccess::Assumable));
                ids.push(id);
            }
        }
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(accounts: usize, ous: usize) -> Directory {
        let mut d = Directory::default();
        d.generate(
            &OrgShape {
                accounts,
                ous,
                ..OrgShape::default()
            },
            "123456789012",
            Utc::now(),
        );
        d
    }

    fn all_accounts(d: &Directory, max: usize) -> (Vec<String>, usize) {
        let mut token = None;
        let mut ids = Vec::new();
        let mut pages = 0;
        loop {
            let page = d.list_accounts(max, token.as_deref()).expect("page");
            pages += 1;
            ids.extend(page.items.into_iter().map(|a| a.id));
            match page.next_token {
                Some(t) => token = Some(t),
                None => return (ids, pages),
            }
        }
    }

    #[test]
    fn pages_cover_every_account_once() {
        let d = org(45, 3);
        let (ids, pages) = all_accounts(&d, 20);
        assert_eq!(ids.len(), 45);
        assert_eq!(pages, 3);
        let mut sorted = ids.clone();
        sorted.dedup();
        assert_eq!(sorted, ids);
    }

    #[test]
    fn short_and_empty_pages_still_cover_everything() {
        let mut d = org(45, 3);
        d.paging = OrgPaging {
            page_cap: Some(7),
            empty_pages: true,
            stuck_token: false,
        };
        let (ids, pages) = all_accounts(&d, 20);
        assert_eq!(ids.len(), 45);
        // 7 pages of items, each after an empty one.
        assert_eq!(pages, 14);
    }

    #[test]
    fn tokens_belong_to_their_listing() {
        let d = org(45, 3);
        let page = d.list_accounts(5, None).expect("page");
        let token = page.next_token.expect("more");
        assert_eq!(
            d.list_accounts_for_parent(ROOT_ID, 5, Some(&token)),
            Err(ListError::InvalidToken)
        );
        assert_eq!(
            d.list_accounts(5, Some("garbage")).map(|_| ()),
            Err(ListError::InvalidToken)
        );
    }

    #[test]
    fn parents_and_nesting() {
        let d = org(40, 3);
        let ous = d.ous();
        assert_eq!(ous.len(), 3);
        // Two under the root, one nested below the first.
        let top: Vec<_> = ous.iter().filter(|o| o.parent == ROOT_ID).collect();
        assert_eq!(top.len(), 2);
        let nested = ous.iter().find(|o| o.parent != ROOT_ID).expect("nested");
        assert_eq!(nested.parent, top[0].id);
        assert_eq!(
            d.path_of(&nested.id),
            format!("{ORGANIZATION_ID}/{ROOT_ID}/{}/{}/", top[0].id, nested.id)
        );
        let under_root = d.list_accounts_for_parent(ROOT_ID, 20, None).expect("root");
        assert!(under_root.items.iter().all(|a| a.parent == ROOT_ID));
        assert_eq!(
            d.list_accounts_for_parent("ou-s3pr-ffffffff", 20, None),
            Err(ListError::ParentNotFound("ou-s3pr-ffffffff".into()))
        );
        let kids = d.list_ous_for_parent(&top[0].id, 20, None).expect("kids");
        assert_eq!(kids.items, vec![nested.clone()]);
    }

    #[test]
    fn no_organization_is_not_in_use() {
        let d = Directory::default();
        assert_eq!(d.list_accounts(20, None), Err(ListError::NotInUse));
    }

    #[test]
    fn builder_refuses_bad_input() {
        let mut d = org(2, 0);
        assert_eq!(
            d.add_account(OrgAccountSpec::new("12", "x"), Utc::now()),
            Err(OrgError::BadAccountId("12".into()))
        );
        assert_eq!(
            d.add_account(
                OrgAccountSpec::new(generated_account_id(1), "x"),
                Utc::now()
            ),
            Err(OrgError::DuplicateAccount(generated_account_id(1)))
        );
        assert_eq!(
            d.add_account(
                OrgAccountSpec::new("999999999999", "x").in_ou("ou-x"),
                Utc::now()
            ),
            Err(OrgError::NoSuchParent("ou-x".into()))
        );
        assert!(d.add_ou("ou-nope", "x").is_err());
    }

    #[test]
    fn stuck_token_repeats_itself() {
        let mut d = org(45, 0);
        let first = d.list_accounts(20, None).expect("page");
        d.paging.stuck_token = true;
        let token = first.next_token.expect("more");
        let again = d.list_accounts(20, Some(&token)).expect("page");
        assert_eq!(again.next_token, Some(token));
        assert!(again.items.is_empty());
    }
}
