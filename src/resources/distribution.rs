//! The CloudFront distribution in front of the load balancer, with the images bucket as a
//! second origin for `/media/*`.
//!
//! The load balancer is reached over HTTPS at the stack's origin name (which its
//! certificate covers; never the `*.elb.amazonaws.com` name, which no certificate can), or
//! over HTTP when the spec says so, and every request to it carries the stack's secret
//! origin header, without which the load balancer answers 403.
//!
//! Behaviours: everything defaults to the load balancer with all methods allowed and
//! viewers redirected to HTTPS, uncached (pages carry sessions); `/api/*` is never cached and
//! forwards every viewer header, cookie and query string, both with CloudFront's own
//! headers (`CloudFront-Forwarded-Proto` tells the service the viewer used HTTPS); `/assets/*` (the page's script
//! and style sheet) and `/media/*` are cached. The config is compared field by field on what modu owns, so an unchanged spec
//! never triggers a (slow) redeployment. Deleting takes two steps, as AWS requires: disable,
//! wait until deployed, then delete with the current ETag.

use async_trait::async_trait;
use aws_sdk_cloudfront::types::{
    Aliases, AllowedMethods, CacheBehavior, CacheBehaviors, CachedMethods, CustomHeaders,
    CustomOriginConfig, DefaultCacheBehavior, DistributionConfig, DistributionConfigWithTags,
    DistributionSummary, HttpVersion, Method, MinimumProtocolVersion, Origin, OriginCustomHeader,
    OriginProtocolPolicy, OriginSslProtocols, Origins, PriceClass as AwsPriceClass, S3OriginConfig,
    SslProtocol, SslSupportMethod, Tag, Tags, ViewerCertificate, ViewerProtocolPolicy,
};
use serde_json::{Value, json};

use super::origin_secret::{self, HEADER};
use super::toolkit::is_code;
use super::{
    Change, Context, Deps, Found, Health, KNOWN_AFTER_UP, Key, Observed, Outputs, Resource,
    ensure_owned, unique_reference,
};
use crate::aws::errors::{Absent, AwsContext, built};
use crate::aws::tags;
use crate::aws::wait::Poll;
use crate::error::{Error, Result};
use crate::spec::{DnsTarget, OriginProtocol, Spec};

pub struct Distribution;

const KIND: &str = "distribution";

/// How many times an update is sent, each over a freshly read ETag when the last one was
/// stale: each lost reply of an update makes the SDK's retry of it stale once.
const STALE_ETAG_ROUNDS: usize = 3;

/// The hosted zone id every CloudFront alias target uses.
pub const CLOUDFRONT_HOSTED_ZONE_ID: &str = "Z2FDTNDATAQYW2";
/// AWS managed cache policy "CachingOptimized".
const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
/// AWS managed cache policy "CachingDisabled".
const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
/// AWS managed origin request policy "AllViewerAndCloudFrontHeaders-2022-06": every
/// header, cookie and query string, and CloudFront's own headers (viewer protocol, address).
const ALL_VIEWER_AND_CLOUDFRONT: &str = "33f36d7e-f396-46d9-90e0-52428a34d9dc";
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

/// A path behaviour.
struct Route {
    pattern: &'static str,
    origin: &'static str,
    /// Every method (the API), or only GET and HEAD (cached content).
    all_methods: bool,
    cache_policy: &'static str,
    origin_request_policy: Option<&'static str>,
}

const ROUTES: [Route; 3] = [
    Route {
        pattern: "/api/*",
        origin: LB_ORIGIN,
        all_methods: true,
        cache_policy: CACHING_DISABLED,
        origin_request_policy: Some(ALL_VIEWER_AND_CLOUDFRONT),
    },
    Route {
        pattern: "/assets/*",
        origin: LB_ORIGIN,
        all_methods: false,
        cache_policy: CACHING_OPTIMIZED,
        origin_request_policy: None,
    },
    Route {
        pattern: "/media/*",
        origin: MEDIA_ORIGIN,
        all_methods: false,
        cache_policy: CACHING_OPTIMIZED,
        origin_request_policy: None,
    },
];

