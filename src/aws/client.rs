//! The real `aws-sdk-s3control` client's parts: the fixed endpoint for local and VPC endpoints,
//! the response-size guard, credential errors. `shared` builds the clients from them.

use std::time::Duration;

use aws_sdk_s3control::config::endpoint::{Endpoint, EndpointFuture, Params, ResolveEndpoint};
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
pub(super) struct ResponseGuard {
    pub(super) limit: usize,
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
    pub(super) limit: usize,
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

pub(super) async fn verify(
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

pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
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
    use crate::aws::SharedClients;
    use crate::config::{Backoff, RateLimit, Target};

    fn target(endpoint_url: Option<String>) -> Target {
        Target {
            name: "tls-check".into(),
            account_id: "123456789012".into(),
            region: "eu-west-1".into(),
            role_arn: None,
            endpoint_url,
            sts_endpoint_url: None,
            origin: None,
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
        let client = SharedClients::new(ClientOverrides::emulator())
            .client_for(&target(None))
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
        let client = SharedClients::new(ClientOverrides::emulator())
            .client_for(&target(Some(url)))
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
