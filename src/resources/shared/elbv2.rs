//! ELBv2: the stack's target group, load balancer and listeners with their tags, read
//! together once (one `DescribeTags` for all of them), and tags in the ELBv2 shape.

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::types::{Listener, LoadBalancer, Tag, TargetGroup};

use crate::aws::errors::{Absent, AwsContext};
use crate::aws::tags;
use crate::error::Result;
use crate::resources::Context;

/// What ELBv2 holds of the stack, as one observation saw it.
#[derive(Debug, Default)]
pub struct View {
    pub target_group: Option<TargetGroup>,
    /// The target group's attributes (algorithm, deregistration delay).
    pub target_group_attributes: BTreeMap<String, String>,
    pub load_balancer: Option<LoadBalancer>,
    /// Every listener of the load balancer.
    pub listeners: Vec<Listener>,
    /// Tags by ARN, for all of the above.
    pub tags: BTreeMap<String, BTreeMap<String, String>>,
}

impl View {
    pub fn tags_of(&self, arn: &str) -> impl Iterator<Item = (&str, &str)> {
        self.tags
            .get(arn)
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// The state of each target of a target group (`initial`, `healthy`, `draining`…), by
/// instance id.
pub async fn target_states(cx: &Context, target_group: &str) -> Result<BTreeMap<String, String>> {
    let out = cx
        .clients
        .elbv2
        .describe_target_health()
        .target_group_arn(target_group)
        .send()
        .await
        .context("reading the target health of", "target-group", target_group)?;
    Ok(out
        .target_health_descriptions()
        .iter()
        .filter_map(|d| {
            let id = d.target()?.id()?.to_string();
            let state = d.target_health()?.state()?.as_str().to_string();
            Some((id, state))
        })
        .collect())
}

/// The stack's ELBv2 view for this observation, read on first use.
pub async fn view<'a>(
    cx: &Context,
    reads: &'a super::Reads,
    target_group: &str,
    load_balancer: &str,
) -> Result<&'a View> {
    reads
        .elb
        .get_or_try_init(|| read(cx, target_group, load_balancer))
        .await
}

async fn read(cx: &Context, target_group: &str, load_balancer: &str) -> Result<View> {
    let elb = &cx.clients.elbv2;
    let target_group = elb
        .describe_target_groups()
        .names(target_group)
        .send()
        .await
        .or_absent(
            &["TargetGroupNotFound"],
            "looking up",
            "target-group",
            target_group,
        )?
        .and_then(|out| out.target_groups.unwrap_or_default().into_iter().next());
    let load_balancer = elb
        .describe_load_balancers()
        .names(load_balancer)
        .send()
        .await
        .or_absent(
            &["LoadBalancerNotFound"],
            "looking up",
            "load-balancer",
            load_balancer,
        )?
        .and_then(|out| out.load_balancers.unwrap_or_default().into_iter().next());
    let mut view = View {
        target_group,
        load_balancer,
        ..View::default()
    };
    let mut arns = Vec::new();
    if let Some(arn) = view
        .target_group
        .as_ref()
        .and_then(|t| t.target_group_arn())
    {
        arns.push(arn.to_string());
        let out = elb
            .describe_target_group_attributes()
            .target_group_arn(arn)
            .send()
            .await
            .context("reading attributes of", "target-group", arn)?;
        view.target_group_attributes = out
            .attributes()
            .iter()
            .map(|a| {
                (
                    a.key().unwrap_or_default().to_string(),
                    a.value().unwrap_or_default().to_string(),
                )
            })
            .collect();
    }
    if let Some(arn) = view
        .load_balancer
        .as_ref()
        .and_then(|l| l.load_balancer_arn())
    {
        arns.push(arn.to_string());
        view.listeners = elb
            .describe_listeners()
            .load_balancer_arn(arn)
            .send()
            .await
            .or_absent(
                &["LoadBalancerNotFound"],
                "listing listeners of",
                "listener",
                arn,
            )?
            .and_then(|out| out.listeners)
            .unwrap_or_default();
        arns.extend(
            view.listeners
                .iter()
                .filter_map(|l| l.listener_arn())
                .map(String::from),
        );
    }
    // DescribeTags takes at most 20 ARNs a call.
    for chunk in arns.chunks(20) {
        let out = elb
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .context("reading tags of", "load-balancer", &chunk.join(","))?;
        for description in out.tag_descriptions() {
            view.tags.insert(
                description.resource_arn().unwrap_or_default().to_string(),
                description
                    .tags()
                    .iter()
                    .map(|t| {
                        (
                            t.key().unwrap_or_default().to_string(),
                            t.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect(),
            );
        }
    }
    Ok(view)
}

/// ELBv2 tags for a resource of the stack.
pub fn tag_list(cx: &Context, component: &str, name: &str) -> Vec<Tag> {
    tags::sdk(&cx.spec, component, name, |k, v| {
        Tag::builder().key(k).value(v).build()
    })
}
