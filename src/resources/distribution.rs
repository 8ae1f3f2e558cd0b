//! The CloudFront distribution in front of the load balancer, with the images bucket as a
//! second origin for `/media/*`.
//!
//! Behaviours: everything defaults to the load balancer with all methods allowed and
//! viewers redirected to HTTPS, uncached (pages carry sessions); `/api/*` is never cached and
//! forwards every viewer header, cookie and query string; `/static/*` and `/media/*` are
//! cached. The config is compared field by field on what modu owns, so an unchanged spec
//! never triggers a (slow) redeployment. Deleting takes two steps, as AWS requires: disable,
//! wait until deployed, then delete with the current ETag.

use async_trait::async_trait;
use aws_sdk_cloudfront::types::{
    Aliases, AllowedMethods, CacheBehavior, CacheBehaviors, CachedMethods, CustomOriginConfig,
    DefaultCacheBehavior, DistributionConfig, DistributionConfigWithTags, HttpVersion, Method,
    MinimumProtocolVersion, Origin, OriginProtocolPolicy, Origins, PriceClass as AwsPriceClass,
    S3OriginConfig, SslSupportMethod, Tag, Tags, ViewerCertificate, ViewerProtocolPolicy,
};
use serde_json::{Value, json};

use super::{Context, Deps, Found, Health, Resource, unique_reference};
use crate::aws::errors::{self, AwsContext, built};
use crate::aws::tags;
use crate::aws::wait::Poll;
use crate::error::{Error, Result};
use crate::spec::DnsTarget;
use crate::spec::Spec;

pub struct Distribution;

const KIND: &str = "distribution";
/// The hosted zone id every CloudFront alias target uses.
pub const CLOUDFRONT_HOSTED_ZONE_ID: &str = "Z2FDTNDATAQYW2";
/// AWS managed cache policy "CachingOptimized".
const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
/// AWS managed cache policy "CachingDisabled".
const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
/// AWS managed origin request policy "AllViewer": every header, cookie and query string.
const ALL_VIEWER: &str = "216adef6-5c7f-47e4-b989-5492eafa07d3";
const LB_ORIGIN: &str = "load-balancer";
const MEDIA_ORIGIN: &str = "media-bucket";

fn comment(cx: &Context) -> String {
    format!("modu:{}", cx.spec.stack)
}

fn methods(all: bool) -> Result<AllowedMethods> {
    let items = if all {
        vec![
            Method::Get,
            Method::Head,
            Method::Options,
            Method::Put,
            Method::Post,
            Method::Patch,
            Method::Delete,
        ]
    } else {
        vec![Method::Get, Method::Head]
    };
    built(
        AllowedMethods::builder()
            .quantity(items.len() as i32)
            .set_items(Some(items))
            .cached_methods(built(
                CachedMethods::builder()
                    .quantity(2)
                    .items(Method::Get)
                    .items(Method::Head)
                    .build(),
            )?)
            .build(),
    )
}

/// A path behaviour: (pattern, origin, all methods?, cache policy, origin request policy).
type Route = (
    &'static str,
    &'static str,
    bool,
    &'static str,
    Option<&'static str>,
);

const ROUTES: [Route; 3] = [
    (
        "/api/*",
        LB_ORIGIN,
        true,
        CACHING_DISABLED,
        Some(ALL_VIEWER),
    ),
    ("/static/*", LB_ORIGIN, false, CACHING_OPTIMIZED, None),
    ("/media/*", MEDIA_ORIGIN, false, CACHING_OPTIMIZED, None),
];

