"""The events AWS services hand a Lambda function, shaped as AWS shapes them.

moto's S3 notification lacks fields AWS sends, and its SNS-to-Lambda event is a canned example;
the twin builds both from what actually happened. ``s3_object_created_event`` builds an S3
event from scratch, for ``asr-monitor generate-event s3``. Standard library only at run time.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

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


def s3_object_created_event(
    bucket: str,
    key: str,
    *,
    region: str,
    account_id: str,
    size: int,
    etag: str,
    version_id: str | None = None,
    configuration_id: str = "asr-monitor-generated",
    partition: str = "aws",
) -> dict[str, Any]:
    """The event S3 hands a function for a PUT of ``key`` (structure version 2.1: the key
    URL-encoded, versionId only from a versioned bucket). Source: Amazon S3 User Guide, "Event
    message structure"."""
    principal = {"principalId": f"AWS:{account_id}"}
    s3_object: dict[str, Any] = {
        "key": quote_plus(key),
        "size": size,
        "eTag": etag.strip('"'),
        "sequencer": f"{time.time_ns():X}",
    }
    if version_id and version_id != "null":
        s3_object["versionId"] = version_id
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": iso_now(),
                "eventName": "ObjectCreated:Put",
                "userIdentity": principal,
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {
                    "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
                    "x-amz-id-2": uuid.uuid4().hex,
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": configuration_id,
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": principal,
                        "arn": f"arn:{partition}:s3:::{bucket}",
                    },
                    "object": s3_object,
                },
            }
        ]
    }


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
