"""SNS: an email subscription waits for its owner's confirmation, as on AWS."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import pytest
from botocore.exceptions import ClientError

from support import error_code, uid


def confirm(emulator, topic: str) -> list[str]:
    url = f"{emulator.url}/_emulator/confirm-subscriptions?topic={urllib.parse.quote(topic)}"
    with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10) as answer:
        return json.loads(answer.read())["confirmed"]


def test_an_email_subscription_is_pending_until_confirmed_and_cannot_be_deleted(emulator, client):
    sns = client("sns")
    topic = sns.create_topic(Name=uid("alarms-"))["TopicArn"]
    answer = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="oncall@example.org")
    assert answer["SubscriptionArn"] == "pending confirmation"
    (listed,) = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert (listed["SubscriptionArn"], listed["Endpoint"]) == ("PendingConfirmation", "oncall@example.org")
    with pytest.raises(ClientError) as refused:
        sns.unsubscribe(SubscriptionArn="PendingConfirmation")
    assert error_code(refused) == "InvalidParameter"

    # Subscribing again answers the same, and makes no second subscription.
    again = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="oncall@example.org")
    assert again["SubscriptionArn"] == "pending confirmation"
    assert len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]) == 1

    assert confirm(emulator, topic) == ["oncall@example.org"]
    (listed,) = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert listed["SubscriptionArn"].startswith(topic + ":")
    sns.unsubscribe(SubscriptionArn=listed["SubscriptionArn"])
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_the_arn_of_a_pending_subscription_when_asked_for(client):
    sns = client("sns")
    topic = sns.create_topic(Name=uid("alarms-"))["TopicArn"]
    answer = sns.subscribe(
        TopicArn=topic, Protocol="email", Endpoint="ops@example.org", ReturnSubscriptionArn=True
    )
    assert answer["SubscriptionArn"].startswith(topic + ":")
