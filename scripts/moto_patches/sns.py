"""SNS: an email subscription waits for its owner's confirmation.

AWS (SNS API Reference, "Subscribe", "ListSubscriptionsByTopic", "Unsubscribe"; SNS
Developer Guide, "Deleting an Amazon SNS subscription and topic"): a subscription of an
`email`, `email-json`, `http` or `https` endpoint is pending until its owner follows the
link AWS sends it. Until then Subscribe answers `pending confirmation` as its ARN (unless
`ReturnSubscriptionArn` is true), the lists show `PendingConfirmation`, and it cannot be
deleted: Unsubscribe with that text is an InvalidParameter, as any text that is not an ARN
is. moto confirms every subscription at once.

`confirm_all(topic_arn)` does what every recipient does with AWS's email: the topic's
pending subscriptions are confirmed (the emulator's `POST /_emulator/confirm-subscriptions`).
"""

from __future__ import annotations

CONFIRMED_BY_OWNER = ("email", "email-json", "http", "https")
PENDING = "PendingConfirmation"


def confirm_all(topic_arn: str) -> list[str]:
    """Confirms the topic's pending subscriptions; their endpoints."""
    from moto.sns.models import sns_backends

    confirmed = []
    for account in sns_backends.values():
        for backend in account.values():
            for subscription in backend.subscriptions.values():
                if subscription.topic.arn == topic_arn and getattr(subscription, "pending", False):
                    subscription.pending = False
                    subscription.attributes["PendingConfirmation"] = "false"
                    confirmed.append(subscription.endpoint)
    return confirmed


def apply() -> None:
    from moto.sns.exceptions import SNSInvalidParameter
    from moto.sns.models import SNSBackend, Subscription
    from moto.sns.responses import SNSResponse

    # What the lists show as its ARN (moto's serializer reads `SubscriptionArn` first).
    Subscription.SubscriptionArn = property(lambda self: PENDING if getattr(self, "pending", False) else self.arn)

    original_subscribe = SNSBackend.subscribe

    def subscribe(self, topic_arn, endpoint, protocol):
        existing = self._find_subscription(topic_arn, endpoint, protocol)
        subscription = original_subscribe(self, topic_arn, endpoint, protocol)
        if existing is None and protocol in CONFIRMED_BY_OWNER:
            subscription.pending = True
            subscription.attributes["PendingConfirmation"] = "true"
        return subscription

    SNSBackend.subscribe = subscribe

    original_unsubscribe = SNSBackend.unsubscribe

    def unsubscribe(self, subscription_arn):
        if len(subscription_arn.split(":")) < 6:
            raise SNSInvalidParameter(
                f"Invalid parameter: SubscriptionArn Reason: An ARN must have at least 6 elements, "
                f"not {len(subscription_arn.split(':'))}"
            )
        return original_unsubscribe(self, subscription_arn)

    SNSBackend.unsubscribe = unsubscribe

    original_response = SNSResponse.subscribe

    def subscribe_response(self):
        result = original_response(self)
        arn = result.result.get("SubscriptionArn")
        subscription = self.backend.subscriptions.get(arn)
        returns_arn = str(self._get_param("ReturnSubscriptionArn", "false")).lower() == "true"
        if subscription is not None and getattr(subscription, "pending", False) and not returns_arn:
            result.result["SubscriptionArn"] = "pending confirmation"
        return result

    SNSResponse.subscribe = subscribe_response