impl Distribution {
    fn desired(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        caller_reference: &str,
    ) -> Result<DistributionConfig> {
        let cdn = cx.spec.cdn.as_ref().ok_or_else(|| {
            Error::precondition(
                "internal: distribution asked for without a cdn section",
                "report this bug",
            )
        })?;
        let lb = &cx.spec.load_balancer;
        let (policy, http_port, https_port) = match lb.certificate_arn {
            Some(_) => (OriginProtocolPolicy::HttpsOnly, 80, i32::from(lb.port)),
            None => (OriginProtocolPolicy::HttpOnly, i32::from(lb.port), 443),
        };
        let lb_origin = built(
            Origin::builder()
                .id(LB_ORIGIN)
                .domain_name(deps.output("load-balancer", "dns_name")?)
                .custom_origin_config(built(
                    CustomOriginConfig::builder()
                        .http_port(http_port)
                        .https_port(https_port)
                        .origin_protocol_policy(policy)
                        .build(),
                )?)
                .build(),
        )?;
        let bucket = deps.id("bucket")?;
        let media_origin = built(
            Origin::builder()
                .id(MEDIA_ORIGIN)
                .domain_name(format!("{bucket}.s3.{}.amazonaws.com", cx.spec.region))
                // With an origin access control the legacy identity must be empty.
                .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
                .origin_access_control_id(deps.id("cdn-oac")?)
                .build(),
        )?;
        let default_behavior = built(
            DefaultCacheBehavior::builder()
                .target_origin_id(LB_ORIGIN)
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .allowed_methods(methods(true)?)
                .cache_policy_id(CACHING_DISABLED)
                .origin_request_policy_id(ALL_VIEWER)
                .compress(true)
                .build(),
        )?;
        let behaviors = ROUTES
            .iter()
            .map(|(pattern, origin, all, cache, request)| {
                built(
                    CacheBehavior::builder()
                        .path_pattern(*pattern)
                        .target_origin_id(*origin)
                        .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                        .allowed_methods(methods(*all)?)
                        .cache_policy_id(*cache)
                        .set_origin_request_policy_id(request.map(str::to_string))
                        .compress(true)
                        .build(),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        // CloudFront answers only for names it knows: the stack's DNS record joins the
        // aliases when a certificate can cover it.
        let mut aliases = cdn.aliases.clone();
        if let Some(dns) = &cx.spec.dns
            && dns.target == DnsTarget::Cdn
        {
            if cdn.certificate_arn.is_some() {
                if !aliases.contains(&dns.record) {
                    aliases.push(dns.record.clone());
                }
            } else {
                tracing::warn!(
                    record = %dns.record,
                    "CloudFront will answer 403 for {} until `cdn.certificate_arn` covers it",
                    dns.record
                );
            }
        }
        let viewer_certificate = match &cdn.certificate_arn {
            Some(arn) if !aliases.is_empty() => ViewerCertificate::builder()
                .acm_certificate_arn(arn)
                .ssl_support_method(SslSupportMethod::SniOnly)
                .minimum_protocol_version(MinimumProtocolVersion::TlSv122021)
                .build(),
            _ => ViewerCertificate::builder()
                .cloud_front_default_certificate(true)
                .build(),
        };
        built(
            DistributionConfig::builder()
                .caller_reference(caller_reference)
                .comment(comment(cx))
                .enabled(true)
                .price_class(AwsPriceClass::from(cdn.price_class.aws_value()))
                .http_version(HttpVersion::Http2and3)
                .is_ipv6_enabled(true)
                .aliases(built(
                    Aliases::builder()
                        .quantity(aliases.len() as i32)
                        .set_items((!aliases.is_empty()).then_some(aliases))
                        .build(),
                )?)
                .origins(built(
                    Origins::builder()
                        .quantity(2)
                        .items(lb_origin)
                        .items(media_origin)
                        .build(),
                )?)
                .default_cache_behavior(default_behavior)
                .cache_behaviors(built(
                    CacheBehaviors::builder()
                        .quantity(behaviors.len() as i32)
                        .set_items(Some(behaviors))
                        .build(),
                )?)
                .viewer_certificate(viewer_certificate)
                .build(),
        )
    }

    /// Replaces the distribution's config; `etag` is the one read with the current config.
    async fn update(
        &self,
        cx: &Context,
        id: &str,
        etag: String,
        config: DistributionConfig,
        action: &'static str,
    ) -> Result<()> {
        cx.clients
            .cloudfront
            .update_distribution()
            .id(id)
            .if_match(etag)
            .distribution_config(config)
            .send()
            .await
            .context(action, KIND, id)?;
        Ok(())
    }

    async fn wait_deployed(&self, cx: &Context, id: &str) -> Result<()> {
        cx.wait_for(self, "to deploy", || async {
            let out = cx
                .clients
                .cloudfront
                .get_distribution()
                .id(id)
                .send()
                .await
                .context("reading", KIND, id)?;
            let status = out
                .distribution()
                .map(|d| d.status().to_string())
                .unwrap_or_default();
            Ok(if status == "Deployed" {
                Poll::Ready(())
            } else {
                Poll::Pending(status)
            })
        })
        .await
    }

    async fn config(&self, cx: &Context, id: &str) -> Result<(DistributionConfig, String)> {
        let out = cx
            .clients
            .cloudfront
            .get_distribution_config()
            .id(id)
            .send()
            .await
            .context("reading the config of", KIND, id)?;
        let etag = out.e_tag().unwrap_or_default().to_string();
        let config = out.distribution_config.ok_or_else(|| {
            Error::precondition(
                format!("distribution {id} has no config"),
                "check it in the CloudFront console",
            )
        })?;
        Ok((config, etag))
    }
}

/// The parts of a distribution config modu owns, in comparable form.
fn fingerprint(config: &DistributionConfig) -> Value {
    let origins: Vec<Value> = config
        .origins()
        .map(|o| o.items())
        .unwrap_or_default()
        .iter()
        .map(|o| {
            json!({
                "id": o.id(),
                "domain": o.domain_name(),
                "protocol": o.custom_origin_config().map(|c| c.origin_protocol_policy().as_str()),
                "ports": o.custom_origin_config().map(|c| [c.http_port(), c.https_port()]),
                "oac": o.origin_access_control_id().filter(|id| !id.is_empty()),
            })
        })
        .collect();
    let methods = |m: Option<&AllowedMethods>| {
        let mut items: Vec<&str> = m
            .map(|m| m.items())
            .unwrap_or_default()
            .iter()
            .map(|m| m.as_str())
            .collect();
        items.sort_unstable();
        items.join(",")
    };
    let default = config.default_cache_behavior().map(|b| {
        json!({
            "origin": b.target_origin_id(),
            "viewer": b.viewer_protocol_policy().as_str(),
            "methods": methods(b.allowed_methods()),
            "cache": b.cache_policy_id(),
            "request": b.origin_request_policy_id().filter(|p| !p.is_empty()),
        })
    });
    let behaviors: Vec<Value> = config
        .cache_behaviors()
        .map(|b| b.items())
        .unwrap_or_default()
        .iter()
        .map(|b| {
            json!({
                "path": b.path_pattern(),
                "origin": b.target_origin_id(),
                "viewer": b.viewer_protocol_policy().as_str(),
                "methods": methods(b.allowed_methods()),
                "cache": b.cache_policy_id(),
                "request": b.origin_request_policy_id().filter(|p| !p.is_empty()),
            })
        })
        .collect();
    let mut aliases: Vec<&str> = config
        .aliases()
        .map(|a| a.items())
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    aliases.sort_unstable();
    json!({
        "enabled": config.enabled(),
        "price_class": config.price_class().map(|p| p.as_str()),
        "aliases": aliases,
        "certificate": config.viewer_certificate().and_then(|v| v.acm_certificate_arn()).filter(|a| !a.is_empty()),
        "origins": origins,
        "default_behavior": default,
        "behaviors": behaviors,
    })
}

/// Names of the top-level fingerprint fields that differ.
fn differences(current: &Value, desired: &Value) -> Vec<String> {
    let (Some(current), Some(desired)) = (current.as_object(), desired.as_object()) else {
        return vec!["config".into()];
    };
    desired
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(v))
        .map(|(k, v)| match k.as_str() {
            "price_class" | "enabled" => format!(
                "{k} -> {}",
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            ),
            _ => k.replace('_', " "),
        })
        .collect()
}

#[async_trait]
impl Resource for Distribution {
    fn key(&self) -> &'static str {
        "cdn"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        comment(cx)
    }
    fn depends_on(&self) -> Vec<&'static str> {
        vec!["load-balancer", "listener", "bucket", "cdn-oac"]
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.cdn.is_some()
    }

