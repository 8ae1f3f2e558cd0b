//! The stack's configuration, as modu leaves it for the instances: SSM parameters under
//! `/modu/<stack>/` naming the bucket, the endpoints, the secrets and the log group, and
//! the secrets in Secrets Manager. Read with the standard AWS credentials (the instance
//! role on EC2), so the launch template carries no endpoint or password and instances
//! can boot before the database or the cache exists.
//!
//! The two calls are spoken with `modu-wire` (SigV4 over the JSON 1.1 protocol): the SDK
//! crates of SSM and Secrets Manager would cost minutes of every build for two actions.

use std::collections::BTreeMap;
use std::sync::Arc;

use modu_wire::transport::{Service, Transport};
use serde_json::{Value, json};

use crate::configuration::Settings;

const SSM: Service = Service {
    signing_name: "ssm",
    service_id: "SSM",
    endpoint_prefix: "ssm",
    global: false,
};

const SECRETS_MANAGER: Service = Service {
    signing_name: "secretsmanager",
    service_id: "Secrets Manager",
    endpoint_prefix: "secretsmanager",
    global: false,
};

/// Parameter names below the stack's path, as modu writes them.
pub mod names {
    pub const BUCKET: &str = "bucket";
    pub const MEDIA_PREFIX: &str = "media-prefix";
    pub const MEDIA_BASE_URL: &str = "media-base-url";
    pub const DATABASE_ENDPOINT: &str = "database/endpoint";
    pub const DATABASE_NAME: &str = "database/name";
    pub const DATABASE_SECRET: &str = "database/secret-arn";
    pub const CACHE_ENDPOINT: &str = "cache/endpoint";
    pub const CACHE_SECRET: &str = "cache/secret-arn";
    pub const RELEASE: &str = "release";
    pub const LOG_GROUP: &str = "log-group";
}

#[derive(Debug, thiserror::Error)]
pub enum ParameterError {
    #[error("reading the parameters under {path}: {source}")]
    Parameters {
        path: String,
        #[source]
        source: Box<modu_wire::CallError>,
    },
    #[error("reading the secret {arn}: {source}")]
    Secret {
        arn: String,
        #[source]
        source: Box<modu_wire::CallError>,
    },
    #[error("the secret {arn} {problem}")]
    BadSecret { arn: String, problem: &'static str },
    #[error("the parameter {name} is missing (needed with {because})")]
    Missing { name: String, because: String },
}

/// What the stack's parameters say, before secrets are read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StackParameters {
    pub values: BTreeMap<String, String>,
}

impl StackParameters {
    /// The value of `name` (one of [`names`]), when the stack has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    fn require(&self, name: &str, because: &str) -> Result<&str, ParameterError> {
        self.get(name).ok_or_else(|| ParameterError::Missing {
            name: name.to_owned(),
            because: because.to_owned(),
        })
    }
}

/// Clients for the two services, sharing the SDK's configuration.
pub struct ParameterClient {
    ssm: Arc<Transport>,
    secrets: Arc<Transport>,
}

impl ParameterClient {
    pub async fn from_environment() -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(crate::storage::https_client())
            .load()
            .await;
        ParameterClient {
            ssm: Transport::new(&config, SSM),
            secrets: Transport::new(&config, SECRETS_MANAGER),
        }
    }

    /// Every parameter under `path` (recursively, decrypted), keyed by its name relative
    /// to `path`.
    pub async fn read(&self, path: &str) -> Result<StackParameters, ParameterError> {
        let root = format!("/{}/", path.trim_matches('/'));
        let mut values = BTreeMap::new();
        let mut next: Option<String> = None;
        loop {
            let mut input = json!({ "Path": root, "Recursive": true, "WithDecryption": true });
            if let Some(token) = &next {
                input["NextToken"] = json!(token);
            }
            let page = self
                .ssm
                .json("AmazonSSM.GetParametersByPath", &input)
                .await
                .map_err(|source| ParameterError::Parameters {
                    path: root.clone(),
                    source: Box::new(source),
                })?;
            for parameter in page["Parameters"].as_array().into_iter().flatten() {
                if let (Some(name), Some(value)) =
                    (parameter["Name"].as_str(), parameter["Value"].as_str())
                {
                    let relative = name.strip_prefix(&root).unwrap_or(name);
                    values.insert(relative.to_owned(), value.to_owned());
                }
            }
            match page["NextToken"].as_str() {
                Some(token) if !token.is_empty() => next = Some(token.to_owned()),
                _ => break,
            }
        }
        Ok(StackParameters { values })
    }

    async fn secret(&self, arn: &str) -> Result<String, ParameterError> {
        let answer = self
            .secrets
            .json("secretsmanager.GetSecretValue", &json!({ "SecretId": arn }))
            .await
            .map_err(|source| ParameterError::Secret {
                arn: arn.to_owned(),
                source: Box::new(source),
            })?;
        answer["SecretString"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ParameterError::BadSecret {
                arn: arn.to_owned(),
                problem: "has no string value",
            })
    }

    /// Reads the stack's parameters and secrets and puts what they say into `settings`;
    /// the parameters read are returned for the parts that are not settings (the log group).
    pub async fn apply(
        &self,
        path: &str,
        settings: &mut Settings,
    ) -> Result<StackParameters, ParameterError> {
        let parameters = self.read(path).await?;
        self.apply_read(&parameters, settings).await?;
        Ok(parameters)
    }

    /// Reads the secrets that `parameters` name and puts what both say into `settings`.
    pub async fn apply_read(
        &self,
        parameters: &StackParameters,
        settings: &mut Settings,
    ) -> Result<(), ParameterError> {
        let database = match parameters.get(names::DATABASE_SECRET) {
            Some(arn) => Some(self.secret(arn).await?),
            None => None,
        };
        let cache = match parameters.get(names::CACHE_SECRET) {
            Some(arn) => Some(self.secret(arn).await?),
            None => None,
        };
        apply(parameters, database.as_deref(), cache.as_deref(), settings)
    }
}

