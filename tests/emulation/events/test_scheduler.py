"""The scheduler: EventBridge schedules fire their targets with AWS's Scheduled Event."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from emulation.awslambda.runtime import LambdaRuntime
from emulation.core.inspector import Inspector
from emulation.events.scheduler import Scheduler, SchedulerError
from emulation.events.schedules import (
    ScheduleExpressionError,
    aws_cron_to_croniter,
    parse_schedule,
)

SAVE_EVENT_TO_S3 = """
import json
import os

import boto3


def handler(event, context):
    boto3.client("s3").put_object(
        Bucket=os.environ["BUCKET"],
        Key=f"events/{context.aws_request_id}.json",
        Body=json.dumps(event),
    )
"""

TUESDAY = datetime(2026, 11, 24, tzinfo=UTC)  # a Tuesday


def saved_events(s3) -> list[dict]:
    listing = s3.list_objects_v2(Bucket="seen", Prefix="events/").get("Contents", [])
    return [json.loads(s3.get_object(Bucket="seen", Key=o["Key"])["Body"].read()) for o in listing]


@pytest.fixture
def recorder(twin, deploy_lambda) -> str:
    """A function that saves every event it gets to s3://seen/events/; returns its ARN."""
    twin.client("s3").create_bucket(Bucket="seen")
    env = {"Variables": {"BUCKET": "seen"}}
    arn = deploy_lambda("recorder", SAVE_EVENT_TO_S3, Environment=env)
    allow_events(twin, "recorder")
    return arn


def allow_events(twin, function: str, rule_arn: str | None = None) -> None:
    """EventBridge may invoke the function (for one rule, or any when rule_arn is None)."""
    condition = {"SourceArn": rule_arn} if rule_arn else {}
    twin.client("lambda").add_permission(
        FunctionName=function,
        StatementId="events",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        **condition,
    )


def scheduled_rule(twin, name: str, expression: str, *targets: dict) -> str:
    events = twin.client("events")
    rule_arn = events.put_rule(Name=name, ScheduleExpression=expression)["RuleArn"]
    if targets:
        events.put_targets(Rule=name, Targets=list(targets))
    return rule_arn


def test_firing_a_rule_now_invokes_its_lambda_with_the_scheduled_event(twin, recorder) -> None:
    rule_arn = scheduled_rule(twin, "nightly", "cron(0 20 * * ? *)", {"Id": "1", "Arn": recorder})

    firing = twin.part(Scheduler).fire("nightly")
    twin.part(LambdaRuntime).wait_idle()

    [event] = saved_events(twin.client("s3"))
    assert event == firing.event
    assert event["version"] == "0"
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["account"] == twin.account_id
    assert event["region"] == twin.region
    assert event["resources"] == [rule_arn]
    assert event["detail"] == {}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])
    assert re.fullmatch(r"[0-9a-f-]{36}", event["id"])
    [invocation] = Inspector(twin).invocations("recorder")
    assert (invocation.source, invocation.invocation_type) == ("schedule", "Event")


def test_target_input_replaces_the_event(twin, recorder) -> None:
    scheduled_rule(
        twin,
        "with-input",
        "rate(1 day)",
        {"Id": "constant", "Arn": recorder, "Input": '{"corpus": "sample"}'},
    )

    twin.part(Scheduler).fire("with-input")
    twin.part(LambdaRuntime).wait_idle()

    assert saved_events(twin.client("s3")) == [{"corpus": "sample"}]


def test_a_rule_not_allowed_by_the_function_policy_does_not_invoke_it(twin, deploy_lambda) -> None:
    twin.client("s3").create_bucket(Bucket="seen")
    env = {"Variables": {"BUCKET": "seen"}}
    arn = deploy_lambda("strict", SAVE_EVENT_TO_S3, Environment=env)
    allowed = scheduled_rule(twin, "allowed", "rate(1 day)", {"Id": "1", "Arn": arn})
    stranger = scheduled_rule(twin, "stranger", "rate(1 day)", {"Id": "1", "Arn": arn})
    allow_events(twin, "strict", allowed)

    assert twin.part(Scheduler).fire("allowed").request_ids
    assert twin.part(Scheduler).fire("stranger").request_ids == []
    twin.part(LambdaRuntime).wait_idle()

    [event] = saved_events(twin.client("s3"))
    assert event["resources"] == [allowed]
    [error] = Inspector(twin).errors()
    assert f"events.amazonaws.com may not invoke strict for {stranger}" in error.message


def test_tick_fires_a_rate_rule_once_per_period(twin, recorder) -> None:
    scheduled_rule(twin, "every-5", "rate(5 minutes)", {"Id": "1", "Arn": recorder})
    scheduler = twin.part(Scheduler)
    start = TUESDAY.replace(hour=9)

    assert scheduler.tick(start) == []  # first sight: the period starts now
    assert scheduler.tick(start + timedelta(minutes=4)) == []
    [first] = scheduler.tick(start + timedelta(minutes=5))
    # Three periods passed while nobody ticked: AWS fires once, not three times.
    [second] = scheduler.tick(start + timedelta(minutes=21))
    twin.part(LambdaRuntime).wait_idle()

    assert first.time == start + timedelta(minutes=5)
    assert second.time == start + timedelta(minutes=20)
    times = sorted(event["time"] for event in saved_events(twin.client("s3")))
    assert times == ["2026-11-24T09:05:00Z", "2026-11-24T09:20:00Z"]