impl Distribution {
    fn desired(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        caller_reference: &str,
    ) -> Result<DistributionConfig> {
        let cdn = cx
            .spec
            .cdn
            .as_ref()
            .ok_or_else(|| Error::internal("distribution asked for without a cdn section"))?;
        let lb = &cx.spec.load_balancer;
        let (domain, policy, http_port, https_port) = match cdn.origin_protocol {
            OriginProtocol::Https => (
                cx.spec
                    .origin_name()
                    .ok_or_else(|| Error::internal("an HTTPS origin without an origin name"))?,
                OriginProtocolPolicy::HttpsOnly,
                80,
                i32::from(lb.port),
            ),
            OriginProtocol::Http => (
                deps.load_balancer_dns()?.0.to_string(),
                OriginProtocolPolicy::HttpOnly,
                i32::from(lb.port),
                443,
            ),
        };
        let secret = origin_secret::values(deps)?
            .map(|v| v.sent().expose())
            .unwrap_or(KNOWN_AFTER_UP);
        let lb_origin = built(
            Origin::builder()
                .id(LB_ORIGIN)
                .domain_name(domain)
                .custom_origin_config(built(
                    CustomOriginConfig::builder()
                        .http_port(http_port)
                        .https_port(https_port)
                        .origin_protocol_policy(policy)
                        .origin_ssl_protocols(built(
                            OriginSslProtocols::builder()
                                .quantity(1)
                                .items(SslProtocol::TlSv12)
                                .build(),
                        )?)
                        .build(),
                )?)
                .custom_headers(built(
                    CustomHeaders::builder()
                        .quantity(1)
                        .items(built(
                            OriginCustomHeader::builder()
                                .header_name(HEADER)
                                .header_value(secret)
                                .build(),
                        )?)
                        .build(),
                )?)
                .build(),
        )?;
        let bucket = deps.id(Key::Bucket)?;
        let media_origin = built(
            Origin::builder()
                .id(MEDIA_ORIGIN)
                .domain_name(format!("{bucket}.s3.{}.amazonaws.com", cx.spec.region))
                // With an origin access control the legacy identity must be empty.
                .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
                .origin_access_control_id(deps.id(Key::CdnOac)?)
                .build(),
        )?;
        let default_behavior = built(
            DefaultCacheBehavior::builder()
                .target_origin_id(LB_ORIGIN)
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .allowed_methods(methods(true)?)
                .cache_policy_id(CACHING_DISABLED)
                .origin_request_policy_id(ALL_VIEWER_AND_CLOUDFRONT)
                .compress(true)
                .build(),
        )?;
        let behaviors = ROUTES
            .iter()
            .map(|route| {
                built(
                    CacheBehavior::builder()
                        .path_pattern(route.pattern)
                        .target_origin_id(route.origin)
                        .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                        .allowed_methods(methods(route.all_methods)?)
                        .cache_policy_id(route.cache_policy)
                        .set_origin_request_policy_id(
                            route.origin_request_policy.map(str::to_string),
                        )
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
    /// A stale ETag is read afresh up to [`STALE_ETAG_ROUNDS`] times in all.
    async fn update(
        &self,
        cx: &Context,
        id: &str,
        etag: String,
        config: DistributionConfig,
        action: &'static str,
    ) -> Result<()> {
        let send = |etag: String, config: DistributionConfig| {
            cx.clients
                .cloudfront
                .update_distribution()
                .id(id)
                .if_match(etag)
                .distribution_config(config)
                .send()
        };
        let mut etag = etag;
        for _ in 1..STALE_ETAG_ROUNDS {
            match send(etag, config.clone()).await {
                // The config changed since it was read: most likely by this very update,
                // applied by an attempt whose reply was lost, so the SDK's retry carried a
                // stale ETag. `config` is the whole wanted config: send it again over the
                // fresh one.
                Err(err) if crate::aws::errors::is_code(&err, &["PreconditionFailed"]) => {
                    etag = self.config(cx, id).await?.1;
                }
                other => {
                    other.context(action, KIND, id)?;
                    return Ok(());
                }
            }
        }
        send(etag, config).await.context(action, KIND, id)?;
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
        let config = out.distribution_config.ok_or(Error::Disappeared {
            kind: KIND,
            name: id.to_string(),
        })?;
        Ok((config, etag))
    }
}

/// The parts of a distribution modu owns, borrowed from a config or a list summary (which
/// carries the same fields, so observing needs no extra read).
struct Parts<'a> {
    enabled: bool,
    price_class: Option<&'a AwsPriceClass>,
    aliases: Option<&'a Aliases>,
    certificate: Option<&'a ViewerCertificate>,
    origins: Option<&'a Origins>,
    default_behavior: Option<&'a DefaultCacheBehavior>,
    behaviors: Option<&'a CacheBehaviors>,
}

impl<'a> Parts<'a> {
    fn of_config(c: &'a DistributionConfig) -> Self {
        Parts {
            enabled: c.enabled(),
            price_class: c.price_class(),
            aliases: c.aliases(),
            certificate: c.viewer_certificate(),
            origins: c.origins(),
            default_behavior: c.default_cache_behavior(),
            behaviors: c.cache_behaviors(),
        }
    }

    fn of_summary(s: &'a DistributionSummary) -> Self {
        Parts {
            enabled: s.enabled(),
            price_class: Some(s.price_class()),
            aliases: s.aliases(),
            certificate: s.viewer_certificate(),
            origins: s.origins(),
            default_behavior: s.default_cache_behavior(),
            behaviors: s.cache_behaviors(),
        }
    }
}

/// The parts of a distribution modu owns, in comparable form.
fn fingerprint(parts: &Parts<'_>) -> Value {
    let origins: Vec<Value> = parts
        .origins
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
                "headers": o.custom_headers().map(|h| h.items()).unwrap_or_default().iter().map(|h| {
                    let value = match h.header_value() {
                        KNOWN_AFTER_UP => KNOWN_AFTER_UP.to_string(),
                        value => origin_secret::SecretValue::new(value).fingerprint(),
                    };
                    format!("{}: {value}", h.header_name())
                }).collect::<Vec<_>>(),
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
    let default = parts.default_behavior.map(|b| {
        json!({
            "origin": b.target_origin_id(),
            "viewer": b.viewer_protocol_policy().as_str(),
            "methods": methods(b.allowed_methods()),
            "cache": b.cache_policy_id(),
            "request": b.origin_request_policy_id().filter(|p| !p.is_empty()),
        })
    });
    let behaviors: Vec<Value> = parts
        .behaviors
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
    let mut aliases: Vec<&str> = parts
        .aliases
        .map(|a| a.items())
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    aliases.sort_unstable();
    json!({
        "enabled": parts.enabled,
        "price_class": parts.price_class.map(|p| p.as_str()),
        "aliases": aliases,
        "certificate": parts.certificate.and_then(|v| v.acm_certificate_arn()).filter(|a| !a.is_empty()),
        "origins": origins,
        "default_behavior": default,
        "behaviors": behaviors,
    })
}

/// A fingerprint value as one line: plain for scalars and lists of scalars, JSON otherwise.
fn show(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "(none)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) if items.iter().all(|v| !v.is_object() && !v.is_array()) => {
            if items.is_empty() {
                "(none)".into()
            } else {
                items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            }
        }
        Some(other) => other.to_string(),
    }
}

/// The top-level fingerprint fields that differ, current → wanted.
fn differences(current: &Value, desired: &Value) -> Vec<Change> {
    let (Some(current), Some(desired)) = (current.as_object(), desired.as_object()) else {
        return vec![Change::new(
            "config",
            show(Some(current)),
            show(Some(desired)),
        )];
    };
    desired
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(v))
        .map(|(k, v)| Change::new(k.as_str(), show(current.get(k)), show(Some(v))))
        .collect()
}

