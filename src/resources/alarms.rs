//! The stack's CloudWatch alarms: load balancer 5xx rate, unhealthy hosts for two periods,
//! and cache CPU. Managed as one set so switching the cache off removes just its alarm.
//!
//! Each alarm notifies whom `dashboard` names (the stack's topic, or one given by ARN) both
//! when it fires and when it is OK again: its alarm and OK actions are part of what is
//! compared, so a topic swapped by hand is put back.
//!
//! `DescribeAlarms` returns no tags, so the ownership marker is the description's ending
//! (`[modu:stack=<stack>]`); a same-named alarm without it is refused.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricAlarm, MetricDataQuery, MetricStat, Statistic, Tag,
};
use serde_json::json;

use super::shared::cloudwatch::arn_dimension;
use super::toolkit::refuse_unless;
use super::{
    Change, Context, Deps, Diff, Found, Health, KNOWN_AFTER_UP, Key, Observed, Outputs, Resource,
};
use crate::aws::errors::AwsContext;
use crate::aws::tags;
use crate::error::Result;
use crate::spec::{Notify, Spec};

pub struct Alarms;

const KIND: &str = "alarms";
const ELB: &str = "AWS/ApplicationELB";

/// One metric with its dimensions, in the order AWS stores them.
#[derive(Debug, Clone, PartialEq)]
struct MetricRef {
    namespace: String,
    name: String,
    dimensions: Vec<(String, String)>,
}