/// Fills `settings` from the parameters and the secrets' values (pure, so it is tested
/// without AWS). A part the stack does not have keeps its setting.
pub fn apply(
    parameters: &StackParameters,
    database_secret: Option<&str>,
    cache_secret: Option<&str>,
    settings: &mut Settings,
) -> Result<(), ParameterError> {
    if let Some(bucket) = parameters.get(names::BUCKET) {
        settings.s3_bucket = Some(bucket.to_owned());
        settings.s3_prefix = parameters
            .get(names::MEDIA_PREFIX)
            .unwrap_or_default()
            .to_owned();
    }
    if let Some(base) = parameters.get(names::MEDIA_BASE_URL) {
        settings.media_base_url = Some(base.to_owned());
    }
    if let Some(secret) = database_secret {
        let arn = parameters.require(names::DATABASE_SECRET, "a database")?;
        let endpoint = parameters.require(names::DATABASE_ENDPOINT, "a database")?;
        let name = parameters.require(names::DATABASE_NAME, "a database")?;
        let credentials: Value =
            serde_json::from_str(secret).map_err(|_| ParameterError::BadSecret {
                arn: arn.to_owned(),
                problem: "is not a JSON object with username and password",
            })?;
        let (Some(user), Some(password)) = (
            credentials["username"].as_str(),
            credentials["password"].as_str(),
        ) else {
            return Err(ParameterError::BadSecret {
                arn: arn.to_owned(),
                problem: "lacks username or password",
            });
        };
        // RDS requires TLS (rds.force_ssl); its certificates chain to the RDS CA, which
        // the instance trusts only if the bundle is installed, hence `require`.
        settings.database_url = format!(
            "postgres://{}:{}@{endpoint}/{}?sslmode=require",
            encode(user),
            encode(password),
            encode(name)
        );
    }
    if let Some(token) = cache_secret {
        let endpoint = parameters.require(names::CACHE_ENDPOINT, "a cache")?;
        // ElastiCache with transit encryption: TLS, and the AUTH token as the password.
        settings.redis_url = Some(format!("rediss://:{}@{endpoint}", encode(token.trim())));
    }
    Ok(())
}

/// Percent-encodes everything but unreserved characters, for user info and path parts.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parameters(pairs: &[(&str, &str)]) -> StackParameters {
        StackParameters {
            values: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn a_full_stack_configures_every_part() {
        let stack = parameters(&[
            (names::BUCKET, "modu-images-1"),
            (names::MEDIA_PREFIX, "media/"),
            (names::MEDIA_BASE_URL, "https://d1.cloudfront.net/media"),
            (names::DATABASE_ENDPOINT, "db.example:5432"),
            (names::DATABASE_NAME, "modu"),
            (names::DATABASE_SECRET, "arn:db"),
            (names::CACHE_ENDPOINT, "master.cache.example:6379"),
            (names::CACHE_SECRET, "arn:cache"),
        ]);
        let mut settings = Settings::defaults();
        apply(
            &stack,
            Some(r#"{"username":"modu","password":"p@ss/w:rd"}"#),
            Some("tok+en\n"),
            &mut settings,
        )
        .unwrap();
        assert_eq!(settings.s3_bucket.as_deref(), Some("modu-images-1"));
        assert_eq!(settings.s3_prefix, "media/");
        assert_eq!(
            settings.media_base_url.as_deref(),
            Some("https://d1.cloudfront.net/media")
        );
        assert_eq!(
            settings.database_url,
            "postgres://modu:p%40ss%2Fw%3Ard@db.example:5432/modu?sslmode=require"
        );
        assert_eq!(
            settings.redis_url.as_deref(),
            Some("rediss://:tok%2Ben@master.cache.example:6379")
        );
    }

    #[test]
    fn parts_the_stack_lacks_keep_their_settings() {
        let mut settings = Settings::defaults();
        let before = settings.database_url.clone();
        apply(&parameters(&[]), None, None, &mut settings).unwrap();
        assert_eq!(settings.database_url, before);
        assert!(settings.redis_url.is_none() && settings.s3_bucket.is_none());
    }

    #[test]
    fn a_secret_without_credentials_is_named() {
        let stack = parameters(&[
            (names::DATABASE_ENDPOINT, "db:5432"),
            (names::DATABASE_NAME, "modu"),
            (names::DATABASE_SECRET, "arn:db"),
        ]);
        let err = apply(
            &stack,
            Some(r#"{"username":"x"}"#),
            None,
            &mut Settings::defaults(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("arn:db") && err.contains("password"), "{err}");
    }
}
