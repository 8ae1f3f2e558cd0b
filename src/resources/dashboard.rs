//! The CloudWatch dashboard named after the stack, generated from the real resource
//! identifiers so it works the moment the stack is up. `up` rewrites it when the generated
//! body differs from the stored one (compared as JSON, not as text). Dashboards carry no
//! tags: a text widget naming the stack is the ownership marker.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::shared::cloudwatch::arn_dimension;
use super::toolkit::refuse_unless;
use super::{Change, Context, Deps, Found, Health, Key, Observed, Resource};
use crate::aws::errors::{Absent, AwsContext};
use crate::error::Result;
use crate::spec::Spec;

pub struct Dashboard;

const KIND: &str = "dashboard";
const NOT_FOUND: &[&str] = &["ResourceNotFound", "ResourceNotFoundException"];

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

/// The text widget that marks the dashboard as the stack's (dashboards carry no tags).
fn marker(stack: &str) -> String {
    format!("Managed by modu (`modu:stack={stack}`): `modu up` rewrites this dashboard.")
}

/// True when the body carries the stack's marker widget.
fn is_ours(body: &Value, stack: &str) -> bool {
    let marker = marker(stack);
    body["widgets"].as_array().is_some_and(|widgets| {
        widgets
            .iter()
            .any(|w| w["properties"]["markdown"].as_str() == Some(marker.as_str()))
    })
}

/// A CloudWatch search over every member of the stack's cache, so replicas added later
/// appear without rewriting the dashboard.
fn cache_search(cache: &str, metric: &str, stat: &str) -> Value {
    json!([[{
        "expression": format!(
            "SEARCH('{{AWS/ElastiCache,CacheClusterId}} MetricName=\"{metric}\" {cache}', '{stat}', 60)"
        ),
        "id": "e1",
    }]])
}

