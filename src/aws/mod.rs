//! Everything that talks to AWS but is not a resource: clients, error helpers, polling, tags.
//!
//! The SDK configuration is loaded once and every client is built from it, so region,
//! profile, endpoint override and credentials are decided in one place.

pub mod direct;
pub mod ec2;
pub mod errors;
pub mod ssm;
pub mod tags;
pub mod tls;
pub mod wait;
pub use modu_wire as wire;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::ProvideCredentials;
use aws_types::SdkConfig;

use crate::error::{Error, Result};

/// Where and as whom to talk to AWS, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    pub region: String,
    pub profile: Option<String>,
    /// Overrides every service endpoint (AWS_ENDPOINT_URL is honoured by the SDK as well).
    pub endpoint_url: Option<String>,
}

/// One client per service, all sharing one configuration.
#[derive(Clone, Debug)]
pub struct Clients {
    pub ec2: ec2::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub s3: aws_sdk_s3::Client,
    pub ssm: direct::JsonClient,
    pub iam: direct::QueryClient,
    pub rds: direct::QueryClient,
    pub sns: direct::QueryClient,
    pub secrets: direct::JsonClient,
    pub logs: direct::JsonClient,
    pub sts: aws_sdk_sts::Client,
    pub cloudfront: aws_sdk_cloudfront::Client,
    pub elasticache: aws_sdk_elasticache::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub route53: aws_sdk_route53::Client,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Self {
        Clients {
            ec2: ec2::Client::new(config),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(config),
            autoscaling: aws_sdk_autoscaling::Client::new(config),
            s3: aws_sdk_s3::Client::new(config),
            ssm: direct::JsonClient::ssm(config),
            iam: direct::QueryClient::iam(config),
            rds: direct::QueryClient::rds(config),
            sns: direct::QueryClient::sns(config),
            secrets: direct::JsonClient::secrets_manager(config),
            logs: direct::JsonClient::logs(config),
            sts: aws_sdk_sts::Client::new(config),
            cloudfront: aws_sdk_cloudfront::Client::new(config),
            elasticache: aws_sdk_elasticache::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            route53: aws_sdk_route53::Client::new(config),
        }
    }
}

/// Attempts per call (the first and its retries) unless configured otherwise.
pub const MAX_ATTEMPTS: u32 = 10;
const SDK_DEFAULT_ATTEMPTS: u32 = 3;
/// Attempts of the identity check, the first call of a run: a mistyped region or no network
/// should be said within seconds, not after the minute that ten attempts can wait.
const IDENTITY_ATTEMPTS: u32 = 4;

/// Error codes that say "again later", not "no".
fn is_transient(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "SlowDown"
            | "InternalFailure"
            | "InternalError"
            | "ServiceUnavailable"
            | "Unavailable"
    )
}

/// Loads the standard credential chain for `connection` and checks, with one read-only call,
/// that the credentials work; returns the clients and the account id.
pub async fn connect(connection: &Connection) -> Result<(Clients, String)> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(tls::sdk_http_client())
        .region(Region::new(connection.region.clone()));
    if let Some(profile) = &connection.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &connection.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let mut config = loader.load().await;
    // A converge makes a hundred calls or more, each of which AWS may throttle or answer
    // 5xx: the SDK's default of three attempts leaves a run failing now and then under
    // throttling that ten absorb. Any other number (AWS_MAX_ATTEMPTS, a profile's
    // max_attempts) is the user's and stays.
    let retry = config
        .retry_config()
        .cloned()
        .unwrap_or_else(RetryConfig::standard);
    if retry.max_attempts() == SDK_DEFAULT_ATTEMPTS {
        config = config
            .into_builder()
            .retry_config(retry.with_max_attempts(MAX_ATTEMPTS))
            .build();
    }

    // Resolve credentials up front: a missing credential should be one clear message,
    // not the first of a dozen failed calls.
    let Some(provider) = config.credentials_provider() else {
        return Err(Error::NoCredentials {
            detail: "no credential provider is configured".into(),
        });
    };
    if let Err(err) = provider.provide_credentials().await {
        return Err(Error::NoCredentials {
            detail: errors::flatten(&err),
        });
    }

    let clients = Clients::new(&config);
    let retry = config
        .retry_config()
        .cloned()
        .unwrap_or_else(RetryConfig::standard);
    let attempts = retry.max_attempts().min(IDENTITY_ATTEMPTS);
    let identity = clients
        .sts
        .get_caller_identity()
        .customize()
        .config_override(
            aws_sdk_sts::config::Builder::default().retry_config(retry.with_max_attempts(attempts)),
        )
        .send()
        .await
        .map_err(|err| {
            let endpoint = connection
                .endpoint_url
                .clone()
                .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
                .unwrap_or_else(|| format!("sts.{}.amazonaws.com", connection.region));
            match errors::code(&err) {
                // Throttled or failing after every retry: AWS said nothing of the credentials.
                Some(code) if is_transient(code) || errors::status(&err).is_some_and(|s| s >= 500) => {
                    Error::Aws {
                        action: "checking",
                        kind: "credentials",
                        name: "(sts:GetCallerIdentity)".into(),
                        message: errors::message(&err),
                        help: Some("AWS is busy or throttling this account: run the same command again in a minute".into()),
                        code: Some(code.to_string()),
                    }
                }
                Some(code) => Error::NoCredentials {
                    detail: format!(
                        "AWS rejected the credentials ({code}): {}",
                        errors::message(&err)
                    ),
                },
                None => Error::Unreachable {
                    region: connection.region.clone(),
                    endpoint,
                    detail: errors::flatten(&err),
                    help: Some(
                        "check the region name (spec `region:` or --region), your network, \
                     and --endpoint-url / AWS_ENDPOINT_URL if you set one"
                            .into(),
                    ),
                },
            }
        })?;
    let account = identity.account().unwrap_or_default().to_string();
    Ok((clients, account))
}
