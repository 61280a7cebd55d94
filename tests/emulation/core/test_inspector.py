"""The inspector: what happened inside the twin, read back from moto's state and the parts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from emulation.core.inspector import Delivery, Inspector
from emulation.core.twin import Twin
from emulation.sagemaker.config import NotebookHostConfig
from emulation.sagemaker.notebook_host import NotebookHost, Transition
from emulation.transcribe.service import TranscribeService

RAISES = """
def handler(event, context):
    raise RuntimeError("ingest broke")
"""

RETURNS = """
def handler(event, context):
    return event
"""


def test_sns_messages_show_subject_body_attributes_and_email_deliveries(twin) -> None:
    sns = twin.client("sns")
    alerts = sns.create_topic(Name="alerts")["TopicArn"]
    other = sns.create_topic(Name="other")["TopicArn"]
    email = sns.subscribe(TopicArn=alerts, Protocol="email", Endpoint="team@example.com")
    sns.subscribe(
        TopicArn=alerts,
        Protocol="email",
        Endpoint="oncall@example.com",
        Attributes={"FilterPolicy": json.dumps({"status": ["FAILED", "REGRESSION"]})},
    )
    sns.publish(
        TopicArn=alerts,
        Subject="ASR accuracy OK: WER 8.1%",
        Message="delta -0.2 points",
        MessageAttributes={
            "status": {"DataType": "String", "StringValue": "OK"},
            "run_id": {"DataType": "String", "StringValue": "2026-11-24T20-00-00Z-3fa9c1"},
        },
    )
    sns.publish(TopicArn=other, Message="unrelated")

    [message] = Inspector(twin).sns_messages(alerts)

    assert message.topic_arn == alerts
    assert message.subject == "ASR accuracy OK: WER 8.1%"
    assert message.message == "delta -0.2 points"
    assert message.attributes == {"status": "OK", "run_id": "2026-11-24T20-00-00Z-3fa9c1"}
    # The on-call address filters on FAILED/REGRESSION, so only the team got this one.
    assert message.deliveries == (Delivery("email", "team@example.com", email["SubscriptionArn"]),)
    assert {m.topic_arn for m in Inspector(twin).sns_messages()} == {alerts, other}


def test_invocations_and_errors(twin, deploy_lambda) -> None:
    deploy_lambda("broken", RAISES)
    fine_arn = deploy_lambda("fine", RETURNS)
    client = twin.client("lambda")
    client.invoke(FunctionName="broken", Payload="{}")
    client.invoke(FunctionName="fine", Payload='{"x": 1}')

    [broken] = Inspector(twin).invocations("broken")
    [fine] = Inspector(twin).invocations(fine_arn)  # by ARN too
    assert fine.result == {"x": 1} and fine.ok
    assert broken.error == "RuntimeError: ingest broke" and not broken.ok
    assert len(Inspector(twin).invocations()) == 2
    [error] = Inspector(twin).errors()
    assert error.part == "lambda"
    assert error.context["function"] == "broken"
    assert 'raise RuntimeError("ingest broke")' in error.traceback


def test_other_parts_records_pass_through_and_are_empty_without_the_part(tmp_path) -> None:
    bare = Twin()  # never started: parts are only held, not installed
    assert Inspector(bare).notebook_transitions() == []
    assert Inspector(bare).transcription_jobs() == []
    assert Inspector(bare).invocations() == []

    host = NotebookHost(bare, NotebookHostConfig(sandbox_root=tmp_path))
    moved = Transition(datetime.now(UTC), "nb", "Pending", "InService", "OnStart hook exited 0")
    host.transitions.append(moved)
    bare.add_part("sagemaker", host)
    bare.add_part("transcribe", TranscribeService(bare))

    assert Inspector(bare).notebook_transitions() == [moved]
    assert Inspector(bare).transcription_jobs() == []