/// The dashboard body for the stack as it is now.
fn body(cx: &Context, deps: &Deps<'_>) -> Result<Value> {
    let region = cx.spec.region.as_str();
    let lb = arn_dimension(deps.id(Key::LoadBalancer)?).to_string();
    let tg = arn_dimension(deps.id(Key::TargetGroup)?).to_string();
    let asg = deps.id(Key::Asg)?.to_string();
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
    if cx.spec.cdn.is_some() {
        let id = deps.id(Key::Cdn)?.to_string();
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
    if cx.spec.cache.is_some() {
        let cache = format!("{}-cache", cx.spec.stack);
        widgets.push((
            "Cache CPU",
            region,
            cache_search(&cache, "CPUUtilization", "Average"),
            json!({}),
        ));
        widgets.push((
            "Cache connections",
            region,
            cache_search(&cache, "CurrConnections", "Maximum"),
            json!({}),
        ));
        widgets.push((
            "Cache hit rate (%)",
            region,
            cache_search(&cache, "CacheHitRate", "Average"),
            json!({}),
        ));
    }
    let rows = widgets.len().div_ceil(2) as u32;
    let mut widgets: Vec<Value> = widgets
        .into_iter()
        .enumerate()
        .map(|(i, (title, region, metrics, extra))| {
            let i = i as u32;
            widget(title, region, metrics, extra, ((i % 2) * 12, (i / 2) * 6))
        })
        .collect();
    widgets.push(json!({
        "type": "text", "x": 0, "y": rows * 6, "width": 24, "height": 1,
        "properties": { "markdown": marker(&cx.spec.stack) },
    }));
    Ok(json!({ "widgets": widgets }))
}

/// The titles of the widgets that differ between two bodies (added, removed or changed).
fn diff_body(live: &Value, want: &Value) -> Vec<Change> {
    if live == want {
        return Vec::new();
    }
    let widgets = |body: &Value| body["widgets"].as_array().cloned().unwrap_or_default();
    let (have, wanted) = (widgets(live), widgets(want));
    let title = |w: &Value| {
        w["properties"]["title"]
            .as_str()
            .unwrap_or("(text)")
            .to_string()
    };
    let mut from = Vec::new();
    let mut to = Vec::new();
    for i in 0..have.len().max(wanted.len()) {
        if have.get(i) != wanted.get(i) {
            from.extend(have.get(i).map(title));
            to.extend(wanted.get(i).map(title));
        }
    }
    let show = |titles: Vec<String>| {
        if titles.is_empty() {
            "(none)".to_string()
        } else {
            titles.join(", ")
        }
    };
    vec![Change::new("widgets", show(from), show(to))]
}

impl Dashboard {
    async fn current(&self, cx: &Context, name: &str) -> Result<Option<Value>> {
        let out = cx
            .clients
            .cloudwatch
            .get_dashboard()
            .dashboard_name(name)
            .send()
            .await
            .or_absent(NOT_FOUND, "reading", KIND, name)?;
        Ok(out.map(|o| {
            serde_json::from_str(o.dashboard_body().unwrap_or_default()).unwrap_or(Value::Null)
        }))
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
    fn key(&self) -> Key {
        Key::Dashboard
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        cx.spec.stack.clone()
    }
    fn depends_on(&self) -> Vec<Key> {
        vec![Key::LoadBalancer, Key::TargetGroup, Key::Asg, Key::Cdn]
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.dashboard.is_some()
    }

    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        let name = self.name(cx);
        let Some(body) = self.current(cx, &name).await? else {
            return Ok(None);
        };
        refuse_unless(
            cx,
            is_ours(&body, &cx.spec.stack),
            format!("dashboard {name}"),
            "rename or delete that dashboard; modu marks its own with a text widget naming the stack"
                .into(),
        )?;
        Ok(Some(Observed::new(Found::new(&name), body)))
    }

    fn diff(&self, cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        Ok(diff_body(observed.live()?, &body(cx, deps)?))
    }

    async fn apply(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        observed: &Observed,
        _changes: &[Change],
    ) -> Result<()> {
        self.put(cx, &observed.found.id, &body(cx, deps)?).await
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        self.put(cx, &name, &body(cx, deps)?).await?;
        Ok(Found::new(name))
    }

    async fn health(&self, cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let current: &Value = observed.live()?;
        let widgets = current["widgets"].as_array().map(Vec::len).unwrap_or(0);
        let url = Self::url(cx, &observed.found.id);
        Ok(Health::ok(
            format!("{widgets} widgets, {url}"),
            json!({ "widgets": widgets, "url": url }),
        ))
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        cx.clients
            .cloudwatch
            .delete_dashboards()
            .dashboard_names(&found.id)
            .send()
            .await
            .or_gone(NOT_FOUND, KIND, &found.id)
    }

    fn stack_outputs(&self, cx: &Context, found: &Found) -> Vec<(&'static str, String)> {
        vec![("dashboard_url", Self::url(cx, &found.id))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_with(titles: &[&str], stack: &str) -> Value {
        let mut widgets: Vec<Value> = titles
            .iter()
            .map(|t| json!({"type": "metric", "properties": {"title": t}}))
            .collect();
        widgets.push(json!({"type": "text", "properties": {"markdown": marker(stack)}}));
        json!({ "widgets": widgets })
    }

    #[test]
    fn the_marker_widget_tells_ours_from_a_strangers() {
        assert!(is_ours(&body_with(&["Requests"], "web"), "web"));
        assert!(!is_ours(&body_with(&["Requests"], "other"), "web"));
        assert!(!is_ours(&json!({"widgets": []}), "web"));
    }

    #[test]
    fn a_diff_names_the_widgets_that_change() {
        let live = body_with(&["Requests"], "web");
        assert!(diff_body(&live, &live).is_empty());
        let want = body_with(&["Requests", "Cache CPU"], "web");
        assert_eq!(
            diff_body(&live, &want),
            vec![Change::new("widgets", "(text)", "Cache CPU, (text)")]
        );
    }
}
