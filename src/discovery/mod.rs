//! Target discovery: turns a target-set description (which accounts of an AWS organization,
//! which regions, which role to assume in each) into concrete targets.
//!
//! Why a module of its own: platform teams run S3 Batch Operations in hundreds of accounts and
//! should not list every `(account, region)` by hand. Discovery has two halves kept apart so
//! each can be tested on its own:
//! - [`organizations`] lists accounts through the real `aws-sdk-organizations` client (paging
//!   to the end with bounded, loop-checked pages, and errors that say what to do);
//! - [`expand`] is pure: filters (status ACTIVE, account allow/deny lists, a glob on the name)
//!   and the product with regions and the role ARN template, in a stable order.
//!
//! The per-set pacing (rate limit, backoff) is a type parameter `P` carried through untouched:
//! discovery does not depend on the config schema, the config does not depend on discovery's
//! calls.
//!
//! Layout: [`spec`] the description of a set and its validation; [`expand`] the pure half;
//! [`organizations`] the calls.

pub mod expand;
pub mod organizations;
pub mod spec;

pub use expand::{expand, merge, select, DiscoveredTarget, Duplicate, Merged};
pub use organizations::{
    discover, organizations_client, AccountListing, Discovery, DiscoveryError, DiscoveryErrorKind,
    OrgDirectory, DEFAULT_MAX_PAGES,
};
pub use spec::{
    validate_account_id, validate_ou_id, validate_region, AccountStatus, OrgAccount,
    RoleArnTemplate, Scope, TargetSet,
};
