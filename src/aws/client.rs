//! Building the real `aws-sdk-s3control` client for one target.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_s3control::config::endpoint::{Endpoint, EndpointFuture, Params, ResolveEndpoint};
use aws_sdk_s3control::config::retry::RetryConfig;
use aws_sdk_s3control::config::timeout::TimeoutConfig;
use aws_sdk_s3control::config::Credentials;

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
#[derive(Debug)]
struct FixedEndpoint(String);

impl ResolveEndpoint for FixedEndpoint {
    fn resolve_endpoint<'a>(&'a self, _: &'a Params) -> EndpointFuture<'a> {
        EndpointFuture::ready(Ok(Endpoint::builder().url(self.0.clone()).build()))
    }
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
