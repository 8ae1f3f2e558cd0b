//! The CloudFront origin access control that signs requests to the images bucket, so the
//! bucket stays private and only the stack's distribution can read it.
//!
//! OACs carry no tags: modu finds its own by deterministic name and description.

use async_trait::async_trait;
use aws_sdk_cloudfront::types::{
    OriginAccessControlConfig, OriginAccessControlOriginTypes, OriginAccessControlSigningBehaviors,
    OriginAccessControlSigningProtocols,
};
use serde_json::json;

use super::{Context, Deps, Found, Health, Resource};
use crate::aws::errors::{self, AwsContext, built};
use crate::error::{Error, Result};
use crate::spec::Spec;

pub struct OriginAccessControl;

const KIND: &str = "origin-access-control";

fn description(cx: &Context) -> String {
    format!(
        "modu stack {}: distribution reads the images bucket",
        cx.spec.stack
    )
}

#[async_trait]
impl Resource for OriginAccessControl {
    fn key(&self) -> &'static str {
        "cdn-oac"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-media", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<&'static str> {
        Vec::new()
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.cdn.is_some()
    }

    async fn find(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Found>> {
        let name = self.name(cx);
        let out = cx
            .clients
            .cloudfront
            .list_origin_access_controls()
            .send()
            .await
            .context("listing", KIND, &name)?;
        let Some(summary) = out
            .origin_access_control_list()
            .map(|l| l.items())
            .unwrap_or_default()
            .iter()
            .find(|s| s.name() == name)
        else {
            return Ok(None);
        };
        if summary.description() != description(cx) {
            return Err(Error::precondition(
                format!(
                    "origin access control {name} exists but was not made by modu for stack {}",
                    cx.spec.stack
                ),
                "delete or rename it in the CloudFront console",
            ));
        }
        Ok(Some(Found::new(summary.id()).with("name", name)))
    }

    async fn create(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let out = cx
            .clients
            .cloudfront
            .create_origin_access_control()
            .origin_access_control_config(built(
                OriginAccessControlConfig::builder()
                    .name(&name)
                    .description(description(cx))
                    .origin_access_control_origin_type(OriginAccessControlOriginTypes::S3)
                    .signing_behavior(OriginAccessControlSigningBehaviors::Always)
                    .signing_protocol(OriginAccessControlSigningProtocols::Sigv4)
                    .build(),
            )?)
            .send()
            .await
            .context("creating", KIND, &name)?;
        let id = out
            .origin_access_control()
            .map(|o| o.id())
            .unwrap_or_default();
        Ok(Found::new(id).with("name", name))
    }

    async fn converge(
        &self,
        _cx: &Context,
        _deps: &Deps<'_>,
        _found: &Found,
    ) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, found: &Found) -> Result<Health> {
        Ok(Health::ok(
            "signs S3 requests (sigv4, always)",
            json!({ "id": found.id }),
        ))
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        // A distribution being disabled still references the OAC for a moment.
        cx.retry_while(
            self,
            "to be released by the distribution",
            |err| matches!(err, Error::Aws { code: Some(code), .. } if code == "OriginAccessControlInUse"),
            || async {
                let current = cx.clients.cloudfront.get_origin_access_control().id(&found.id).send().await;
                let etag = match current {
                    Err(err) if errors::is_code(&err, &["NoSuchOriginAccessControl"]) => return Ok(()),
                    other => other.context("reading", KIND, &found.id)?.e_tag().unwrap_or_default().to_string(),
                };
                let result = cx
                    .clients
                    .cloudfront
                    .delete_origin_access_control()
                    .id(&found.id)
                    .if_match(etag)
                    .send()
                    .await;
                match result {
                    Err(err) if errors::is_code(&err, &["NoSuchOriginAccessControl"]) => Ok(()),
                    other => other.map(|_| ()).context("deleting", KIND, &found.id),
                }
            },
        )
        .await
    }
}