    async fn find(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Found>> {
        let wanted = comment(cx);
        let mut marker: Option<String> = None;
        loop {
            let out = cx
                .clients
                .cloudfront
                .list_distributions()
                .set_marker(marker.clone())
                .send()
                .await
                .context("listing", KIND, &wanted)?;
            let Some(list) = out.distribution_list() else {
                return Ok(None);
            };
            if let Some(summary) = list.items().iter().find(|d| d.comment() == wanted) {
                let tags_out = cx
                    .clients
                    .cloudfront
                    .list_tags_for_resource()
                    .resource(summary.arn())
                    .send()
                    .await
                    .context("reading tags of", KIND, summary.id())?;
                let owned = tags::owned_by(
                    tags_out
                        .tags()
                        .map(|t| t.items())
                        .unwrap_or_default()
                        .iter()
                        .map(|t| (t.key(), t.value().unwrap_or_default())),
                    &cx.spec.stack,
                );
                if !owned {
                    return Err(Error::precondition(
                        format!(
                            "distribution {} is labelled {wanted} but is not tagged as part of stack {}",
                            summary.id(),
                            cx.spec.stack
                        ),
                        format!(
                            "tag it `{}={}` to let modu manage it, or change its comment",
                            tags::STACK,
                            cx.spec.stack
                        ),
                    ));
                }
                return Ok(Some(
                    Found::new(summary.id())
                        .with("arn", summary.arn())
                        .with("domain_name", summary.domain_name()),
                ));
            }
            match list.next_marker() {
                Some(next) if list.is_truncated() => marker = Some(next.to_string()),
                _ => return Ok(None),
            }
        }
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = comment(cx);
        let reference = unique_reference(&name);
        let config = self.desired(cx, deps, &reference)?;
        let tag_items = tags::for_resource(&cx.spec, self.key(), &name)
            .into_iter()
            .map(|(k, v)| built(Tag::builder().key(k).value(v).build()))
            .collect::<Result<Vec<_>>>()?;
        let out = cx
            .clients
            .cloudfront
            .create_distribution_with_tags()
            .distribution_config_with_tags(
                DistributionConfigWithTags::builder()
                    .distribution_config(config)
                    .tags(Tags::builder().set_items(Some(tag_items)).build())
                    .build(),
            )
            .send()
            .await
            .context("creating", KIND, &name)?;
        let distribution = out.distribution().ok_or_else(|| {
            Error::precondition("CloudFront returned no distribution", "run `modu up` again")
        })?;
        let found = Found::new(distribution.id())
            .with("arn", distribution.arn())
            .with("domain_name", distribution.domain_name());
        self.wait_deployed(cx, distribution.id()).await?;
        Ok(found)
    }

    async fn converge(&self, cx: &Context, deps: &Deps<'_>, found: &Found) -> Result<Vec<String>> {
        let (current, etag) = self.config(cx, &found.id).await?;
        let desired = self.desired(cx, deps, current.caller_reference())?;
        let changes = differences(&fingerprint(&current), &fingerprint(&desired));
        if changes.is_empty() {
            return Ok(changes);
        }
        self.update(cx, &found.id, etag, desired, "updating")
            .await?;
        self.wait_deployed(cx, &found.id).await?;
        Ok(changes)
    }

    async fn health(&self, cx: &Context, _deps: &Deps<'_>, found: &Found) -> Result<Health> {
        let out = cx
            .clients
            .cloudfront
            .get_distribution()
            .id(&found.id)
            .send()
            .await
            .context("reading", KIND, &found.id)?;
        let Some(d) = out.distribution() else {
            return Ok(Health {
                healthy: false,
                state: "gone".into(),
                details: json!({}),
            });
        };
        let enabled = d
            .distribution_config()
            .map(|c| c.enabled())
            .unwrap_or(false);
        Ok(Health {
            healthy: d.status() == "Deployed" && enabled,
            state: format!(
                "{}{}, {}",
                d.status(),
                if enabled { "" } else { " (disabled)" },
                d.domain_name()
            ),
            details: json!({
                "status": d.status(),
                "domain_name": d.domain_name(),
                "enabled": enabled,
                "price_class": d.distribution_config().and_then(|c| c.price_class()).map(|p| p.as_str()),
            }),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        let (mut config, etag) = match self.config(cx, &found.id).await {
            Err(Error::Aws {
                code: Some(code), ..
            }) if code == "NoSuchDistribution" => return Ok(()),
            other => other?,
        };
        if config.enabled() {
            config.enabled = false;
            self.update(cx, &found.id, etag, config, "disabling")
                .await?;
        }
        self.wait_deployed(cx, &found.id).await?;
        let etag = cx
            .clients
            .cloudfront
            .get_distribution()
            .id(&found.id)
            .send()
            .await
            .context("reading", KIND, &found.id)?
            .e_tag()
            .unwrap_or_default()
            .to_string();
        let result = cx
            .clients
            .cloudfront
            .delete_distribution()
            .id(&found.id)
            .if_match(etag)
            .send()
            .await;
        match result {
            Err(err) if errors::is_code(&err, &["NoSuchDistribution"]) => Ok(()),
            other => other.map(|_| ()).context("deleting", KIND, &found.id),
        }
    }

    fn stack_outputs(&self, _cx: &Context, found: &Found) -> Vec<(&'static str, String)> {
        let domain = found.output("domain_name").unwrap_or_default();
        vec![("cdn_url", format!("https://{domain}/"))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_the_changed_fields() {
        let a = json!({"price_class": "PriceClass_100", "aliases": [], "enabled": true});
        let b = json!({"price_class": "PriceClass_200", "aliases": ["x"], "enabled": true});
        assert_eq!(
            differences(&a, &b),
            vec![
                "aliases".to_string(),
                "price_class -> PriceClass_200".to_string()
            ]
        );
        assert!(differences(&b, &b).is_empty());
    }
}
