"""``asr-monitor generate-event s3 | schedule``: the events the stack's functions receive.

Like ``sam local generate-event``, for ``invoke --event``. ``s3`` is the ObjectCreated:Put
event S3 sends the ingest function; with a stack (``--stack``, or the default one) it names the
stack's results bucket and, unless ``--key`` is given, its newest scores CSV, with the object's
real size, ETag and version, so invoking ingest with it ingests that run again (idempotently).
``--bucket`` and ``--key`` without a stack build it offline. ``schedule`` is the Scheduled
Event EventBridge sends the starter, for the stack's rule (or ``--rule-arn``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from deploy.errors import DeployError
from deploy.stack import stack_outputs
from emulation.awslambda.events import s3_object_created_event
from emulation.events.payloads import scheduled_event
from pipeline.layout import SCORES_PREFIX, SCORES_SUFFIX

if TYPE_CHECKING:
    from deploy.cli.target import Target

# What S3 reports as the ETag of an offline example (SAM's generated events use one too).
EXAMPLE_ETAG = "0123456789abcdef0123456789abcdef"
EXAMPLE_ACCOUNT = "123456789012"


def offline_s3_event(bucket: str, key: str, region: str, size: int = 0) -> dict[str, Any]:
    return s3_object_created_event(
        bucket, key, region=region, account_id=EXAMPLE_ACCOUNT, size=size, etag=EXAMPLE_ETAG
    )


def stack_s3_event(target: Target, key: str | None = None) -> dict[str, Any]:
    """The event for an object of the stack's results bucket (default: the newest scores
    CSV), as S3 would send it for that object."""
    outputs = stack_outputs(target.client("cloudformation"), target.stack)
    bucket = outputs["ResultsBucketName"]
    s3 = target.client("s3")
    key = key or _newest_scores_key(s3, bucket, target.stack)
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        raise DeployError(f"s3://{bucket}/{key}: cannot read it: {exc}") from exc
    account = target.client("sts").get_caller_identity()["Account"]
    notifications = s3.get_bucket_notification_configuration(Bucket=bucket)
    configuration = next(
        (c["Id"] for c in notifications.get("LambdaFunctionConfigurations", []) if c.get("Id")),
        "asr-monitor-generated",
    )
    return s3_object_created_event(
        bucket,
        key,
        region=target.region,
        account_id=account,
        size=head["ContentLength"],
        etag=head["ETag"],
        version_id=head.get("VersionId"),
        configuration_id=configuration,
    )


def schedule_event(target: Target | None, rule_arn: str | None) -> dict[str, Any]:
    """The Scheduled Event for ``rule_arn``, else for the stack's schedule rule."""
    if rule_arn is None:
        if target is None:
            raise DeployError("generate-event schedule: give --rule-arn, or a stack to read it")
        outputs = stack_outputs(target.client("cloudformation"), target.stack)
        rule = target.client("events").describe_rule(Name=outputs["ScheduleRuleName"])
        rule_arn = rule["Arn"]
    try:
        return scheduled_event(rule_arn, datetime.now(UTC))
    except ValueError as exc:
        raise DeployError(f"--rule-arn: {exc}") from exc


def _newest_scores_key(s3: Any, bucket: str, stack: str) -> str:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=SCORES_PREFIX)
    keys = [
        obj["Key"]
        for page in pages
        for obj in page.get("Contents", [])
        if obj["Key"].endswith(SCORES_SUFFIX)
    ]
    if not keys:
        raise DeployError(
            f"stack {stack} has no scores CSV yet (s3://{bucket}/{SCORES_PREFIX}); run it "
            "first, or give --key"
        )
    return max(keys)  # run ids sort by time
