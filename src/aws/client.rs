//! Building the real `aws-sdk-s3control` client for one target.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_s3control::config::endpoint::{Endpoint, EndpointFuture, Params, ResolveEndpoint};
use aws_sdk_s3control::config::retry::RetryConfig;
use aws_sdk_s3control::config::timeout::TimeoutConfig;
use aws_sdk_s3control::config::Credentials;

use std::pin::Pin;
use std::task::{Context, Poll};

use aws_sdk_s3control::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

use crate::config::Target;

/// Where the credential chain looks, in order (aws-config's default chain).
pub const CREDENTIAL_SOURCES: &str = "environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), \
shared profile (AWS_PROFILE, ~/.aws/config, ~/.aws/credentials, including SSO), \
web identity token (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN: EKS IRSA), \
container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI/RELATIVE_URI: EKS Pod Identity, ECS), \
EC2 instance metadata (IMDS)";

/// A client could not be set up for a target.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "target `{target}`: no usable AWS credentials. Tried: {sources}. Last error: {detail}. \
Fix: export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, set AWS_PROFILE, or run with an IAM role \
(IRSA / Pod Identity / instance profile)"
    )]
    Credentials {
        target: String,
        sources: &'static str,
        detail: String,
    },
    #[error(
        "target `{target}`: the SDK has no HTTP client (a build without its default HTTPS client)"
    )]
    HttpClient { target: String },
    #[error("target `{target}`: assuming role {role_arn} failed: {detail}")]
    AssumeRole {
        target: String,
        role_arn: String,
        detail: String,
    },
}

/// Test and demo hooks: credentials to use instead of the default chain.
#[derive(Debug, Clone, Default)]
pub struct ClientOverrides {
    pub credentials: Option<Credentials>,
    /// Where [`SharedClients`] sends AssumeRole (the emulator in tests); default: AWS STS.
    pub sts_endpoint_url: Option<String>,
}

impl ClientOverrides {
    /// Static dummy credentials, for the emulator (which does not check signatures).
    pub fn emulator() -> Self {
        ClientOverrides {
            credentials: Some(Credentials::new(
                "AKIDS3PRIOEMULATOR",
                "emulator-secret",
                None,
                None,
                "s3prio-emulator",
            )),
            sts_endpoint_url: None,
        }
    }

    /// [`ClientOverrides::emulator`] whose roles are assumed through the emulator's STS.
    pub fn emulator_with_sts(endpoint_url: &str) -> Self {
        ClientOverrides {
            sts_endpoint_url: Some(endpoint_url.to_string()),
            ..Self::emulator()
        }
    }
}

/// Calls the configured URL as given. The SDK's endpoint rules would put the account id in
/// front of the host (`123456789012.127.0.0.1`), which a local or VPC endpoint URL does not want.
/// Also what the tests and benchmarks point their own clients at the emulator with.
#[derive(Debug)]
pub struct FixedEndpoint(pub String);

impl ResolveEndpoint for FixedEndpoint {
    fn resolve_endpoint<'a>(&'a self, _: &'a Params) -> EndpointFuture<'a> {
        EndpointFuture::ready(Ok(Endpoint::builder().url(self.0.clone()).build()))
    }
}

/// The largest response body s3prio reads from S3 Control. The largest legitimate one is a
/// `ListJobs` page of 1,000 jobs, each with a 256-character description: about 2.5 MiB of XML.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// A response body was larger than [`MAX_RESPONSE_BYTES`]: the call fails and is not retried.
#[derive(Debug, thiserror::Error)]
#[error("the response from {endpoint} is larger than {} MiB, the limit for any S3 Control response; reading stopped there", .limit / (1024 * 1024))]
pub struct ResponseTooLarge {
    pub endpoint: String,
    pub limit: usize,
}

/// The scheme and authority a response came from, attached to every response so error
/// messages can name the endpoint.
#[derive(Debug, Clone)]
pub struct RequestEndpoint(pub String);

/// Caps every response body at [`MAX_RESPONSE_BYTES`] and records where each response came
/// from. An interceptor, so the SDK keeps its own HTTP client (one HTTP and TLS stack): the
/// body is wrapped before the SDK reads it. Every S3 Control job operation has a
/// non-streaming response, which the SDK reads in full before parsing; this only bounds it.
#[derive(Debug)]
struct ResponseGuard {
    limit: usize,
}

impl Storable for RequestEndpoint {
    type Storer = StoreReplace<Self>;
}