impl MetricRef {
    fn new(namespace: &str, name: &str, dimensions: &[(&str, &str)]) -> Self {
        MetricRef {
            namespace: namespace.into(),
            name: name.into(),
            dimensions: dimensions
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn of(namespace: Option<&str>, name: Option<&str>, dimensions: &[Dimension]) -> Self {
        MetricRef {
            namespace: namespace.unwrap_or_default().into(),
            name: name.unwrap_or_default().into(),
            dimensions: dimensions
                .iter()
                .map(|d| {
                    (
                        d.name().unwrap_or_default().to_string(),
                        d.value().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
        }
    }

    fn sdk_dimensions(&self) -> Vec<Dimension> {
        self.dimensions
            .iter()
            .map(|(n, v)| Dimension::builder().name(n).value(v).build())
            .collect()
    }
}

impl fmt::Display for MetricRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self
            .dimensions
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        write!(f, "{}/{}[{}]", self.namespace, self.name, dims.join(","))
    }
}

/// What an alarm watches.
#[derive(Debug, Clone, PartialEq)]
enum Input {
    Single {
        metric: MetricRef,
        statistic: String,
    },
    /// Sums of several metrics combined by one expression.
    Math {
        queries: Vec<(String, MetricRef)>,
        expression: String,
    },
}

/// An alarm's definition, as modu compares it.
#[derive(Debug, Clone, PartialEq)]
struct Shape {
    input: Input,
    period: i32,
    evaluation_periods: i32,
    threshold: f64,
    /// Whom it notifies: the ARNs of its alarm actions and of its OK actions.
    notifies: Actions,
}

/// The ARNs an alarm notifies when it fires and when it is OK again.
#[derive(Debug, Clone, Default, PartialEq)]
struct Actions {
    alarm: Vec<String>,
    ok: Vec<String>,
}

impl Actions {
    /// The same topic, if any, for both.
    fn to(topic: Option<&str>) -> Self {
        let arns: Vec<String> = topic.into_iter().map(str::to_string).collect();
        Actions {
            alarm: arns.clone(),
            ok: arns,
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.input {
            Input::Single { metric, statistic } => write!(f, "{statistic} of {metric}")?,
            Input::Math { expression, .. } => write!(f, "{expression}")?,
        }
        write!(
            f,
            " > {} for {}×{}s",
            self.threshold, self.evaluation_periods, self.period
        )?;
        let Actions { alarm, ok } = &self.notifies;
        if !alarm.is_empty() || !ok.is_empty() {
            write!(
                f,
                ", notifies [{}] (OK: [{}])",
                alarm.join(","),
                ok.join(",")
            )?;
        }
        Ok(())
    }
}

fn shape_of(alarm: &MetricAlarm) -> Shape {
    let input = if alarm.metrics().is_empty() {
        Input::Single {
            metric: MetricRef::of(alarm.namespace(), alarm.metric_name(), alarm.dimensions()),
            statistic: alarm
                .statistic()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
        }
    } else {
        Input::Math {
            queries: alarm
                .metrics()
                .iter()
                .filter_map(|q| {
                    let metric = q.metric_stat()?.metric()?;
                    Some((
                        q.id().unwrap_or_default().to_string(),
                        MetricRef::of(
                            metric.namespace(),
                            metric.metric_name(),
                            metric.dimensions(),
                        ),
                    ))
                })
                .collect(),
            expression: alarm
                .metrics()
                .iter()
                .find_map(|q| q.expression())
                .unwrap_or_default()
                .to_string(),
        }
    };
    let period = match &input {
        Input::Single { .. } => alarm.period(),
        Input::Math { .. } => alarm
            .metrics()
            .iter()
            .find_map(|q| q.metric_stat().and_then(|s| s.period())),
    };
    Shape {
        input,
        period: period.unwrap_or_default(),
        evaluation_periods: alarm.evaluation_periods().unwrap_or_default(),
        threshold: alarm.threshold().unwrap_or_default(),
        notifies: Actions {
            alarm: alarm.alarm_actions().to_vec(),
            ok: alarm.ok_actions().to_vec(),
        },
    }
}

/// One alarm as modu wants it.
#[derive(Debug, Clone)]
struct Want {
    name: String,
    description: &'static str,
    shape: Shape,
}

/// The alarm on the load balancer's 5xx rate, which also rolls a bad rollout back.
pub fn error_rate_alarm(stack: &str) -> String {
    format!("{stack}-alb-5xx-rate")
}

fn names(stack: &str) -> [String; 3] {
    [
        error_rate_alarm(stack),
        format!("{stack}-unhealthy-hosts"),
        format!("{stack}-cache-cpu"),
    ]
}

fn marker(stack: &str) -> String {
    format!("[modu:stack={stack}]")
}

/// The alarms as AWS has them, by name: their shape and state.
type Live = BTreeMap<String, (Shape, String)>;

fn diff_alarms(live: &Live, wants: &[Want]) -> Vec<Change> {
    let mut diff = Diff::new();
    for want in wants {
        let current = live
            .get(&want.name)
            .map(|(shape, _)| shape.to_string())
            .unwrap_or_else(|| "(none)".into());
        diff.field(&want.name, &current, &want.shape.to_string());
    }
    for (name, (shape, _)) in live {
        if !wants.iter().any(|w| &w.name == name) {
            diff.field(name, &shape.to_string(), &"(none)".to_string());
        }
    }
    diff.into_changes()
}

/// The share of requests answered 5xx, by the targets or the load balancer itself, in
/// percent; 0 in a minute without requests.
const FIVE_XX_RATE: &str = "IF(FILL(requests, 0) > 0, \
     100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / FILL(requests, 0), 0)";

impl Alarms {
    /// The topic the alarms notify, if any: the stack's own (known after `up` while the
    /// plan creates it) or the one the spec names.
    fn topic<'a>(&self, cx: &'a Context, deps: &Deps<'a>) -> Result<Option<&'a str>> {
        let Some(dashboard) = &cx.spec.dashboard else {
            return Ok(None);
        };
        Ok(match &dashboard.notify {
            Notify::Nobody => None,
            Notify::Topic(arn) => Some(arn),
            Notify::Emails(_) => match deps.outputs(Key::AlarmTopic)? {
                Some(Outputs::Topic { arn, .. }) => Some(arn),
                _ => Some(KNOWN_AFTER_UP),
            },
        })
    }

    fn desired(&self, cx: &Context, deps: &Deps<'_>) -> Result<Vec<Want>> {
        let [rate, hosts, cache_cpu] = names(&cx.spec.stack);
        let notifies = Actions::to(self.topic(cx, deps)?);
        let lb = arn_dimension(deps.id(Key::LoadBalancer)?).to_string();
        let tg = arn_dimension(deps.id(Key::TargetGroup)?).to_string();
        let on_lb = |metric: &str| MetricRef::new(ELB, metric, &[("LoadBalancer", &lb)]);
        let mut wants = vec![
            Want {
                name: rate,
                description: "More than 5% of requests answered 5xx (targets or load balancer) for 3 minutes",
                shape: Shape {
                    input: Input::Math {
                        queries: vec![
                            ("target5xx".into(), on_lb("HTTPCode_Target_5XX_Count")),
                            ("elb5xx".into(), on_lb("HTTPCode_ELB_5XX_Count")),
                            ("requests".into(), on_lb("RequestCount")),
                        ],
                        // CloudWatch takes no scalar inside a metric array (`MAX([requests,
                        // 1])` is refused), so a minute without requests is 0 % by IF.
                        expression: FIVE_XX_RATE.into(),
                    },
                    period: 60,
                    evaluation_periods: 3,
                    threshold: 5.0,
                    notifies: notifies.clone(),
                },
            },
            Want {
                name: hosts,
                description: "At least one target unhealthy for two consecutive minutes",
                shape: Shape {
                    input: Input::Single {
                        metric: MetricRef::new(
                            ELB,
                            "UnHealthyHostCount",
                            &[("TargetGroup", &tg), ("LoadBalancer", &lb)],
                        ),
                        statistic: Statistic::Maximum.as_str().into(),
                    },
                    period: 60,
                    evaluation_periods: 2,
                    threshold: 0.0,
                    notifies: notifies.clone(),
                },
            },
        ];
        if cx.spec.cache.is_some()
            && let Some(members) = deps.cache_members()?
        {
            // The members come primary first (see `replication_group`): after a failover
            // the next `up` moves the alarm to the new primary.
            let primary = members.first().copied().unwrap_or_default();
            wants.push(Want {
                name: cache_cpu,
                description: "Cache primary's Redis engine above 75% CPU for 10 minutes",
                shape: Shape {
                    input: Input::Single {
                        // The engine's own thread: on a multi-vCPU node the host's average
                        // hides a saturated Redis.
                        metric: MetricRef::new(
                            "AWS/ElastiCache",
                            "EngineCPUUtilization",
                            &[("CacheClusterId", primary)],
                        ),
                        statistic: Statistic::Average.as_str().into(),
                    },
                    period: 300,
                    evaluation_periods: 2,
                    threshold: 75.0,
                    notifies,
                },
            });
        }
        Ok(wants)
    }

    async fn put(&self, cx: &Context, want: &Want) -> Result<()> {
        let tags = tags::sdk(&cx.spec, self.key().as_str(), &want.name, |k, v| {
            Tag::builder().key(k).value(v).build()
        });
        let shape = &want.shape;
        let mut request = cx
            .clients
            .cloudwatch
            .put_metric_alarm()
            .alarm_name(&want.name)
            .alarm_description(format!("{} {}", want.description, marker(&cx.spec.stack)))
            .evaluation_periods(shape.evaluation_periods)
            .threshold(shape.threshold)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .treat_missing_data("notBreaching")
            // PutMetricAlarm replaces the whole definition: empty lists clear the actions.
            .set_alarm_actions(Some(shape.notifies.alarm.clone()))
            .set_ok_actions(Some(shape.notifies.ok.clone()))
            .set_tags(Some(tags));
        match &shape.input {
            Input::Single { metric, statistic } => {
                request = request
                    .namespace(&metric.namespace)
                    .metric_name(&metric.name)
                    .set_dimensions(Some(metric.sdk_dimensions()))
                    .statistic(Statistic::from(statistic.as_str()))
                    .period(shape.period);
            }
            Input::Math {
                queries,
                expression,
            } => {
                for (id, metric) in queries {
                    let stat = MetricStat::builder()
                        .metric(
                            Metric::builder()
                                .namespace(&metric.namespace)
                                .metric_name(&metric.name)
                                .set_dimensions(Some(metric.sdk_dimensions()))
                                .build(),
                        )
                        .period(shape.period)
                        .stat("Sum")
                        .build();
                    request = request.metrics(
                        MetricDataQuery::builder()
                            .id(id)
                            .return_data(false)
                            .metric_stat(stat)
                            .build(),
                    );
                }
                request = request.metrics(
                    MetricDataQuery::builder()
                        .id("rate")
                        .expression(expression)
                        .label("5xx rate (%)")
                        .return_data(true)
                        .build(),
                );
            }
        }
        request.send().await.context("writing", KIND, &want.name)?;
        Ok(())
    }

    async fn delete_named(&self, cx: &Context, names: Vec<String>) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let label = names.join(",");
        cx.clients
            .cloudwatch
            .delete_alarms()
            .set_alarm_names(Some(names))
            .send()
            .await
            .context("deleting", KIND, &label)?;
        Ok(())
    }
}

fn found(names: Vec<String>) -> Found {
    Found::new(names.join(",")).with(Outputs::Alarms { names })
}

#[async_trait]
impl Resource for Alarms {
    fn key(&self) -> Key {
        Key::Alarms
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-*", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<Key> {
        vec![
            Key::LoadBalancer,
            Key::TargetGroup,
            Key::Cache,
            Key::AlarmTopic,
        ]
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.dashboard.as_ref().is_some_and(|d| d.alarms)
    }

    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        let ours = names(&cx.spec.stack);
        let out = cx
            .clients
            .cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(ours.to_vec()))
            .send()
            .await
            .context("listing", KIND, &self.name(cx))?;
        let marker = marker(&cx.spec.stack);
        let mut live = Live::new();
        for alarm in out.metric_alarms() {
            let Some(name) = alarm.alarm_name().filter(|n| ours.iter().any(|o| o == n)) else {
                continue;
            };
            refuse_unless(
                cx,
                alarm
                    .alarm_description()
                    .is_some_and(|d| d.ends_with(&marker)),
                format!("alarm {name}"),
                format!(
                    "rename or delete it; modu marks its own by ending the description with `{marker}`"
                ),
            )?;
            let state = alarm
                .state_value()
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "UNKNOWN".into());
            live.insert(name.to_string(), (shape_of(alarm), state));
        }
        if live.is_empty() {
            return Ok(None);
        }
        Ok(Some(Observed::new(
            found(live.keys().cloned().collect()),
            live,
        )))
    }

