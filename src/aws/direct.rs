//! Clients for the services modu speaks to through [`super::wire`] with a handful of
//! calls each (IAM, RDS, SNS in the Query protocol; Secrets Manager, CloudWatch Logs in JSON
//! 1.1): the resources build each request themselves, from the API references linked
//! where they call.

use std::sync::Arc;

use aws_types::SdkConfig;
use serde_json::Value;

use super::wire::query::Params;
use super::wire::transport::{Service, Transport};
use super::wire::xml::Element;
pub use super::wire::{CallError, CallResult};

/// A Query-protocol service: form parameters in, the answer's `<Action>Result` out.
#[derive(Clone, Debug)]
pub struct QueryClient {
    transport: Arc<Transport>,
    version: &'static str,
}

impl QueryClient {
    pub fn iam(config: &SdkConfig) -> Self {
        QueryClient {
            transport: Transport::new(
                config,
                Service {
                    signing_name: "iam",
                    service_id: "IAM",
                    endpoint_prefix: "iam",
                    global: true,
                },
            ),
            version: "2010-05-08",
        }
    }

    pub fn rds(config: &SdkConfig) -> Self {
        QueryClient {
            transport: Transport::new(
                config,
                Service {
                    signing_name: "rds",
                    service_id: "RDS",
                    endpoint_prefix: "rds",
                    global: false,
                },
            ),
            version: "2014-10-31",
        }
    }

    pub fn sns(config: &SdkConfig) -> Self {
        QueryClient {
            transport: Transport::new(
                config,
                Service {
                    signing_name: "sns",
                    service_id: "SNS",
                    endpoint_prefix: "sns",
                    global: false,
                },
            ),
            version: "2010-03-31",
        }
    }

    /// The parameters of a new request for `action`.
    pub fn params(&self, action: &str) -> Params {
        Params::versioned(action, self.version)
    }

    /// Sends `params`; the `<Action>Result` element of the answer (empty when it has none).
    pub async fn call(&self, params: &Params) -> CallResult<Element> {
        let mut root = self.transport.query(params).await?;
        let result = format!("{}Result", params.action());
        Ok(match root.children.iter().position(|c| c.name == result) {
            Some(index) => root.children.swap_remove(index),
            None => Element::default(),
        })
    }
}

/// A JSON 1.1 service: one JSON document in and out, the action named by a target prefix.
#[derive(Clone, Debug)]
pub struct JsonClient {
    transport: Arc<Transport>,
    target_prefix: &'static str,
}

impl JsonClient {
    pub fn secrets_manager(config: &SdkConfig) -> Self {
        JsonClient {
            transport: Transport::new(
                config,
                Service {
                    signing_name: "secretsmanager",
                    service_id: "Secrets Manager",
                    endpoint_prefix: "secretsmanager",
                    global: false,
                },
            ),
            target_prefix: "secretsmanager",
        }
    }

    pub fn logs(config: &SdkConfig) -> Self {
        JsonClient {
            transport: Transport::new(
                config,
                Service {
                    signing_name: "logs",
                    service_id: "CloudWatch Logs",
                    endpoint_prefix: "logs",
                    global: false,
                },
            ),
            target_prefix: "Logs_20140328",
        }
    }

    pub fn ssm(config: &SdkConfig) -> Self {
        JsonClient {
            transport: Transport::new(
                config,
                Service {
                    signing_name: "ssm",
                    service_id: "SSM",
                    endpoint_prefix: "ssm",
                    global: false,
                },
            ),
            target_prefix: "AmazonSSM",
        }
    }

    /// Calls `action` with `input`.
    pub async fn call(&self, action: &str, input: &Value) -> CallResult<Value> {
        self.transport
            .json(&format!("{}.{action}", self.target_prefix), input)
            .await
    }
}
