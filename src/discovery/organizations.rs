//! Listing an organization's accounts through the real `aws-sdk-organizations` client.
//!
//! Why the paging is ours and not the SDK paginator's: Organizations pages hold at most 20
//! items (1,000 accounts take 50 pages or more) and may come back short or empty with a token
//! still set, so the loop must go on until no token comes back; but a service that hands back
//! a token it already gave would keep it going for ever. [`collect_pages`] keeps every token
//! of a listing, stops with an error on a repeat, and bounds the pages of one listing.
//!
//! Retries: the SDK's standard retry (3 attempts, throttling included) stays on for these
//! calls. Discovery runs rarely and off the reconcile path, so no pacing of ours is involved.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_organizations::config::timeout::TimeoutConfig;
use aws_sdk_organizations::config::Region;
use aws_sdk_organizations::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::expand::{expand, DiscoveredTarget};
use super::spec::{AccountStatus, OrgAccount, Scope, TargetSet};

/// The most pages one listing may take: 20,000 accounts at the service's 20 per page, far
/// beyond the organizations this is built for (a few thousand accounts).
pub const DEFAULT_MAX_PAGES: usize = 1_000;

/// The most OUs a recursive listing visits.
pub const MAX_UNITS: usize = 5_000;

/// Organizations' largest page (also what discovery asks for).
pub const PAGE_SIZE: i32 = 20;

/// The Organizations client: the service is global and answers in us-east-1 (or at
/// `endpoint_url`, the emulator in tests). Credentials and HTTP client come from `sdk_config`,
/// the process's shared configuration.
pub fn organizations_client(
    sdk_config: &SdkConfig,
    endpoint_url: Option<&str>,
) -> aws_sdk_organizations::Client {
    let mut builder = aws_sdk_organizations::config::Builder::from(sdk_config)
        .region(Region::new("us-east-1"))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(20))
                .build(),
        );
    if let Some(url) = endpoint_url {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_organizations::Client::from_conf(builder.build())
}

/// What went wrong, without the set's name (see [`DiscoveryError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryErrorKind {
    #[error(
        "{operation} was refused (AccessDeniedException): only the management account or a \
delegated administrator may list accounts. Run s3prio with credentials of the management account \
(or register its account as a delegated administrator) that allow organizations:{operation} \
(deploy/iam/organizations-discovery-policy.json)"
    )]
    AccessDenied { operation: &'static str },
    #[error(
        "the credentials' account is not in an organization (AWSOrganizationsNotInUseException): \
target sets need AWS Organizations; list the accounts as [[targets]] instead"
    )]
    NotInUse,
    #[error(
        "`{parent}` is not a root or OU of the organization (ParentNotFoundException); check \
`ou_ids` against `aws organizations list-roots` and `list-organizational-units-for-parent`"
    )]
    ParentNotFound { parent: String },
    #[error(
        "{operation}{} handed back a NextToken it had already given (page {page}); the listing \
would never end, so it was stopped. Try again at the next discovery; if it persists, report it \
to AWS Support", for_parent(.parent)
    )]
    RepeatedToken {
        operation: &'static str,
        parent: Option<String>,
        page: usize,
    },
    #[error(
        "{operation}{} still had a NextToken after {max_pages} pages; stopped there. Narrow the \
set to OUs (`ou_ids`) or raise the page bound", for_parent(.parent)
    )]
    TooManyPages {
        operation: &'static str,
        parent: Option<String>,
        max_pages: usize,
    },
    #[error("more than {max} OUs below the set's `ou_ids`; narrow the set")]
    TooManyUnits { max: usize },
    #[error(
        "{operation} was throttled (TooManyRequestsException) after the SDK's retries; the \
next discovery tries again. Organizations allows few calls per second per account: run fewer \
discoveries at once"
    )]
    Throttled { operation: &'static str },
    #[error("{operation}{} failed: {detail}", for_parent(.parent))]
    Call {
        operation: &'static str,
        parent: Option<String>,
        detail: String,
    },
}

fn for_parent(parent: &Option<String>) -> String {
    parent
        .as_ref()
        .map(|p| format!(" for parent {p}"))
        .unwrap_or_default()
}

/// Discovery of one target set failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("target set `{set}`: {kind}")]
pub struct DiscoveryError {
    pub set: String,
    pub kind: DiscoveryErrorKind,
}

/// Maps an SDK error to what it means for discovery.
fn classify<E, R>(
    operation: &'static str,
    parent: Option<&str>,
    err: SdkError<E, R>,
) -> DiscoveryErrorKind
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err.code() {
        Some("AccessDeniedException") => DiscoveryErrorKind::AccessDenied { operation },
        Some("AWSOrganizationsNotInUseException") => DiscoveryErrorKind::NotInUse,
        Some("ParentNotFoundException") => DiscoveryErrorKind::ParentNotFound {
            parent: parent.unwrap_or("?").to_string(),
        },
        Some("TooManyRequestsException") => DiscoveryErrorKind::Throttled { operation },
        _ => DiscoveryErrorKind::Call {
            operation,
            parent: parent.map(str::to_string),
            detail: DisplayErrorContext(&err).to_string(),
        },
    }
}

