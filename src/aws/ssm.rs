//! The one Systems Manager action modu calls, in SSM's JSON 1.1 protocol (see
//! [`super::wire`] for why modu speaks it itself).

use std::sync::Arc;

use aws_types::SdkConfig;
use serde_json::json;

use super::wire::transport::{Service, Transport};
pub use super::wire::{CallError, CallResult};

const SERVICE: Service = Service {
    signing_name: "ssm",
    service_id: "SSM",
    endpoint_prefix: "ssm",
};

/// A Systems Manager client; cheap to clone (one connection pool).
#[derive(Clone, Debug)]
pub struct Client {
    transport: Arc<Transport>,
}

impl Client {
    pub fn new(config: &SdkConfig) -> Self {
        Client {
            transport: Transport::new(config, SERVICE),
        }
    }

    /// [GetParameter](https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html):
    /// the value of parameter `name` (e.g. the public AMI parameters under `/aws/service/`).
    pub async fn get_parameter(&self, name: &str) -> CallResult<Option<String>> {
        let answer = self
            .transport
            .json("AmazonSSM.GetParameter", &json!({ "Name": name }))
            .await?;
        Ok(answer["Parameter"]["Value"].as_str().map(str::to_string))
    }
}
