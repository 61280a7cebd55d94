"""The events AWS services hand a Lambda function, shaped as AWS shapes them.

moto's S3 notification lacks fields AWS sends, and its SNS-to-Lambda event is a canned example;
the twin builds both from what actually happened.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moto.awslambda.models import LambdaFunction
    from moto.sns.models import Subscription


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def qualified_arn(fn: LambdaFunction) -> str:
    """AWS names the executed version in records: ``...:function:name:$LATEST``."""
    return f"{fn.function_arn}:$LATEST" if str(fn.version) == "$LATEST" else fn.function_arn


def complete_s3_event(event: dict[str, Any], account_id: str) -> dict[str, Any]:
    """moto's S3 event plus the fields AWS also sends (identity, request ids, sequencer)."""
    for record in event["Records"]:
        principal = {"principalId": f"AWS:{account_id}"}
        record.setdefault("userIdentity", principal)
        record.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
        record.setdefault(
            "responseElements",
            {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": uuid.uuid4().hex},
        )
        record["s3"]["bucket"].setdefault("ownerIdentity", principal)
        record["s3"]["object"].setdefault("sequencer", f"{time.time_ns():X}")
    return event


def sns_event(
    subscription: Subscription,
    message: str,
    message_id: str,
    subject: str | None,
    message_attributes: dict[str, Any] | None,
) -> dict[str, Any]:
    """The event AWS hands a Lambda subscribed to a topic."""
    topic_arn = subscription.topic.arn
    region = topic_arn.split(":")[3]
    endpoint = f"https://sns.{region}.amazonaws.com"
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription.arn,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id,
                    "TopicArn": topic_arn,
                    "Subject": subject,
                    "Message": message,
                    "Timestamp": iso_now(),
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": f"{endpoint}/SimpleNotificationService-twin.pem",
                    "UnsubscribeUrl": (
                        f"{endpoint}/?Action=Unsubscribe&SubscriptionArn={subscription.arn}"
                    ),
                    "MessageAttributes": message_attributes or {},
                },
            }
        ]
    }