/// One page as a listing returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

/// Pages through one listing to its end: `fetch(token)` gets one page. Stops with an error when
/// a token repeats or after `max_pages` pages. Returns the items and the number of pages.
pub async fn collect_pages<T, F, Fut>(
    operation: &'static str,
    parent: Option<&str>,
    max_pages: usize,
    mut fetch: F,
) -> Result<(Vec<T>, usize), DiscoveryErrorKind>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<PageOf<T>, DiscoveryErrorKind>>,
{
    let mut items = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut token: Option<String> = None;
    for page in 1..=max_pages {
        let got = fetch(token.take()).await?;
        items.extend(got.items);
        match got.next_token {
            None => return Ok((items, page)),
            Some(next) => {
                if !seen.insert(next.clone()) {
                    return Err(DiscoveryErrorKind::RepeatedToken {
                        operation,
                        parent: parent.map(str::to_string),
                        page,
                    });
                }
                token = Some(next);
            }
        }
    }
    Err(DiscoveryErrorKind::TooManyPages {
        operation,
        parent: parent.map(str::to_string),
        max_pages,
    })
}

/// The accounts a scope covers, with what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountListing {
    /// In listing order; an account reached twice (overlapping `ou_ids`) appears once.
    pub accounts: Vec<OrgAccount>,
    /// Organizations requests made (pages of every listing).
    pub requests: usize,
    /// OUs and roots whose accounts were listed (0 for the whole organization).
    pub units_visited: usize,
}

/// The organization as discovery reads it.
#[derive(Debug, Clone)]
pub struct OrgDirectory {
    client: aws_sdk_organizations::Client,
    max_pages: usize,
}

fn account_of(
    a: &aws_sdk_organizations::types::Account,
    parent: Option<&str>,
) -> Option<OrgAccount> {
    Some(OrgAccount {
        id: a.id()?.to_string(),
        name: a.name().unwrap_or_default().to_string(),
        status: a
            .status()
            .map(|s| AccountStatus::parse(s.as_str()))
            .unwrap_or(AccountStatus::Other("(none)".into())),
        parent: parent.map(str::to_string),
    })
}

impl OrgDirectory {
    pub fn new(client: aws_sdk_organizations::Client) -> Self {
        OrgDirectory {
            client,
            max_pages: DEFAULT_MAX_PAGES,
        }
    }

    /// Bounds the pages of one listing (default [`DEFAULT_MAX_PAGES`]).
    pub fn with_max_pages(mut self, max_pages: usize) -> Self {
        self.max_pages = max_pages.max(1);
        self
    }

    /// Every account of the organization (`ListAccounts`).
    pub async fn all_accounts(&self) -> Result<(Vec<OrgAccount>, usize), DiscoveryErrorKind> {
        const OP: &str = "ListAccounts";
        collect_pages(OP, None, self.max_pages, |token| async move {
            let out = self
                .client
                .list_accounts()
                .max_results(PAGE_SIZE)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| classify(OP, None, e))?;
            Ok(PageOf {
                items: out
                    .accounts()
                    .iter()
                    .filter_map(|a| account_of(a, None))
                    .collect(),
                next_token: out.next_token().map(str::to_string),
            })
        })
        .await
    }

    /// The accounts directly under `parent` (`ListAccountsForParent`).
    pub async fn accounts_in(
        &self,
        parent: &str,
    ) -> Result<(Vec<OrgAccount>, usize), DiscoveryErrorKind> {
        const OP: &str = "ListAccountsForParent";
        collect_pages(OP, Some(parent), self.max_pages, |token| async move {
            let out = self
                .client
                .list_accounts_for_parent()
                .parent_id(parent)
                .max_results(PAGE_SIZE)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| classify(OP, Some(parent), e))?;
            Ok(PageOf {
                items: out
                    .accounts()
                    .iter()
                    .filter_map(|a| account_of(a, Some(parent)))
                    .collect(),
                next_token: out.next_token().map(str::to_string),
            })
        })
        .await
    }

    /// The OU ids directly under `parent` (`ListOrganizationalUnitsForParent`).
    pub async fn units_in(&self, parent: &str) -> Result<(Vec<String>, usize), DiscoveryErrorKind> {
        const OP: &str = "ListOrganizationalUnitsForParent";
        collect_pages(OP, Some(parent), self.max_pages, |token| async move {
            let out = self
                .client
                .list_organizational_units_for_parent()
                .parent_id(parent)
                .max_results(PAGE_SIZE)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| classify(OP, Some(parent), e))?;
            Ok(PageOf {
                items: out
                    .organizational_units()
                    .iter()
                    .filter_map(|ou| ou.id().map(str::to_string))
                    .collect(),
                next_token: out.next_token().map(str::to_string),
            })
        })
        .await
    }

    /// The accounts `scope` covers. OUs are walked breadth first, each once.
    pub async fn list(&self, scope: &Scope) -> Result<AccountListing, DiscoveryErrorKind> {
        let (ou_ids, recursive) = match scope {
            Scope::Organization => {
                let (accounts, pages) = self.all_accounts().await?;
                return Ok(AccountListing {
                    accounts,
                    requests: pages,
                    units_visited: 0,
                });
            }
            Scope::Units { ou_ids, recursive } => (ou_ids, *recursive),
        };
        let mut queue: VecDeque<String> = ou_ids.iter().cloned().collect();
        let mut visited: HashSet<String> = HashSet::new();
        let mut seen_accounts: HashSet<String> = HashSet::new();
        let mut listing = AccountListing {
            accounts: Vec::new(),
            requests: 0,
            units_visited: 0,
        };
        while let Some(parent) = queue.pop_front() {
            if !visited.insert(parent.clone()) {
                continue;
            }
            if visited.len() > MAX_UNITS {
                return Err(DiscoveryErrorKind::TooManyUnits { max: MAX_UNITS });
            }
            let (accounts, pages) = self.accounts_in(&parent).await?;
            listing.requests += pages;
            listing.units_visited += 1;
            listing.accounts.extend(
                accounts
                    .into_iter()
                    .filter(|a| seen_accounts.insert(a.id.clone())),
            );
            if recursive {
                let (units, pages) = self.units_in(&parent).await?;
                listing.requests += pages;
                queue.extend(units);
            }
        }
        Ok(listing)
    }
}