/// The distribution as observed: its fingerprint and what `status` shows.
#[derive(Debug, Clone)]
struct Live {
    fingerprint: Value,
    status: String,
    enabled: bool,
    price_class: String,
}

fn found(id: &str, arn: &str, domain_name: &str) -> Found {
    Found::new(id).with(Outputs::Distribution {
        arn: arn.to_string(),
        domain_name: domain_name.to_string(),
    })
}

#[async_trait]
impl Resource for Distribution {
    fn key(&self) -> Key {
        Key::Cdn
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        comment(cx)
    }
    fn depends_on(&self) -> Vec<Key> {
        // The rule that lets its requests in, and the origin name, exist before it sends any.
        vec![
            Key::LoadBalancer,
            Key::Listener,
            Key::ListenerRule,
            Key::OriginSecret,
            Key::OriginRecord,
            Key::Bucket,
            Key::CdnOac,
        ]
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.cdn.is_some()
    }

    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        let wanted = comment(cx);
        let mut pages = cx
            .clients
            .cloudfront
            .list_distributions()
            .into_paginator()
            .send();
        let mut hit = None;
        while let Some(page) = pages.next().await {
            let page = page.context("listing", KIND, &wanted)?;
            if let Some(summary) = page
                .distribution_list()
                .map(|l| l.items())
                .unwrap_or_default()
                .iter()
                .find(|d| d.comment() == wanted)
            {
                hit = Some(summary.clone());
                break;
            }
        }
        let Some(summary) = hit else {
            return Ok(None);
        };
        let tags_out = cx
            .clients
            .cloudfront
            .list_tags_for_resource()
            .resource(summary.arn())
            .send()
            .await
            .context("reading tags of", KIND, summary.id())?;
        ensure_owned(
            cx,
            format!("distribution {} (labelled {wanted})", summary.id()),
            tags_out
                .tags()
                .map(|t| t.items())
                .unwrap_or_default()
                .iter()
                .map(|t| (t.key(), t.value().unwrap_or_default())),
        )?;
        let live = Live {
            fingerprint: fingerprint(&Parts::of_summary(&summary)),
            status: summary.status().to_string(),
            enabled: summary.enabled(),
            price_class: summary.price_class().as_str().to_string(),
        };
        Ok(Some(Observed::new(
            found(summary.id(), summary.arn(), summary.domain_name()),
            live,
        )))
    }

    fn diff(&self, cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        let live: &Live = observed.live()?;
        // The caller reference is not compared; any value builds the wanted config.
        let desired = self.desired(cx, deps, "")?;
        Ok(differences(
            &live.fingerprint,
            &fingerprint(&Parts::of_config(&desired)),
        ))
    }

    async fn apply(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        observed: &Observed,
        _changes: &[Change],
    ) -> Result<()> {
        let id = &observed.found.id;
        let (current, etag) = self.config(cx, id).await?;
        let desired = self.desired(cx, deps, current.caller_reference())?;
        self.update(cx, id, etag, desired, "updating").await?;
        self.wait_deployed(cx, id).await
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = comment(cx);
        let reference = unique_reference(&name);
        let config = self.desired(cx, deps, &reference)?;
        let tag_items = tags::sdk(&cx.spec, self.key().as_str(), &name, |k, v| {
            built(Tag::builder().key(k).value(v).build())
        })
        .into_iter()
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
        let distribution = out.distribution().ok_or(Error::Disappeared {
            kind: KIND,
            name: name.clone(),
        })?;
        let created = found(
            distribution.id(),
            distribution.arn(),
            distribution.domain_name(),
        );
        self.wait_deployed(cx, distribution.id()).await?;
        Ok(created)
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Live = observed.live()?;
        let domain = match &observed.found.outputs {
            Outputs::Distribution { domain_name, .. } => domain_name.as_str(),
            _ => "",
        };
        Ok(Health {
            healthy: live.status == "Deployed" && live.enabled,
            state: format!(
                "{}{}, {domain}",
                live.status,
                if live.enabled { "" } else { " (disabled)" },
            ),
            details: json!({
                "status": live.status,
                "domain_name": domain,
                "enabled": live.enabled,
                "price_class": live.price_class,
            }),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        let (mut config, etag) = match self.config(cx, &found.id).await {
            Err(err) if is_code(&err, "NoSuchDistribution") => return Ok(()),
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
        cx.clients
            .cloudfront
            .delete_distribution()
            .id(&found.id)
            .if_match(etag)
            .send()
            .await
            .or_gone(&["NoSuchDistribution"], KIND, &found.id)
    }

    fn stack_outputs(&self, _cx: &Context, found: &Found) -> Vec<(&'static str, String)> {
        let Outputs::Distribution { domain_name, .. } = &found.outputs else {
            return Vec::new();
        };
        vec![("cdn_url", format!("https://{domain_name}/"))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_the_changed_fields_with_both_values() {
        let a = json!({"price_class": "PriceClass_100", "aliases": [], "enabled": true});
        let b = json!({"price_class": "PriceClass_200", "aliases": ["x"], "enabled": true});
        assert_eq!(
            differences(&a, &b),
            vec![
                Change::new("aliases", "(none)", "x"),
                Change::new("price_class", "PriceClass_100", "PriceClass_200"),
            ]
        );
        assert!(differences(&b, &b).is_empty());
    }
}
