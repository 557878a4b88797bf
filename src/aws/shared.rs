//! What every target's client shares in one process: one HTTPS client (one TLS configuration
//! and root store, one connection pool per host), the credential provider chain (resolved once,
//! with one identity cache), and one AssumeRole provider per role ARN, whose credentials that
//! cache keeps and refreshes before they expire.
//!
//! Why: a client built from its own `aws_config` load carries its own chain, TLS set-up and
//! connection pool. With a thousand targets that is most of the process's memory and a file
//! descriptor or more each. Targets of one role (an account in several regions) share its
//! provider, so the role is assumed once per account, not once per target.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3control::config::retry::RetryConfig;
use aws_sdk_s3control::config::timeout::TimeoutConfig;
use aws_sdk_s3control::config::StalledStreamProtectionConfig;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use tokio::sync::{Mutex, OnceCell};

use super::client::{
    error_chain, verify, ClientOverrides, FixedEndpoint, ResponseGuard, SetupError,
    CREDENTIAL_SOURCES, MAX_RESPONSE_BYTES,
};
use crate::config::Target;

/// The region the shared configuration (and so AssumeRole) uses when the environment names
/// none; every S3 Control client sets its target's own region.
const FALLBACK_REGION: &str = "us-east-1";

/// Session name of every assumed role (CloudTrail shows it).
pub const SESSION_NAME: &str = "s3prio";

/// How long one AssumeRole may take before the target counts as unavailable.
const ASSUME_TIMEOUT: Duration = Duration::from_secs(30);

/// Credentials the identity cache keeps: one entry (partition) per provider, so one per role
/// plus the process's own chain. The cache's default keeps 64 and evicts beyond that, which at
/// a thousand roles would make every call assume its role again; this is far above the
/// documented 1,000 targets per process.
const MAX_CACHED_IDENTITIES: usize = 16_384;

/// A role as one provider serves it: its ARN and the STS endpoint it is assumed through.
type RoleKey = (String, Option<String>);

/// The parts every client of the process is built from. Cheap to create: the configuration is
/// loaded on the first client.
pub struct SharedClients {
    overrides: ClientOverrides,
    http: SharedHttpClient,
    base: OnceCell<SdkConfig>,
    roles: Mutex<HashMap<RoleKey, SharedCredentialsProvider>>,
}

impl std::fmt::Debug for SharedClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedClients")
            .field("loaded", &self.base.initialized())
            .finish_non_exhaustive()
    }
}

/// One HTTPS client for the whole process: the SDK's default stack (hyper, rustls with
/// aws-lc-rs, proxy settings from the environment), built once instead of once per client.
fn shared_https_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = aws_smithy_http_client::Connector::builder()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

impl SharedClients {
    pub fn new(overrides: ClientOverrides) -> Self {
        SharedClients {
            overrides,
            http: shared_https_client(),
            base: OnceCell::new(),
            roles: Mutex::new(HashMap::new()),
        }
    }

    /// The process's configuration: the default chain (or the override's credentials), the
    /// shared HTTP client and one identity cache, loaded once.
    pub async fn sdk_config(&self) -> &SdkConfig {
        self.base
            .get_or_init(|| async {
                let mut loader = aws_config::defaults(BehaviorVersion::latest())
                    .http_client(self.http.clone())
                    .identity_cache(
                        aws_config::identity::IdentityCache::lazy()
                            .max_partitions(MAX_CACHED_IDENTITIES)
                            .build(),
                    );
                if let Some(creds) = &self.overrides.credentials {
                    loader = loader.credentials_provider(creds.clone());
                }
                let cfg = loader.load().await;
                if cfg.region().is_some() {
                    cfg
                } else {
                    cfg.into_builder()
                        .region(Region::new(FALLBACK_REGION))
                        .build()
                }
            })
            .await
    }

    /// Role providers made so far (one per role ARN and STS endpoint).
    pub async fn role_count(&self) -> usize {
        self.roles.lock().await.len()
    }

    /// The provider of `role_arn` through `sts_endpoint`, made on first use.
    async fn role_provider(
        &self,
        role_arn: &str,
        sts_endpoint: Option<&str>,
    ) -> SharedCredentialsProvider {
        let key = (role_arn.to_string(), sts_endpoint.map(str::to_string));
        let mut roles = self.roles.lock().await;
        if let Some(p) = roles.get(&key) {
            return p.clone();
        }
        let base = self.sdk_config().await;
        let sts = match sts_endpoint {
            Some(url) => base.to_builder().endpoint_url(url).build(),
            None => base.clone(),
        };
        let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name(SESSION_NAME)
            .configure(&sts)
            .build()
            .await;
        let shared = SharedCredentialsProvider::new(provider);
        roles.insert(key, shared.clone());
        shared
    }

    /// The S3 Control client of `target`, from the shared parts, after checking that its
    /// credentials can be had: the process's chain, and the target's role when it has one (an
    /// AssumeRole the first time, cached credentials after). The error names the target.
    pub async fn client_for(
        &self,
        target: &Target,
    ) -> Result<aws_sdk_s3control::Client, SetupError> {
        let base = self.sdk_config().await;
        let Some(chain) = base.credentials_provider() else {
            return Err(SetupError::Credentials {
                target: target.name.clone(),
                sources: CREDENTIAL_SOURCES,
                detail: "no credential provider is configured".into(),
            });
        };
        verify(&target.name, chain.provide_credentials()).await?;
        let mut builder = aws_sdk_s3control::config::Builder::from(base)
            .region(Region::new(target.region.clone()))
            .interceptor(ResponseGuard {
                limit: MAX_RESPONSE_BYTES,
            })
            // Retries are owned by `aws::call` (see there why).
            .retry_config(RetryConfig::disabled())
            // Job responses are small XML documents, bounded by the attempt timeout and the
            // response guard; the stall watch's timers on every body cost more than they give.
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(target.request_timeout)
                    .build(),
            );
        if let Some(url) = &target.endpoint_url {
            builder = builder.endpoint_resolver(FixedEndpoint(url.clone()));
        }
        if let Some(role_arn) = &target.role_arn {
            let provider = self
                .role_provider(role_arn, target.sts_endpoint_url.as_deref())
                .await;
            assume(target, role_arn, &provider).await?;
            // The shared provider as it is: wrapping it again would give it a cache partition
            // of its own per client, and each client would assume the role for itself.
            builder.set_credentials_provider(Some(provider));
        }
        Ok(aws_sdk_s3control::Client::from_conf(builder.build()))
    }
}

/// Gets the role's credentials now (cached after the first AssumeRole), so a role that cannot
/// be assumed is one clear error naming the target and the role.
async fn assume(
    target: &Target,
    role_arn: &str,
    provider: &SharedCredentialsProvider,
) -> Result<(), SetupError> {
    let failed = |detail: String| SetupError::AssumeRole {
        target: target.name.clone(),
        role_arn: role_arn.to_string(),
        detail,
    };
    match tokio::time::timeout(ASSUME_TIMEOUT, provider.provide_credentials()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(failed(error_chain(&e))),
        Err(_) => Err(failed(format!(
            "STS did not answer within {} s",
            ASSUME_TIMEOUT.as_secs()
        ))),
    }
}
