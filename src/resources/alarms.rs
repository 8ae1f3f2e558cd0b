//! The stack's CloudWatch alarms: load balancer 5xx rate, unhealthy hosts for two periods,
//! and cache CPU. Managed as one set so switching the cache off removes just its alarm.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricAlarm, MetricDataQuery, MetricStat, Statistic, Tag,
};
use serde_json::{Value, json};

use super::dashboard::arn_dimension;
use super::{Context, Deps, Found, Health, Resource};
use crate::aws::errors::AwsContext;
use crate::aws::tags;
use crate::error::Result;
use crate::spec::Spec;

pub struct Alarms;

const KIND: &str = "alarms";
const ELB: &str = "AWS/ApplicationELB";

/// An input of a metric-math alarm: (query id, namespace, metric, dimensions).
type MathInput = (
    &'static str,
    &'static str,
    &'static str,
    Vec<(&'static str, String)>,
);

/// A single-metric alarm's input: (namespace, metric, dimensions, statistic).
type SingleMetric = (
    &'static str,
    &'static str,
    Vec<(&'static str, String)>,
    Statistic,
);

/// One alarm as modu wants it.
#[derive(Debug, Clone)]
struct Want {
    name: String,
    description: &'static str,
    /// Either a single metric (namespace, metric, dimensions, statistic)…
    metric: Option<SingleMetric>,
    /// …or metric math: (id, namespace, metric, dimensions) inputs and one expression.
    math: Option<(Vec<MathInput>, &'static str)>,
    period: i32,
    evaluation_periods: i32,
    threshold: f64,
}

fn dimension(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

fn names(stack: &str) -> [String; 3] {
    [
        format!("{stack}-alb-5xx-rate"),
        format!("{stack}-unhealthy-hosts"),
        format!("{stack}-cache-cpu"),
    ]
}

impl Want {
    /// The comparable form of what AWS stores.
    fn fingerprint(&self) -> Value {
        match (&self.metric, &self.math) {
            (Some((ns, metric, dims, stat)), _) => json!({
                "metric": [ns, metric, dims, stat.as_str()],
                "period": self.period, "evaluation_periods": self.evaluation_periods, "threshold": self.threshold,
            }),
            (_, Some((inputs, expression))) => json!({
                "math": [inputs, expression],
                "period": self.period, "evaluation_periods": self.evaluation_periods, "threshold": self.threshold,
            }),
            _ => Value::Null,
        }
    }
}

fn fingerprint_of(alarm: &MetricAlarm) -> Value {
    let dims = |d: &[Dimension]| -> Vec<(String, String)> {
        d.iter()
            .map(|d| {
                (
                    d.name().unwrap_or_default().to_string(),
                    d.value().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    if alarm.metrics().is_empty() {
        json!({
            "metric": [alarm.namespace(), alarm.metric_name(), dims(alarm.dimensions()), alarm.statistic().map(|s| s.as_str())],
            "period": alarm.period(), "evaluation_periods": alarm.evaluation_periods(), "threshold": alarm.threshold(),
        })
    } else {
        let inputs: Vec<Value> = alarm
            .metrics()
            .iter()
            .filter_map(|q| {
                let stat = q.metric_stat()?;
                let metric = stat.metric()?;
                Some(json!([
                    q.id(),
                    metric.namespace(),
                    metric.metric_name(),
                    dims(metric.dimensions())
                ]))
            })
            .collect();
        let expression = alarm.metrics().iter().find_map(|q| q.expression());
        let period = alarm
            .metrics()
            .iter()
            .find_map(|q| q.metric_stat().map(|s| s.period()));
        json!({
            "math": [inputs, expression],
            "period": period.flatten(), "evaluation_periods": alarm.evaluation_periods(), "threshold": alarm.threshold(),
        })
    }
}

impl Alarms {
    fn desired(&self, cx: &Context, deps: &Deps<'_>) -> Result<Vec<Want>> {
        let [rate, hosts, cache_cpu] = names(&cx.spec.stack);
        let lb = arn_dimension(deps.id("load-balancer")?).to_string();
        let tg = arn_dimension(deps.id("target-group")?).to_string();
        let mut wants = vec![
            Want {
                name: rate,
                description: "More than 5% of requests answered 5xx (targets or load balancer) for 3 minutes",
                metric: None,
                math: Some((
                    vec![
                        (
                            "target5xx",
                            ELB,
                            "HTTPCode_Target_5XX_Count",
                            vec![("LoadBalancer", lb.clone())],
                        ),
                        (
                            "elb5xx",
                            ELB,
                            "HTTPCode_ELB_5XX_Count",
                            vec![("LoadBalancer", lb.clone())],
                        ),
                        (
                            "requests",
                            ELB,
                            "RequestCount",
                            vec![("LoadBalancer", lb.clone())],
                        ),
                    ],
                    "100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / MAX([requests, 1])",
                )),
                period: 60,
                evaluation_periods: 3,
                threshold: 5.0,
            },
            Want {
                name: hosts,
                description: "At least one target unhealthy for two consecutive minutes",
                metric: Some((
                    ELB,
                    "UnHealthyHostCount",
                    vec![("TargetGroup", tg), ("LoadBalancer", lb)],
                    Statistic::Maximum,
                )),
                math: None,
                period: 60,
                evaluation_periods: 2,
                threshold: 0.0,
            },
        ];
        if cx.spec.cache.is_some()
            && let Some(cache) = deps.get("cache")
        {
            let primary = cache
                .output("members")
                .unwrap_or_default()
                .split(',')
                .next()
                .unwrap_or_default()
                .to_string();
            wants.push(Want {
                name: cache_cpu,
                description: "Cache primary above 75% CPU for 10 minutes",
                metric: Some((
                    "AWS/ElastiCache",
                    "CPUUtilization",
                    vec![("CacheClusterId", primary)],
                    Statistic::Average,
                )),
                math: None,
                period: 300,
                evaluation_periods: 2,
                threshold: 75.0,
            });
        }
        Ok(wants)
    }

    async fn existing(&self, cx: &Context) -> Result<BTreeMap<String, MetricAlarm>> {
        let ours = names(&cx.spec.stack);
        let out = cx
            .clients
            .cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(ours.to_vec()))
            .send()
            .await
            .context("listing", KIND, &format!("{}-*", cx.spec.stack))?;
        Ok(out
            .metric_alarms()
            .iter()
            .filter_map(|a| Some((a.alarm_name()?.to_string(), a.clone())))
            .filter(|(name, _)| ours.contains(name))
            .collect())
    }

    async fn put(&self, cx: &Context, want: &Want) -> Result<()> {
        let tags: Vec<Tag> = tags::for_resource(&cx.spec, self.key(), &want.name)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let mut request = cx
            .clients
            .cloudwatch
            .put_metric_alarm()
            .alarm_name(&want.name)
            .alarm_description(want.description)
            .evaluation_periods(want.evaluation_periods)
            .threshold(want.threshold)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .treat_missing_data("notBreaching")
            .set_tags(Some(tags));
        if let Some((namespace, metric, dims, stat)) = &want.metric {
            request = request
                .namespace(*namespace)
                .metric_name(*metric)
                .set_dimensions(Some(dims.iter().map(|(n, v)| dimension(n, v)).collect()))
                .statistic(stat.clone())
                .period(want.period);
        }
        if let Some((inputs, expression)) = &want.math {
            for (id, namespace, metric, dims) in inputs {
                request = request.metrics(
                    MetricDataQuery::builder()
                        .id(*id)
                        .return_data(false)
                        .metric_stat(
                            MetricStat::builder()
                                .metric(
                                    Metric::builder()
                                        .namespace(*namespace)
                                        .metric_name(*metric)
                                        .set_dimensions(Some(
                                            dims.iter().map(|(n, v)| dimension(n, v)).collect(),
                                        ))
                                        .build(),
                                )
                                .period(want.period)
                                .stat("Sum")
                                .build(),
                        )
                        .build(),
                );
            }
            request = request.metrics(
                MetricDataQuery::builder()
                    .id("rate")
                    .expression(*expression)
                    .label("5xx rate (%)")
                    .return_data(true)
                    .build(),
            );
        }
        request.send().await.context("writing", KIND, &want.name)?;
        Ok(())
    }
}

#[async_trait]
impl Resource for Alarms {
    fn key(&self) -> &'static str {
        "alarms"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-*", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<&'static str> {
        vec!["load-balancer", "target-group", "cache"]
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.dashboard.as_ref().is_some_and(|d| d.alarms)
    }

    async fn find(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Found>> {
        let existing = self.existing(cx).await?;
        if existing.is_empty() {
            return Ok(None);
        }
        Ok(Some(Found::new(
            existing.keys().cloned().collect::<Vec<_>>().join(","),
        )))
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let wants = self.desired(cx, deps)?;
        for want in &wants {
            self.put(cx, want).await?;
        }
        Ok(Found::new(
            wants
                .iter()
                .map(|w| w.name.clone())
                .collect::<Vec<_>>()
                .join(","),
        ))
    }

    async fn converge(&self, cx: &Context, deps: &Deps<'_>, _found: &Found) -> Result<Vec<String>> {
        let wants = self.desired(cx, deps)?;
        let existing = self.existing(cx).await?;
        let mut changes = Vec::new();
        for want in &wants {
            let same = existing
                .get(&want.name)
                .is_some_and(|a| fingerprint_of(a) == want.fingerprint());
            if !same {
                self.put(cx, want).await?;
                changes.push(format!("{} written", want.name));
            }
        }
        let extra: Vec<String> = existing
            .keys()
            .filter(|n| !wants.iter().any(|w| &&w.name == n))
            .cloned()
            .collect();
        if !extra.is_empty() {
            cx.clients
                .cloudwatch
                .delete_alarms()
                .set_alarm_names(Some(extra.clone()))
                .send()
                .await
                .context("deleting", KIND, &extra.join(","))?;
            changes.extend(extra.into_iter().map(|n| format!("{n} deleted")));
        }
        Ok(changes)
    }

    async fn health(&self, cx: &Context, _deps: &Deps<'_>, _found: &Found) -> Result<Health> {
        let existing = self.existing(cx).await?;
        let states: BTreeMap<&str, &str> = existing
            .iter()
            .map(|(n, a)| {
                (
                    n.as_str(),
                    a.state_value().map(|s| s.as_str()).unwrap_or("UNKNOWN"),
                )
            })
            .collect();
        let firing: Vec<&str> = states
            .iter()
            .filter(|(_, s)| **s == "ALARM")
            .map(|(n, _)| *n)
            .collect();
        Ok(Health {
            healthy: firing.is_empty(),
            state: if firing.is_empty() {
                format!("{} alarms, none firing", states.len())
            } else {
                format!("ALARM: {}", firing.join(", "))
            },
            details: json!(states),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        let names: Vec<String> = found
            .id
            .split(',')
            .filter(|n| !n.is_empty())
            .map(String::from)
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        cx.clients
            .cloudwatch
            .delete_alarms()
            .set_alarm_names(Some(names))
            .send()
            .await
            .context("deleting", KIND, &found.id)?;
        Ok(())
    }
}