    fn diff(&self, cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        Ok(diff_alarms(observed.live()?, &self.desired(cx, deps)?))
    }

    async fn apply(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        observed: &Observed,
        changes: &[Change],
    ) -> Result<()> {
        let live: &Live = observed.live()?;
        let wants = self.desired(cx, deps)?;
        for want in wants
            .iter()
            .filter(|w| changes.iter().any(|c| c.field == w.name))
        {
            self.put(cx, want).await?;
        }
        let extra = live
            .keys()
            .filter(|n| !wants.iter().any(|w| &&w.name == n))
            .cloned()
            .collect();
        self.delete_named(cx, extra).await
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let wants = self.desired(cx, deps)?;
        for want in &wants {
            self.put(cx, want).await?;
        }
        Ok(found(wants.into_iter().map(|w| w.name).collect()))
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Live = observed.live()?;
        let states: BTreeMap<&str, &str> = live
            .iter()
            .map(|(n, (_, state))| (n.as_str(), state.as_str()))
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
        let Outputs::Alarms { names } = &found.outputs else {
            return Ok(());
        };
        self.delete_named(cx, names.clone()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(threshold: f64) -> Shape {
        Shape {
            input: Input::Single {
                metric: MetricRef::new(ELB, "UnHealthyHostCount", &[("TargetGroup", "tg")]),
                statistic: "Maximum".into(),
            },
            period: 60,
            evaluation_periods: 2,
            threshold,
            notifies: Actions::default(),
        }
    }

    fn want(name: &str, threshold: f64) -> Want {
        Want {
            name: name.into(),
            description: "d",
            shape: shape(threshold),
        }
    }

    #[test]
    fn matching_alarms_need_nothing() {
        let live = Live::from([("web-unhealthy-hosts".into(), (shape(0.0), "OK".into()))]);
        assert!(diff_alarms(&live, &[want("web-unhealthy-hosts", 0.0)]).is_empty());
    }

    #[test]
    fn a_new_threshold_a_missing_alarm_and_an_extra_one_are_named() {
        let live = Live::from([
            ("web-unhealthy-hosts".into(), (shape(0.0), "OK".into())),
            ("web-cache-cpu".into(), (shape(75.0), "OK".into())),
        ]);
        let changes = diff_alarms(
            &live,
            &[
                want("web-unhealthy-hosts", 1.0),
                want("web-alb-5xx-rate", 5.0),
            ],
        );
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            vec!["web-unhealthy-hosts", "web-alb-5xx-rate", "web-cache-cpu"]
        );
        assert_eq!(
            changes[0].to,
            "Maximum of AWS/ApplicationELB/UnHealthyHostCount[TargetGroup=tg] > 1 for 2×60s"
        );
        assert_eq!(changes[1].from, "(none)");
        assert_eq!(changes[2].to, "(none)");
    }

    #[test]
    fn another_topic_is_a_change_of_the_alarm() {
        let topic = "arn:aws:sns:us-east-1:123456789012:web-alarms";
        let notifying = Shape {
            notifies: Actions::to(Some(topic)),
            ..shape(0.0)
        };
        let live = Live::from([("web-unhealthy-hosts".into(), (shape(0.0), "OK".into()))]);
        let changes = diff_alarms(
            &live,
            &[Want {
                name: "web-unhealthy-hosts".into(),
                description: "d",
                shape: notifying.clone(),
            }],
        );
        assert_eq!(changes.len(), 1);
        assert!(
            changes[0]
                .to
                .ends_with(&format!(", notifies [{topic}] (OK: [{topic}])")),
            "{changes:?}"
        );
        let live = Live::from([(
            "web-unhealthy-hosts".into(),
            (notifying.clone(), "OK".into()),
        )]);
        assert!(
            diff_alarms(
                &live,
                &[Want {
                    name: "web-unhealthy-hosts".into(),
                    description: "d",
                    shape: notifying,
                }]
            )
            .is_empty()
        );
    }
}
