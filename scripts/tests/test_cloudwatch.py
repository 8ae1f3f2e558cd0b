"""CloudWatch: moto is already faithful here; this guards against regressions when the
pinned moto moves."""

from __future__ import annotations

from support import uid


def test_metric_math_alarm_and_tags(client):
    cw = client("cloudwatch")
    name = uid("alarm-")
    metrics = [
        {
            "Id": "errors",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/ApplicationELB",
                    "MetricName": "HTTPCode_Target_5XX_Count",
                    "Dimensions": [{"Name": "LoadBalancer", "Value": "app/web/123"}],
                },
                "Period": 60,
                "Stat": "Sum",
            },
            "ReturnData": False,
        },
        {
            "Id": "requests",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/ApplicationELB",
                    "MetricName": "RequestCount",
                    "Dimensions": [{"Name": "LoadBalancer", "Value": "app/web/123"}],
                },
                "Period": 60,
                "Stat": "Sum",
            },
            "ReturnData": False,
        },
        {"Id": "rate", "Expression": "100 * errors / requests", "Label": "5xx rate", "ReturnData": True},
    ]
    cw.put_metric_alarm(
        AlarmName=name,
        ComparisonOperator="GreaterThanThreshold",
        EvaluationPeriods=3,
        Threshold=5.0,
        Metrics=metrics,
        Tags=[{"Key": "app", "Value": "modu"}],
    )
    alarm = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    assert alarm["Metrics"] == metrics
    tags = cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
    assert tags == [{"Key": "app", "Value": "modu"}]