impl Intercept for ResponseGuard {
    fn name(&self) -> &'static str {
        "s3prio::ResponseGuard"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(RequestEndpoint(endpoint_of(context.request().uri())));
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let endpoint = cfg
            .load::<RequestEndpoint>()
            .cloned()
            .unwrap_or_else(|| RequestEndpoint("the endpoint".to_string()));
        let response = context.response_mut();
        let body = response.take_body();
        *response.body_mut() = SdkBody::from_body_1_x(CappedBody {
            inner: body,
            read: 0,
            limit: self.limit,
            endpoint: endpoint.0.clone(),
        });
        response.add_extension(endpoint);
        Ok(())
    }
}

/// A response body that fails with [`ResponseTooLarge`] once more than `limit` bytes came.
struct CappedBody {
    inner: SdkBody,
    read: usize,
    limit: usize,
    endpoint: String,
}

impl http_body::Body for CappedBody {
    type Data = <SdkBody as http_body::Body>::Data;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.read = this.read.saturating_add(data.len());
                    if this.read > this.limit {
                        return Poll::Ready(Some(Err(Box::new(ResponseTooLarge {
                            endpoint: this.endpoint.clone(),
                            limit: this.limit,
                        }))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.inner)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.inner)
    }
}

/// `scheme://authority` of a request URI.
fn endpoint_of(uri: &str) -> String {
    let after_scheme = uri.find("://").map_or(0, |i| i + 3);
    let end = uri[after_scheme..]
        .find(['/', '?'])
        .map_or(uri.len(), |i| after_scheme + i);
    uri[..end].to_string()
}

/// Builds the client for `target`, and checks once that credentials can be loaded so a missing
/// credential is reported at start, in one sentence, instead of on every call.
pub async fn build_client(
    target: &Target,
    overrides: &ClientOverrides,
) -> Result<aws_sdk_s3control::Client, SetupError> {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).region(Region::new(target.region.clone()));
    if let Some(creds) = &overrides.credentials {
        loader = loader.credentials_provider(creds.clone());
    }
    let sdk_config = loader.load().await;

    let mut builder = aws_sdk_s3control::config::Builder::from(&sdk_config)
        .interceptor(ResponseGuard {
            limit: MAX_RESPONSE_BYTES,
        })
        // Retries are owned by `aws::call` (see there why).
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(target.request_timeout)
                .build(),
        );
    if let Some(url) = &target.endpoint_url {
        builder = builder.endpoint_resolver(FixedEndpoint(url.clone()));
    }

    let provider = sdk_config.credentials_provider();
    match (&target.role_arn, provider) {
        (_, None) => {
            return Err(SetupError::Credentials {
                target: target.name.clone(),
                sources: CREDENTIAL_SOURCES,
                detail: "no credential provider is configured".into(),
            })
        }
        (None, Some(p)) => {
            verify(&target.name, p.provide_credentials()).await?;
        }
        (Some(role_arn), Some(p)) => {
            verify(&target.name, p.provide_credentials()).await?;
            let assume = aws_config::sts::AssumeRoleProvider::builder(role_arn.clone())
                .session_name("s3prio")
                .region(Region::new(target.region.clone()))
                .configure(&sdk_config)
                .build()
                .await;
            if let Err(e) =
                tokio::time::timeout(Duration::from_secs(30), assume.provide_credentials())
                    .await
                    .unwrap_or_else(|_| {
                        Err(
                    aws_credential_types::provider::error::CredentialsError::provider_timed_out(
                        Duration::from_secs(30),
                    ),
                )
                    })
            {
                return Err(SetupError::AssumeRole {
                    target: target.name.clone(),
                    role_arn: role_arn.clone(),
                    detail: error_chain(&e),
                });
            }
            builder = builder.credentials_provider(assume);
        }
    }
    Ok(aws_sdk_s3control::Client::from_conf(builder.build()))
}

/// The region the shared configuration (and so AssumeRole) uses when the environment names
/// none; every S3 Control client sets its target's own region.
const FALLBACK_REGION: &str = "us-east-1";

/// Session name of every assumed role (CloudTrail shows it).
const SESSION_NAME: &str = "s3prio";

/// What every target's client shares in one process: the credential provider chain (resolved
/// once, not once per target), one HTTP client (one TLS configuration and root store, one
/// connection pool per host) and one identity cache; and one assume-role provider per role ARN,
/// whose credentials the shared identity cache keeps and refreshes before they expire.
///
/// Why: [`build_client`] loads a whole `aws_config` per target, so each target carries its own
/// chain, TLS setup and connection pool. With a thousand targets that is most of the process's
/// memory and a file descriptor each. Build one `SharedClients` at start and call
/// [`SharedClients::client_for`] for every target (static or discovered); targets of one role
/// (an account in several regions) share its provider and cached credentials.
pub struct SharedClients {
    sdk_config: aws_config::SdkConfig,
    /// `sdk_config` with the STS endpoint override, for the assume-role providers.
    sts_config: aws_config::SdkConfig,
    roles: tokio::sync::Mutex<
        std::collections::HashMap<
            String,
            aws_credential_types::provider::SharedCredentialsProvider,
        >,
    >,
}

