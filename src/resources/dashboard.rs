//! The CloudWatch dashboard named after the stack, generated from the real resource
//! identifiers so it works the moment the stack is up. `up` rewrites it when the generated
//! body differs from the stored one (compared as JSON, not as text).

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Context, Deps, Found, Health, Resource};
use crate::aws::errors::{self, AwsContext};
use crate::error::Result;
use crate::spec::Spec;

pub struct Dashboard;

const KIND: &str = "dashboard";

/// The part of an ELBv2 ARN that CloudWatch uses as the dimension value
/// (`app/name/id` for a load balancer, `targetgroup/name/id` for a target group).
pub(super) fn arn_dimension(arn: &str) -> &str {
    match arn.split_once(":loadbalancer/") {
        Some((_, rest)) => rest,
        None => arn.rsplit_once(':').map(|(_, rest)| rest).unwrap_or(arn),
    }
}

fn widget(title: &str, region: &str, metrics: Value, extra: Value, position: (u32, u32)) -> Value {
    let mut properties = json!({
        "title": title,
        "region": region,
        "view": "timeSeries",
        "stacked": false,
        "period": 60,
        "metrics": metrics,
    });
    if let (Some(props), Some(extra)) = (properties.as_object_mut(), extra.as_object()) {
        props.extend(extra.clone());
    }
    json!({ "type": "metric", "x": position.0, "y": position.1, "width": 12, "height": 6, "properties": properties })
}

/// The dashboard body for the stack as it is now.
pub fn body(cx: &Context, deps: &Deps<'_>) -> Result<Value> {
    let region = cx.spec.region.as_str();
    let lb = arn_dimension(deps.id("load-balancer")?).to_string();
    let tg = arn_dimension(deps.id("target-group")?).to_string();
    let asg = deps.id("asg")?.to_string();
    let elb = "AWS/ApplicationELB";
    let mut widgets = vec![
        (
            "Requests",
            region,
            json!([[elb, "RequestCount", "LoadBalancer", lb, {"stat": "Sum"}]]),
            json!({}),
        ),
        (
            "Target response time (p50, p99)",
            region,
            json!([
                [elb, "TargetResponseTime", "LoadBalancer", lb, {"stat": "p50"}],
                [elb, "TargetResponseTime", "LoadBalancer", lb, {"stat": "p99"}]
            ]),
            json!({}),
        ),
        (
            "5xx errors",
            region,
            json!([
                [elb, "HTTPCode_Target_5XX_Count", "LoadBalancer", lb, {"stat": "Sum"}],
                [elb, "HTTPCode_ELB_5XX_Count", "LoadBalancer", lb, {"stat": "Sum"}]
            ]),
            json!({}),
        ),
        (
            "Healthy / unhealthy hosts",
            region,
            json!([
                [elb, "HealthyHostCount", "TargetGroup", tg, "LoadBalancer", lb, {"stat": "Minimum"}],
                [elb, "UnHealthyHostCount", "TargetGroup", tg, "LoadBalancer", lb, {"stat": "Maximum"}]
            ]),
            json!({}),
        ),
        (
            "Instance CPU",
            region,
            json!([["AWS/EC2", "CPUUtilization", "AutoScalingGroupName", asg, {"stat": "Average"}]]),
            json!({
                "yAxis": {"left": {"min": 0, "max": 100}},
                "annotations": {"horizontal": [{"label": "scaling target", "value": cx.spec.compute.cpu_target}]}
            }),
        ),
        (
            "Instances in service",
            region,
            json!([["AWS/AutoScaling", "GroupInServiceInstances", "AutoScalingGroupName", asg, {"stat": "Average"}]]),
            json!({}),
        ),
    ];
    if cx.spec.cdn.is_some()
        && let Some(cdn) = deps.get("cdn")
    {
        let id = cdn.id.clone();
        // CloudFront publishes its metrics in us-east-1 with Region=Global.
        widgets.push((
            "CloudFront requests",
            "us-east-1",
            json!([["AWS/CloudFront", "Requests", "DistributionId", id, "Region", "Global", {"stat": "Sum"}]]),
            json!({}),
        ));
        widgets.push((
            "CloudFront error rates (%)",
            "us-east-1",
            json!([
                ["AWS/CloudFront", "4xxErrorRate", "DistributionId", id, "Region", "Global", {"stat": "Average"}],
                ["AWS/CloudFront", "5xxErrorRate", "DistributionId", id, "Region", "Global", {"stat": "Average"}]
            ]),
            json!({}),
        ));
    }
    if cx.spec.cache.is_some()
        && let Some(cache) = deps.get("cache")
    {
        let members: Vec<String> = cache
            .output("members")
            .unwrap_or_default()
            .split(',')
            .filter(|m| !m.is_empty())
            .map(String::from)
            .collect();
        let per_member = |metric: &str, stat: &str| -> Value {
            members
                .iter()
                .map(|m| json!(["AWS/ElastiCache", metric, "CacheClusterId", m, {"stat": stat}]))
                .collect()
        };
        widgets.push((
            "Cache CPU",
            region,
            per_member("CPUUtilization", "Average"),
            json!({}),
        ));
        widgets.push((
            "Cache connections",
            region,
            per_member("CurrConnections", "Maximum"),
            json!({}),
        ));
        widgets.push((
            "Cache hit rate (%)",
            region,
            per_member("CacheHitRate", "Average"),
            json!({}),
        ));
    }
    let widgets: Vec<Value> = widgets
        .into_iter()
        .enumerate()
        .map(|(i, (title, region, metrics, extra))| {
            let i = i as u32;
            widget(title, region, metrics, extra, ((i % 2) * 12, (i / 2) * 6))
        })
        .collect();
    Ok(json!({ "widgets": widgets }))
}