/// One set's discovery: its targets and what it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery<P> {
    pub targets: Vec<DiscoveredTarget<P>>,
    /// Accounts the listing returned (before the set's filters).
    pub accounts_listed: usize,
    pub requests: usize,
}

/// Lists the accounts `set` covers and expands them to targets.
pub async fn discover<P: Clone>(
    directory: &OrgDirectory,
    set: &TargetSet<P>,
) -> Result<Discovery<P>, DiscoveryError> {
    let listing = directory
        .list(&set.scope)
        .await
        .map_err(|kind| DiscoveryError {
            set: set.name.clone(),
            kind,
        })?;
    Ok(Discovery {
        targets: expand(set, &listing.accounts),
        accounts_listed: listing.accounts.len(),
        requests: listing.requests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listing served from a list of pages: page i's token is `t{i+1}`.
    fn pages(sizes: &[usize]) -> Vec<PageOf<usize>> {
        let mut n = 0;
        sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| {
                let items = (n..n + size).collect();
                n += size;
                PageOf {
                    items,
                    next_token: (i + 1 < sizes.len()).then(|| format!("t{}", i + 1)),
                }
            })
            .collect()
    }

    fn serve(
        pages: &[PageOf<usize>],
        token: Option<String>,
    ) -> Result<PageOf<usize>, DiscoveryErrorKind> {
        let i = match token {
            None => 0,
            Some(t) => t[1..].parse::<usize>().expect("token"),
        };
        Ok(pages[i].clone())
    }

    #[tokio::test]
    async fn pages_to_the_end_through_short_and_empty_pages() {
        let p = pages(&[20, 0, 3, 0, 20, 7]);
        let (items, n) = collect_pages("ListAccounts", None, 100, |t| {
            let r = serve(&p, t);
            async move { r }
        })
        .await
        .expect("ends");
        assert_eq!(n, 6);
        assert_eq!(items, (0..50).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_repeated_token_stops_the_listing() {
        // The third page hands back the first page's token.
        let mut p = pages(&[20, 20, 20]);
        p[2].next_token = Some("t1".into());
        let err = collect_pages(
            "ListAccountsForParent",
            Some("ou-ab12-cd34ef56"),
            100,
            |t| {
                let r = serve(&p, t);
                async move { r }
            },
        )
        .await
        .expect_err("loops");
        assert_eq!(
            err,
            DiscoveryErrorKind::RepeatedToken {
                operation: "ListAccountsForParent",
                parent: Some("ou-ab12-cd34ef56".into()),
                page: 3,
            }
        );
        let text = err.to_string();
        assert!(text.contains("for parent ou-ab12-cd34ef56"), "{text}");
        assert!(text.contains("already given (page 3)"), "{text}");
    }

    #[tokio::test]
    async fn pages_are_bounded() {
        let p = pages(&[1; 12]);
        let err = collect_pages("ListAccounts", None, 5, |t| {
            let r = serve(&p, t);
            async move { r }
        })
        .await
        .expect_err("too many");
        assert_eq!(
            err,
            DiscoveryErrorKind::TooManyPages {
                operation: "ListAccounts",
                parent: None,
                max_pages: 5,
            }
        );
    }

    #[tokio::test]
    async fn an_error_on_a_page_ends_the_listing() {
        let mut calls = 0;
        let err = collect_pages::<usize, _, _>("ListAccounts", None, 10, |_| {
            calls += 1;
            async {
                Err(DiscoveryErrorKind::AccessDenied {
                    operation: "ListAccounts",
                })
            }
        })
        .await
        .expect_err("denied");
        assert_eq!(calls, 1);
        assert!(err.to_string().contains(
            "only the management account or a delegated administrator may list accounts"
        ));
    }
}
