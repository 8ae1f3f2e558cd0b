//! The Systems Manager calls modu makes, in SSM's JSON 1.1 protocol (see [`super::wire`]
//! for why modu speaks it itself): public AMI parameters, and the stack's own parameters.

use serde_json::json;

use super::direct::{CallResult, JsonClient};

impl JsonClient {
    /// [GetParameter](https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html):
    /// the value of parameter `name` (e.g. the public AMI parameters under `/aws/service/`).
    pub async fn get_parameter(&self, name: &str) -> CallResult<Option<String>> {
        let answer = self.call("GetParameter", &json!({ "Name": name })).await?;
        Ok(answer["Parameter"]["Value"].as_str().map(str::to_string))
    }
}
