//! The handle's view of the organization (Organizations and STS): tests and benchmarks build
//! and change it. Every builder method creates the organization first if there is none, with
//! the emulator's account as its management account.

use chrono::Utc;

use super::org::{
    self, AccountStatus, OrgAccount, OrgAccountSpec, OrgError, OrgPaging, OrgUnit, RoleAccess,
};
use super::state::lock;
use super::EmulatorHandle;

impl EmulatorHandle {
    fn directory(&self) -> std::sync::MutexGuard<'_, org::Directory> {
        let mut dir = lock(&self.state.org);
        dir.ensure_org(&self.account_id, Utc::now());
        dir
    }

    /// The organization's root id (parent of the top-level OUs and accounts).
    pub fn org_root_id(&self) -> String {
        drop(self.directory());
        org::ROOT_ID.to_string()
    }

    /// Adds an OU under `parent` (the root id or an OU id); returns the new OU's id.
    pub fn add_ou(&self, parent: &str, name: &str) -> Result<String, OrgError> {
        self.directory().add_ou(parent, name)
    }

    /// Adds an account to the organization (its jobs are added with `insert_job`; its roles
    /// with [`EmulatorHandle::set_role_assumable`]).
    pub fn add_account(&self, spec: OrgAccountSpec) -> Result<(), OrgError> {
        self.directory().add_account(spec, Utc::now())
    }

    pub fn set_account_status(&self, id: &str, status: AccountStatus) -> Result<(), OrgError> {
        self.directory().set_account_status(id, status)
    }

    pub fn move_account(&self, id: &str, parent: &str) -> Result<(), OrgError> {
        self.directory().move_account(id, parent)
    }

    /// The account leaves the organization; its jobs and roles stay.
    pub fn remove_account(&self, id: &str) -> Option<OrgAccount> {
        self.directory().remove_account(id)
    }

    /// The organization's accounts, by id.
    pub fn org_accounts(&self) -> Vec<OrgAccount> {
        lock(&self.state.org).accounts()
    }

    pub fn org_ous(&self) -> Vec<OrgUnit> {
        lock(&self.state.org).ous()
    }

    /// Creates the role `role` in `account`: assumable, or present but refusing the caller
    /// (its trust policy does not name it). Either way AssumeRole of a role that was never
    /// created is refused too.
    pub fn set_role_assumable(&self, account: &str, role: &str, assumable: bool) {
        let access = if assumable {
            RoleAccess::Assumable
        } else {
            RoleAccess::Denied
        };
        lock(&self.state.org).set_role(account, role, Some(access));
    }

    /// Deletes the role: AssumeRole of it is refused.
    pub fn remove_role(&self, account: &str, role: &str) {
        lock(&self.state.org).set_role(account, role, None);
    }

    /// Short pages, empty pages or a stuck token in the Organizations listings.
    pub fn set_org_paging(&self, paging: OrgPaging) {
        lock(&self.state.org).paging = paging;
    }
}