impl std::fmt::Debug for SharedClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedClients")
            .field("region", &self.sdk_config.region())
            .finish_non_exhaustive()
    }
}

/// One HTTPS client for the whole process: the SDK's default stack (hyper 1, rustls with
/// aws-lc-rs, proxy settings from the environment), built once instead of once per client.
fn shared_https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
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
    /// Loads the configuration once and checks once that credentials can be had, so a missing
    /// credential is one error at start.
    pub async fn load(overrides: &ClientOverrides) -> Result<Self, SetupError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(shared_https_client())
            .identity_cache(aws_config::identity::IdentityCache::lazy().build());
        if let Some(creds) = &overrides.credentials {
            loader = loader.credentials_provider(creds.clone());
        }
        let mut sdk_config = loader.load().await;
        if sdk_config.region().is_none() {
            sdk_config = sdk_config
                .into_builder()
                .region(Region::new(FALLBACK_REGION))
                .build();
        }
        const ALL: &str = "(every target)";
        match sdk_config.credentials_provider() {
            None => {
                return Err(SetupError::Credentials {
                    target: ALL.into(),
                    sources: CREDENTIAL_SOURCES,
                    detail: "no credential provider is configured".into(),
                })
            }
            Some(p) => verify(ALL, p.provide_credentials()).await?,
        }
        let sts_config = match &overrides.sts_endpoint_url {
            Some(url) => sdk_config.to_builder().endpoint_url(url.clone()).build(),
            None => sdk_config.clone(),
        };
        Ok(SharedClients {
            sdk_config,
            sts_config,
            roles: tokio::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// The shared configuration, for other AWS clients of the process (Organizations).
    pub fn sdk_config(&self) -> &aws_config::SdkConfig {
        &self.sdk_config
    }

    /// Role providers made so far (one per role ARN).
    pub async fn role_count(&self) -> usize {
        self.roles.lock().await.len()
    }

    /// The provider for `role_arn`, made on first use. Its first AssumeRole happens on the
    /// first call that needs it (or in [`SharedClients::check_role`]).
    async fn role_provider(
        &self,
        role_arn: &str,
    ) -> aws_credential_types::provider::SharedCredentialsProvider {
        let mut roles = self.roles.lock().await;
        if let Some(p) = roles.get(role_arn) {
            return p.clone();
        }
        let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name(SESSION_NAME)
            .configure(&self.sts_config)
            .build()
            .await;
        let shared = aws_credential_types::provider::SharedCredentialsProvider::new(provider);
        roles.insert(role_arn.to_string(), shared.clone());
        shared
    }

    /// The S3 Control client of `target`, from the shared parts. No call is made: a role that
    /// cannot be assumed shows on the target's first call (or ask [`SharedClients::check_role`]
    /// first), so one broken account does not hold up the others' start.
    pub async fn client_for(
        &self,
        target: &Target,
    ) -> Result<aws_sdk_s3control::Client, SetupError> {
        let mut builder = aws_sdk_s3control::config::Builder::from(&self.sdk_config)
            .region(Region::new(target.region.clone()))
            .interceptor(ResponseGuard {
                limit: MAX_RESPONSE_BYTES,
            })
            // Retries are owned by `aws::call` (see there why).
            .retry_config(RetryConfig::disabled())
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
            // The shared provider as it is: wrapping it again would give it a cache partition
            // of its own per client, and each client would assume the role for itself.
            builder.set_credentials_provider(Some(self.role_provider(role_arn).await));
        }
        Ok(aws_sdk_s3control::Client::from_conf(builder.build()))
    }

    /// Assumes `target`'s role now (when it has one), for a start-up check or a readiness
    /// reason: the error names the target and the role.
    pub async fn check_role(&self, target: &Target) -> Result<(), SetupError> {
        let Some(role_arn) = &target.role_arn else {
            return Ok(());
        };
        let provider = self.role_provider(role_arn).await;
        let limit = Duration::from_secs(30);
        match tokio::time::timeout(limit, provider.provide_credentials()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(SetupError::AssumeRole {
                target: target.name.clone(),
                role_arn: role_arn.clone(),
                detail: error_chain(&e),
            }),
            Err(_) => Err(SetupError::AssumeRole {
                target: target.name.clone(),
                role_arn: role_arn.clone(),
                detail: format!("STS did not answer within {} s", limit.as_secs()),
            }),
        }
    }
}