impl Dashboard {
    async fn current(&self, cx: &Context, name: &str) -> Result<Option<Value>> {
        let result = cx
            .clients
            .cloudwatch
            .get_dashboard()
            .dashboard_name(name)
            .send()
            .await;
        match result {
            Err(err)
                if errors::is_code(&err, &["ResourceNotFound", "ResourceNotFoundException"]) =>
            {
                Ok(None)
            }
            other => {
                let text = other
                    .context("reading", KIND, name)?
                    .dashboard_body
                    .unwrap_or_default();
                Ok(Some(serde_json::from_str(&text).unwrap_or(Value::Null)))
            }
        }
    }

    async fn put(&self, cx: &Context, name: &str, body: &Value) -> Result<()> {
        let out = cx
            .clients
            .cloudwatch
            .put_dashboard()
            .dashboard_name(name)
            .dashboard_body(body.to_string())
            .send()
            .await
            .context("writing", KIND, name)?;
        if let Some(problem) = out.dashboard_validation_messages().first() {
            tracing::warn!(
                dashboard = name,
                message = problem.message().unwrap_or_default(),
                "CloudWatch flagged the dashboard"
            );
        }
        Ok(())
    }

    fn url(cx: &Context, name: &str) -> String {
        let region = &cx.spec.region;
        format!(
            "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards:name={name}"
        )
    }
}

#[async_trait]
impl Resource for Dashboard {
    fn key(&self) -> &'static str {
        "dashboard"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        cx.spec.stack.clone()
    }
    fn depends_on(&self) -> Vec<&'static str> {
        vec!["load-balancer", "target-group", "asg", "cdn", "cache"]
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.dashboard.is_some()
    }

    async fn find(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Found>> {
        let name = self.name(cx);
        Ok(self.current(cx, &name).await?.map(|_| Found::new(&name)))
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        self.put(cx, &name, &body(cx, deps)?).await?;
        Ok(Found::new(name))
    }

    async fn converge(&self, cx: &Context, deps: &Deps<'_>, found: &Found) -> Result<Vec<String>> {
        let desired = body(cx, deps)?;
        if self.current(cx, &found.id).await?.as_ref() == Some(&desired) {
            return Ok(Vec::new());
        }
        self.put(cx, &found.id, &desired).await?;
        Ok(vec!["widgets regenerated".into()])
    }

    async fn health(&self, cx: &Context, _deps: &Deps<'_>, found: &Found) -> Result<Health> {
        let widgets = self
            .current(cx, &found.id)
            .await?
            .and_then(|b| b["widgets"].as_array().map(Vec::len))
            .unwrap_or(0);
        let url = Self::url(cx, &found.id);
        Ok(Health::ok(
            format!("{widgets} widgets, {url}"),
            json!({ "widgets": widgets, "url": url }),
        ))
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        let result = cx
            .clients
            .cloudwatch
            .delete_dashboards()
            .dashboard_names(&found.id)
            .send()
            .await;
        match result {
            Err(err)
                if errors::is_code(&err, &["ResourceNotFound", "ResourceNotFoundException"]) =>
            {
                Ok(())
            }
            other => other.map(|_| ()).context("deleting", KIND, &found.id),
        }
    }

    fn stack_outputs(&self, cx: &Context, found: &Found) -> Vec<(&'static str, String)> {
        vec![("dashboard_url", Self::url(cx, &found.id))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elb_arns_become_cloudwatch_dimensions() {
        assert_eq!(
            arn_dimension(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web-lb/50dc6c495c0c9188"
            ),
            "app/web-lb/50dc6c495c0c9188"
        );
        assert_eq!(
            arn_dimension(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-tg/73e2d6bc24d8a067"
            ),
            "targetgroup/web-tg/73e2d6bc24d8a067"
        );
    }
}
