//! Sending one request: the endpoint the SDK would pick, SigV4, the SDK's standard retry
//! rules, and the error documents of the Query and JSON protocols.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_types::SdkConfig;
use aws_types::service_config::ServiceConfigKey;
use tokio::sync::Mutex;

use super::CallError;
use super::query::Params;
use super::xml::Element;

/// What identifies a service on the wire.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// The name requests are signed for (`ec2`, `ssm`).
    pub signing_name: &'static str,
    /// Its id in shared config files and `AWS_ENDPOINT_URL_<ID>`.
    pub service_id: &'static str,
    /// The first label of its regional endpoint.
    pub endpoint_prefix: &'static str,
    /// One endpoint for every region (`https://iam.amazonaws.com`), signed for us-east-1.
    pub global: bool,
}

/// The SDK's defaults where the configuration sets none.
const DEFAULT_ATTEMPTS: u32 = 3;
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);
const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(20);

/// Where requests to a global service's endpoint are signed for.
const GLOBAL_SIGNING_REGION: &str = "us-east-1";

/// Credentials are refreshed this long before they expire.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// Codes that mean "slow down" (throttling) or "try again" (transient), as the SDK's
/// standard retry classifier knows them.
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
];

#[derive(Debug)]
pub struct Transport {
    service: Service,
    http: reqwest::Client,
    /// The endpoint, or why the configured one is not a URL (reported by the first call).
    endpoint: Result<reqwest::Url, String>,
    region: String,
    credentials: Option<SharedCredentialsProvider>,
    cached: Mutex<Option<Credentials>>,
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl Transport {
    pub fn new(config: &SdkConfig, service: Service) -> Arc<Self> {
        let configured_region = config
            .region()
            .map(|r| r.as_ref().to_string())
            .unwrap_or_else(|| "us-east-1".into());
        let region = if service.global {
            GLOBAL_SIGNING_REGION.to_string()
        } else {
            configured_region
        };
        let configured = endpoint_override(config, service.service_id);
        let endpoint = endpoint(
            service.endpoint_prefix,
            if service.global { "" } else { &region },
            configured.as_deref(),
            config.use_fips().unwrap_or(false),
            config.use_dual_stack().unwrap_or(false),
        );
        let timeouts = config.timeout_config();
        let connect = timeouts
            .and_then(|t| t.connect_timeout())
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        let attempt = timeouts
            .and_then(|t| t.operation_attempt_timeout().or(t.read_timeout()))
            .unwrap_or(DEFAULT_ATTEMPT_TIMEOUT);
        // The SDK's own clients use no proxy unless told to; this one does the same, so
        // every AWS call of a run takes the same path.
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(connect)
            .timeout(attempt)
            .user_agent(concat!("modu/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        let retry = config.retry_config();
        Arc::new(Transport {
            service,
            http,
            endpoint: reqwest::Url::parse(&endpoint)
                .map_err(|err| format!("the endpoint {endpoint:?} is not a URL ({err})")),
            region,
            credentials: config.credentials_provider(),
            cached: Mutex::new(None),
            max_attempts: retry.map_or(DEFAULT_ATTEMPTS, |r| r.max_attempts().max(1)),
            initial_backoff: retry.map_or(Duration::from_secs(1), |r| r.initial_backoff()),
            max_backoff: retry.map_or(DEFAULT_MAX_BACKOFF, |r| r.max_backoff()),
        })
    }

    /// A Query-protocol call: `params` as a form, the answer's root element back.
    pub async fn query(&self, params: &Params) -> Result<Element, CallError> {
        let body = params.encode();
        let action = params.action();
        self.retrying(action, || async {
            let (status, text) = self.send(action, QUERY_CONTENT_TYPE, None, &body).await?;
            query_answer(action, status, &text)
        })
        .await
    }

    /// A JSON 1.1 call: `target` (e.g. `AmazonSSM.GetParameter`) with `input`, the
    /// answer's document back.
    pub async fn json(
        &self,
        target: &str,
        input: &serde_json::Value,
    ) -> Result<serde_json::Value, CallError> {
        let body = input.to_string();
        let action = target.rsplit('.').next().unwrap_or(target);
        self.retrying(action, || async {
            let (status, text) = self
                .send(action, JSON_CONTENT_TYPE, Some(target), &body)
                .await?;
            json_answer(action, status, &text)
        })
        .await
    }

    /// Runs `attempt` until it succeeds, fails for good, or the attempts run out, waiting
    /// with capped exponential backoff and full jitter in between.
    async fn retrying<T, F, Fut>(&self, action: &str, mut attempt: F) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, CallError>>,
    {
        let mut tries = 1;
        loop {
            match attempt().await {
                Err(err) if tries < self.max_attempts && err.is_retryable() => {
                    let delay = backoff(
                        tries,
                        self.initial_backoff,
                        self.max_backoff,
                        rand::random(),
                    );
                    tracing::debug!(
                        service = self.service.signing_name,
                        action,
                        attempt = tries,
                        ?delay,
                        error = %err,
                        "retrying"
                    );
                    tokio::time::sleep(delay).await;
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    /// One signed POST; the status and text of the answer.
    async fn send(
        &self,
        action: &str,
        content_type: &str,
        target: Option<&str>,
        body: &str,
    ) -> Result<(u16, String), CallError> {
        let endpoint = self
            .endpoint
            .as_ref()
            .map_err(|detail| CallError::Endpoint(detail.clone()))?;
        let credentials = self.credentials().await?;
        let host = host_header(endpoint);
        let mut headers = vec![("host", host.as_str()), ("content-type", content_type)];
        if let Some(target) = target {
            headers.push(("x-amz-target", target));
        }
        let signed = signature_headers(
            endpoint.as_str(),
            &headers,
            body,
            credentials,
            &self.region,
            self.service.signing_name,
            SystemTime::now(),
        )?;
        let mut request = self.http.post(endpoint.clone()).body(body.to_string());
        for (name, value) in headers.into_iter() {
            request = request.header(name, value);
        }
        for (name, value) in signed {
            request = request.header(name, value);
        }
        let transport = |err: reqwest::Error| CallError::Transport {
            action: action.to_string(),
            detail: crate::flatten(&err),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(transport)?;
        tracing::debug!(
            service = self.service.signing_name,
            action,
            status,
            bytes = text.len(),
            "answered"
        );
        Ok((status, text))
    }

    async fn credentials(&self) -> Result<Credentials, CallError> {
        let Some(provider) = &self.credentials else {
            return Err(CallError::Credentials(
                "no credential provider is configured".into(),
            ));
        };
        let mut cached = self.cached.lock().await;
        if let Some(credentials) = cached.as_ref()
            && credentials
                .expiry()
                .is_none_or(|expiry| expiry > SystemTime::now() + REFRESH_BEFORE_EXPIRY)
        {
            return Ok(credentials.clone());
        }
        let fresh = provider
            .provide_credentials()
            .await
            .map_err(|err| CallError::Credentials(crate::flatten(&err)))?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }
}

const QUERY_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The endpoint set for this service alone (`AWS_ENDPOINT_URL_EC2`, a profile's
/// `[services]` section) or for every service, in the SDK's order of precedence.
fn endpoint_override(config: &SdkConfig, service_id: &str) -> Option<String> {
    if config.get_origin("endpoint_url").is_client_config() {
        return config.endpoint_url().map(str::to_string);
    }
    let key = ServiceConfigKey::builder()
        .service_id(service_id)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok()?;
    config
        .service_config()
        .and_then(|services| services.load_config(key))
        .or_else(|| config.endpoint_url().map(str::to_string))
}

/// The service's regional endpoint as AWS documents it (FIPS and dual-stack variants
/// included), unless one is configured.
pub fn endpoint(
    prefix: &str,
    region: &str,
    configured: Option<&str>,
    fips: bool,
    dual_stack: bool,
) -> String {
    if let Some(url) = configured {
        return format!("{}/", url.trim_end_matches('/'));
    }
    let china = region.starts_with("cn-");
    let domain = match (dual_stack, china) {
        (false, false) => "amazonaws.com",
        (false, true) => "amazonaws.com.cn",
        (true, false) => "api.aws",
        (true, true) => "api.amazonwebservices.com.cn",
    };
    let fips = if fips { "-fips" } else { "" };
    if region.is_empty() {
        return format!("https://{prefix}{fips}.{domain}/");
    }
    format!("https://{prefix}{fips}.{region}.{domain}/")
}

/// `host[:port]` as the HTTP client sends it (the port only when it is not the scheme's).
fn host_header(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// The SigV4 headers (`authorization`, `x-amz-date`, and the session token if any) for a
/// POST of `body` with `headers` to `url`.
fn signature_headers(
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
    credentials: Credentials,
    region: &str,
    signing_name: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>, CallError> {
    let identity = Identity::from(credentials);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(signing_name)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|err| CallError::Signing(err.to_string()))?
        .into();
    let request = SignableRequest::new(
        "POST",
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|err| CallError::Signing(err.to_string()))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|err| CallError::Signing(err.to_string()))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect())
}

/// Reads a Query answer: a 2xx document, or the `<Response><Errors><Error>` (EC2) or
/// `<ErrorResponse><Error>` shape.
fn query_answer(action: &str, status: u16, text: &str) -> Result<Element, CallError> {
    let parsed = Element::parse(text);
    if (200..300).contains(&status) {
        return parsed.map_err(|detail| CallError::Unreadable {
            action: action.to_string(),
            detail,
        });
    }
    let error = parsed.ok().and_then(|root| {
        let error = match root.child("Errors") {
            Some(errors) => errors.child("Error")?,
            None => root.child("Error")?,
        };
        Some((
            error.string("Code"),
            error.string("Message"),
            root.text_of("RequestID")
                .or(root.text_of("RequestId"))
                .map(str::to_string),
        ))
    });
    match error {
        Some((code, message, request_id)) if !code.is_empty() => Err(CallError::Service {
            action: action.to_string(),
            status,
            code,
            message,
            request_id,
        }),
        _ => Err(CallError::Status {
            action: action.to_string(),
            status,
            body: text.chars().take(200).collect(),
        }),
    }
}

/// Reads a JSON 1.1 answer: a 2xx document, or `{"__type": "…#Code", "message": …}`.
fn json_answer(action: &str, status: u16, text: &str) -> Result<serde_json::Value, CallError> {
    let parsed: Result<serde_json::Value, _> = if text.trim().is_empty() {
        Ok(serde_json::Value::Object(Default::default()))
    } else {
        serde_json::from_str(text)
    };
    if (200..300).contains(&status) {
        return parsed.map_err(|err| CallError::Unreadable {
            action: action.to_string(),
            detail: err.to_string(),
        });
    }
    let document = parsed.unwrap_or_default();
    let code = document["__type"]
        .as_str()
        .or(document["code"].as_str())
        .map(|t| t.rsplit('#').next().unwrap_or(t).to_string());
    match code {
        Some(code) if !code.is_empty() => Err(CallError::Service {
            action: action.to_string(),
            status,
            code,
            message: document["message"]
                .as_str()
                .or(document["Message"].as_str())
                .unwrap_or_default()
                .to_string(),
            request_id: None,
        }),
        _ => Err(CallError::Status {
            action: action.to_string(),
            status,
            body: text.chars().take(200).collect(),
        }),
    }
}

impl CallError {
    /// The standard retry rule: throttling and transient codes, 5xx answers and transport
    /// failures are retried; everything else is final.
    pub fn is_retryable(&self) -> bool {
        match self {
            CallError::Service { code, status, .. } => {
                RETRYABLE_CODES.contains(&code.as_str()) || *status >= 500
            }
            CallError::Status { status, .. } => *status >= 500 || *status == 429,
            CallError::Transport { .. } => true,
            CallError::Endpoint(_)
            | CallError::Credentials(_)
            | CallError::Signing(_)
            | CallError::Unreadable { .. } => false,
        }
    }
}

/// The delay before attempt `attempt + 1`: full jitter (`jitter` in [0, 1)) over an
/// exponential ceiling that starts at `initial` and stops at `max`.
fn backoff(attempt: u32, initial: Duration, max: Duration, jitter: f64) -> Duration {
    let ceiling = initial.saturating_mul(1 << (attempt - 1).min(16)).min(max);
    ceiling.mul_f64(jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_documented_names() {
        assert_eq!(
            endpoint("ec2", "eu-west-1", None, false, false),
            "https://ec2.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            endpoint("ssm", "us-east-1", None, true, false),
            "https://ssm-fips.us-east-1.amazonaws.com/"
        );
        assert_eq!(
            endpoint("ec2", "us-east-1", None, false, true),
            "https://ec2.us-east-1.api.aws/"
        );
        assert_eq!(
            endpoint("iam", "", None, false, false),
            "https://iam.amazonaws.com/"
        );
        assert_eq!(
            endpoint("ec2", "cn-north-1", None, false, false),
            "https://ec2.cn-north-1.amazonaws.com.cn/"
        );
        assert_eq!(
            endpoint(
                "ec2",
                "us-east-1",
                Some("http://127.0.0.1:5000"),
                true,
                true
            ),
            "http://127.0.0.1:5000/"
        );
    }

    #[test]
    fn the_host_header_names_a_port_only_when_it_is_not_the_default() {
        let local = reqwest::Url::parse("http://127.0.0.1:5000/").unwrap();
        assert_eq!(host_header(&local), "127.0.0.1:5000");
        let aws = reqwest::Url::parse("https://ec2.eu-west-1.amazonaws.com/").unwrap();
        assert_eq!(host_header(&aws), "ec2.eu-west-1.amazonaws.com");
    }

    #[test]
    fn requests_are_signed_for_ec2_in_the_region() {
        let credentials =
            Credentials::new("AKIDEXAMPLE", "secret", Some("token".into()), None, "t");
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600); // 2026-01-01
        let headers = signature_headers(
            "https://ec2.eu-west-1.amazonaws.com/",
            &[
                ("host", "ec2.eu-west-1.amazonaws.com"),
                ("content-type", QUERY_CONTENT_TYPE),
            ],
            "Action=DescribeVpcs&Version=2016-11-15",
            credentials,
            "eu-west-1",
            "ec2",
            time,
        )
        .unwrap();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_default()
        };
        assert!(
            get("authorization").starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/eu-west-1/ec2/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
            ),
            "{headers:?}"
        );
        assert_eq!(get("x-amz-date"), "20260101T000000Z");
        assert_eq!(get("x-amz-security-token"), "token");
    }

    #[test]
    fn error_documents_become_service_errors_with_their_code() {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>\
            <Code>InvalidGroup.NotFound</Code><Message>The security group 'sg-1' does not exist</Message>\
            </Error></Errors><RequestID>req-1</RequestID></Response>";
        match query_answer("DeleteSecurityGroup", 400, body).unwrap_err() {
            CallError::Service {
                code,
                message,
                request_id,
                status,
                ..
            } => {
                assert_eq!(code, "InvalidGroup.NotFound");
                assert_eq!(message, "The security group 'sg-1' does not exist");
                assert_eq!(request_id.as_deref(), Some("req-1"));
                assert_eq!(status, 400);
            }
            other => panic!("{other:?}"),
        }
        let gateway = query_answer("DescribeVpcs", 502, "<html>bad gateway</html>").unwrap_err();
        assert!(matches!(gateway, CallError::Status { status: 502, .. }));
        assert!(gateway.is_retryable());
    }

    #[test]
    fn json_errors_name_their_code_without_the_namespace() {
        let body =
            r#"{"__type":"com.amazonaws.ssm#ParameterNotFound","message":"no such parameter"}"#;
        let err = json_answer("GetParameter", 400, body).unwrap_err();
        assert_eq!(err.code(), Some("ParameterNotFound"));
        assert_eq!(err.to_string(), "ParameterNotFound: no such parameter");
        let ok = json_answer("GetParameter", 200, r#"{"Parameter":{"Value":"ami-1"}}"#).unwrap();
        assert_eq!(ok["Parameter"]["Value"], "ami-1");
    }

    #[test]
    fn throttling_and_5xx_are_retried_and_client_errors_are_not() {
        let service = |code: &str, status| CallError::Service {
            action: "DescribeVpcs".into(),
            status,
            code: code.into(),
            message: String::new(),
            request_id: None,
        };
        assert!(service("RequestLimitExceeded", 503).is_retryable());
        assert!(service("Unavailable", 503).is_retryable());
        assert!(!service("InvalidVpcID.NotFound", 400).is_retryable());
        assert!(!service("UnauthorizedOperation", 403).is_retryable());
    }

    /// A loopback server that answers each request with the next of `answers` and
    /// keeps the bodies it received.
    async fn server(
        answers: Vec<(u16, &'static str)>,
    ) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            let mut requests = Vec::new();
            for (status, body) in answers {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                // Read headers and the body its content-length announces.
                loop {
                    let n = socket.read(&mut buf).await.unwrap();
                    seen.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&seen).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if seen.len() >= end + 4 + length {
                            requests.push(text);
                            break;
                        }
                    }
                }
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(reply.as_bytes()).await.unwrap();
            }
            requests
        });
        (url, handle)
    }

    const EC2: Service = Service {
        signing_name: "ec2",
        service_id: "EC2",
        endpoint_prefix: "ec2",
        global: false,
    };

    fn config(url: &str) -> SdkConfig {
        SdkConfig::builder()
            .region(aws_types::region::Region::new("eu-west-1"))
            .endpoint_url(url)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKID", "secret", None, None, "test",
            )))
            .retry_config(
                aws_smithy_types::retry::RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(1)),
            )
            .build()
    }

    const THROTTLED: &str = "<Response><Errors><Error><Code>RequestLimitExceeded</Code>\
        <Message>Request limit exceeded.</Message></Error></Errors><RequestID>r</RequestID></Response>";

    #[tokio::test]
    async fn throttled_requests_are_signed_retried_and_then_answered() {
        let ok = "<DescribeVpcsResponse><vpcSet><item><vpcId>vpc-1</vpcId></item></vpcSet></DescribeVpcsResponse>";
        let (url, server) = server(vec![(503, THROTTLED), (200, ok)]).await;
        let transport = Transport::new(&config(&url), EC2);
        let root = transport.query(&Params::new("DescribeVpcs")).await.unwrap();
        assert_eq!(
            root.items("vpcSet").next().unwrap().string("vpcId"),
            "vpc-1"
        );
        let requests = server.await.unwrap();
        assert_eq!(requests.len(), 2);
        for request in &requests {
            assert!(request.starts_with("POST / HTTP/1.1"), "{request}");
            assert!(request.contains("/eu-west-1/ec2/aws4_request"), "{request}");
            assert!(
                request.ends_with("Action=DescribeVpcs&Version=2016-11-15"),
                "{request}"
            );
        }
    }

    #[tokio::test]
    async fn attempts_stop_at_the_configured_maximum_with_the_last_code() {
        let (url, server) = server(vec![(503, THROTTLED); 3]).await;
        let transport = Transport::new(&config(&url), EC2);
        let err = transport
            .query(&Params::new("DescribeVpcs"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("RequestLimitExceeded"));
        assert_eq!(server.await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_configured_endpoint_that_is_no_url_is_named_in_the_error() {
        let transport = Transport::new(&config("127.0.0.1:5000"), EC2);
        let err = transport
            .query(&Params::new("DescribeVpcs"))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("\"127.0.0.1:5000/\" is not a URL"),
            "{err}"
        );
        assert!(matches!(err, CallError::Endpoint(_)) && !err.is_retryable());
    }

    #[tokio::test]
    async fn a_client_error_is_not_retried() {
        let missing = "<Response><Errors><Error><Code>InvalidVpcID.NotFound</Code>\
            <Message>no</Message></Error></Errors></Response>";
        let (url, server) = server(vec![(400, missing)]).await;
        let transport = Transport::new(&config(&url), EC2);
        let err = transport
            .query(&Params::new("DescribeVpcs"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("InvalidVpcID.NotFound"));
        assert_eq!(server.await.unwrap().len(), 1);
    }

    #[test]
    fn backoff_grows_exponentially_up_to_its_cap() {
        let s = Duration::from_secs;
        assert_eq!(backoff(1, s(1), s(20), 0.999_999).as_millis(), 999);
        assert_eq!(backoff(3, s(1), s(20), 0.5), s(2));
        assert_eq!(backoff(10, s(1), s(20), 0.5), s(10));
        assert_eq!(backoff(2, s(1), s(20), 0.0), Duration::ZERO);
    }
}