async fn verify(
    target: &str,
    fut: aws_credential_types::provider::future::ProvideCredentials<'_>,
) -> Result<(), SetupError> {
    match tokio::time::timeout(Duration::from_secs(30), fut).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(SetupError::Credentials {
            target: target.to_string(),
            sources: CREDENTIAL_SOURCES,
            detail: error_chain(&e),
        }),
        Err(_) => Err(SetupError::Credentials {
            target: target.to_string(),
            sources: CREDENTIAL_SOURCES,
            detail: "the credential chain did not answer within 30 s".into(),
        }),
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        src = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_s3control::config::interceptors::BeforeTransmitInterceptorContextRef;
    use aws_sdk_s3control::config::{ConfigBag, Intercept, RuntimeComponents};
    use aws_smithy_runtime_api::box_error::BoxError;
    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::config::{Backoff, RateLimit};

    fn target(endpoint_url: Option<String>) -> Target {
        Target {
            name: "tls-check".into(),
            account_id: "123456789012".into(),
            region: "eu-west-1".into(),
            role_arn: None,
            endpoint_url,
            rate_limit: RateLimit {
                requests_per_second: 10.0,
                burst: 1,
                write_requests_per_second: None,
            },
            backoff: Backoff {
                base: Duration::from_millis(100),
                max_delay: Duration::from_secs(1),
                max_attempts: 1,
            },
            request_timeout: Duration::from_secs(5),
        }
    }

    /// Records where a call would go and stops it before anything is sent.
    #[derive(Debug, Default, Clone)]
    struct StopBeforeTransmit(Arc<Mutex<Option<(String, bool)>>>);

    impl Intercept for StopBeforeTransmit {
        fn name(&self) -> &'static str {
            "StopBeforeTransmit"
        }

        fn read_before_transmit(
            &self,
            context: &BeforeTransmitInterceptorContextRef<'_>,
            runtime_components: &RuntimeComponents,
            _cfg: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            let seen = (
                context.request().uri().to_string(),
                runtime_components.http_client().is_some(),
            );
            *self.0.lock().expect("lock") = Some(seen);
            Err("stopped before transmit".into())
        }
    }

    /// Without `endpoint_url`, a job call goes where the SDK's endpoint rules say (the account's
    /// HTTPS S3 Control host) through the SDK's default HTTP client; the next test shows that
    /// client speaks TLS.
    #[tokio::test]
    async fn default_resolver_sends_job_calls_to_the_https_aws_endpoint() {
        let client = build_client(&target(None), &ClientOverrides::emulator())
            .await
            .expect("client builds with static credentials");
        let stop = StopBeforeTransmit::default();
        let result = client
            .list_jobs()
            .account_id("123456789012")
            .customize()
            .interceptor(stop.clone())
            .send()
            .await;
        assert!(result.is_err(), "the interceptor stops the call");
        let (uri, has_http_client) = stop
            .0
            .lock()
            .expect("lock")
            .clone()
            .expect("the call reached the point of sending");
        assert!(
            uri.starts_with("https://123456789012.s3-control.eu-west-1.amazonaws.com/"),
            "job call would go to {uri}"
        );
        assert!(has_http_client, "no HTTP client is configured");
    }

    /// An `https://` endpoint is reached through TLS: the first bytes the client sends are a
    /// TLS handshake record (ClientHello), not an HTTP request line. The listener never answers,
    /// so no request is sent.
    #[tokio::test]
    async fn https_endpoint_is_reached_through_tls() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("https://{}", listener.local_addr().expect("addr"));
        let client = build_client(&target(Some(url)), &ClientOverrides::emulator())
            .await
            .expect("client builds");
        let call =
            tokio::spawn(async move { client.list_jobs().account_id("123456789012").send().await });
        let (mut conn, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
            .await
            .expect("the client connects within 10 s")
            .expect("accept");
        let mut head = [0u8; 3];
        conn.read_exact(&mut head)
            .await
            .expect("read the first bytes");
        // 0x16 = handshake record, then the record's protocol version 3.x.
        assert_eq!(head[0], 0x16, "not a TLS handshake: {head:?}");
        assert_eq!(head[1], 0x03, "not a TLS record version: {head:?}");
        drop(conn);
        let result = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("the call ends once the connection closes")
            .expect("join");
        assert!(
            result.is_err(),
            "the call cannot succeed without a handshake"
        );
    }
}