def test_tick_follows_aws_cron_with_sunday_as_day_one(twin) -> None:
    scheduled_rule(twin, "weekdays", "cron(0 20 ? * MON-FRI *)")
    scheduled_rule(twin, "mondays", "cron(30 8 ? * 2 *)")  # AWS: 1 = SUN, so 2 = MON
    scheduler = twin.part(Scheduler)

    def fired(moment: datetime) -> list[str]:
        return sorted(firing.rule_name for firing in scheduler.tick(moment))

    assert fired(TUESDAY.replace(hour=19)) == []
    assert fired(TUESDAY.replace(hour=20)) == ["weekdays"]
    assert fired(TUESDAY.replace(hour=20, minute=30)) == []
    saturday = TUESDAY + timedelta(days=4)
    assert fired(saturday.replace(hour=21)) == ["weekdays"]  # Friday 20:00 had not fired yet
    assert fired(saturday.replace(hour=22)) == []
    monday = TUESDAY + timedelta(days=6)
    assert fired(monday.replace(hour=8, minute=30)) == ["mondays"]


def test_a_disabled_rule_does_not_fire(twin, recorder) -> None:
    scheduled_rule(twin, "paused", "rate(1 minute)", {"Id": "1", "Arn": recorder})
    twin.client("events").disable_rule(Name="paused")
    scheduler = twin.part(Scheduler)

    scheduler.tick(TUESDAY)
    assert scheduler.tick(TUESDAY + timedelta(minutes=3)) == []
    with pytest.raises(SchedulerError, match="DISABLED"):
        scheduler.fire("paused")
    twin.part(LambdaRuntime).wait_idle()
    assert Inspector(twin).invocations("recorder") == []


def test_put_events_reaches_pattern_rules_but_never_scheduled_ones(twin, recorder) -> None:
    scheduled_rule(twin, "nightly", "rate(1 day)", {"Id": "1", "Arn": recorder})
    events = twin.client("events")
    events.put_rule(Name="uploads", EventPattern=json.dumps({"source": ["asr.test"]}))
    events.put_targets(Rule="uploads", Targets=[{"Id": "1", "Arn": recorder}])

    response = events.put_events(
        Entries=[{"Source": "asr.test", "DetailType": "Upload", "Detail": '{"file": "a.wav"}'}]
    )
    twin.part(LambdaRuntime).wait_idle()

    assert response["FailedEntryCount"] == 0
    [event] = saved_events(twin.client("s3"))  # once, through "uploads" only
    assert (event["source"], event["detail"]) == ("asr.test", {"file": "a.wav"})
    [invocation] = Inspector(twin).invocations("recorder")
    assert invocation.source == "events"


def test_a_rule_the_twin_cannot_evaluate_is_reported_once(twin) -> None:
    scheduled_rule(twin, "last-weekday", "cron(0 20 LW * ? *)")
    scheduler = twin.part(Scheduler)

    scheduler.tick(TUESDAY)
    scheduler.tick(TUESDAY + timedelta(days=1))

    [error] = Inspector(twin).errors()
    assert error.part == "events"
    assert "LW" in error.message and "last-weekday" in error.message


@pytest.mark.parametrize(
    ("aws", "croniter"),
    [
        ("0 20 * * ? *", "0 20 * * ? 0 *"),
        ("0 8 ? * 1-5 *", "0 8 ? * 0-4 0 *"),  # SUN-THU
        ("0 8 ? * MON-FRI 2026", "0 8 ? * MON-FRI 0 2026"),
        ("0 8 ? * 6L *", "0 8 ? * L5 0 *"),  # last Friday
        ("0 8 ? * 2#1 *", "0 8 ? * 1#1 0 *"),  # first Monday
        ("0 8 ? * L *", "0 8 ? * 6 0 *"),  # last day of the week: Saturday
        ("0/15 * L * ? *", "0/15 * L * ? 0 *"),
        ("0 8 15W * ? *", "0 8 15W * ? 0 *"),
    ],
)
def test_aws_cron_translates_to_croniter(aws: str, croniter: str) -> None:
    assert aws_cron_to_croniter(aws, f"cron({aws})") == croniter
    parse_schedule(f"cron({aws})")  # and croniter accepts it


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        ("rate(1 minutes)", "singular"),
        ("rate(5 minute)", "singular"),
        ("rate(0 hours)", "positive"),
        ("cron(0 20 * * *)", "six fields"),
        ("cron(0 20 * * MON *)", "exactly one"),
        ("cron(0 20 ? * ? *)", "exactly one"),
        ("cron(0 20 ? * 8 *)", "not in 1-7"),
        ("cron(0 20 LW * ? *)", "LW"),
        ("cron(0 25 * * ? *)", "cron"),
        ("every day", "not rate"),
    ],
)
def test_bad_expressions_are_rejected_with_the_reason(expression: str, complaint: str) -> None:
    with pytest.raises(ScheduleExpressionError, match=re.escape(complaint)):
        parse_schedule(expression)


def test_other_targets_get_the_scheduled_event_through_moto(twin) -> None:
    sqs = twin.client("sqs")
    url = sqs.create_queue(QueueName="ticks")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    rule_arn = scheduled_rule(twin, "to-queue", "rate(1 hour)", {"Id": "q", "Arn": arn})

    twin.part(Scheduler).fire("to-queue")

    [message] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)["Messages"]
    event = json.loads(message["Body"])
    assert (event["detail-type"], event["resources"]) == ("Scheduled Event", [rule_arn])
