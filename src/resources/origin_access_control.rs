//! The CloudFront origin access control that signs requests to the images bucket, so the
//! bucket stays private and only the stack's distribution can read it.
//!
//! OACs carry no tags: modu finds its own by deterministic name, and knows it by the
//! description it writes.

use async_trait::async_trait;
use aws_sdk_cloudfront::types::{
    OriginAccessControlConfig, OriginAccessControlOriginTypes, OriginAccessControlSigningBehaviors,
    OriginAccessControlSigningProtocols,
};
use serde_json::json;

use super::toolkit::refuse_unless;
use super::{Context, Deps, Found, Health, Key, Observed, Outputs, Resource};
use crate::aws::errors::{Absent, AwsContext, built};
use crate::error::Result;
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
    fn key(&self) -> Key {
        Key::CdnOac
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-media", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<Key> {
        Vec::new()
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.cdn.is_some()
    }

    /// OACs carry no tags: the ownership marker is the description modu writes.
    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
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
        refuse_unless(
            cx,
            summary.description() == description(cx),
            format!("origin access control {name}"),
            "delete or rename it in the CloudFront console".into(),
        )?;
        let found = Found::new(summary.id()).with(Outputs::Named { name });
        Ok(Some(Observed::new(found, ())))
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
        Ok(Found::new(id).with(Outputs::Named { name }))
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        Ok(Health::ok(
            "signs S3 requests (sigv4, always)",
            json!({ "id": observed.found.id }),
        ))
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        const GONE: &[&str] = &["NoSuchOriginAccessControl"];
        // A distribution being disabled still references the OAC for a moment.
        cx.retry_on(
            self,
            "OriginAccessControlInUse",
            "to be released by the distribution",
            || async {
                let current = cx
                    .clients
                    .cloudfront
                    .get_origin_access_control()
                    .id(&found.id)
                    .send()
                    .await
                    .or_absent(GONE, "reading", KIND, &found.id)?;
                let Some(current) = current else {
                    return Ok(());
                };
                cx.clients
                    .cloudfront
                    .delete_origin_access_control()
                    .id(&found.id)
                    .if_match(current.e_tag().unwrap_or_default())
                    .send()
                    .await
                    .or_gone(GONE, KIND, &found.id)
            },
        )
        .await
    }
}
