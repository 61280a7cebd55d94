"""``asr-monitor generate-event s3`` builds the event S3 hands a function: the same fields, keys
encoded the same way, as the event the twin delivers for a real upload (moto's, completed with
what AWS also sends; Amazon S3 User Guide, "Event message structure")."""

from __future__ import annotations

from typing import Any

from emulation.awslambda.events import s3_object_created_event
from emulation.awslambda.runtime import LambdaRuntime
from emulation.core.inspector import Inspector
from emulation.core.twin import Twin

RETURN_EVENT = "def handler(event, context):\n    return event\n"


def shape(value: Any) -> Any:
    """The keys, all the way down (values dropped)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__


def test_the_generated_event_has_the_delivered_events_fields_and_values(
    twin: Twin, deploy_lambda
) -> None:
    s3, lam = twin.client("s3"), twin.client("lambda")
    s3.create_bucket(Bucket="results")
    arn = deploy_lambda("echo", RETURN_EVENT)
    lam.add_permission(
        FunctionName="echo",
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::results",
    )
    s3.put_bucket_notification_configuration(
        Bucket="results",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"Id": "ingest", "LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )
    key = "scores/run one+two.csv"
    s3.put_object(Bucket="results", Key=key, Body=b"a,b\n1,2\n")
    twin.part(LambdaRuntime).wait_idle()
    [delivered] = [i.event for i in Inspector(twin).invocations("echo")]
    head = s3.head_object(Bucket="results", Key=key)

    generated = s3_object_created_event(
        "results",
        key,
        region=twin.region,
        account_id=twin.account_id,
        size=head["ContentLength"],
        etag=head["ETag"],
        configuration_id="ingest",
    )

    assert shape(generated) == shape(delivered)
    [made], [got] = generated["Records"], delivered["Records"]
    for field in ("eventVersion", "eventSource", "awsRegion", "eventName", "userIdentity"):
        assert made[field] == got[field], field
    assert made["s3"]["bucket"] == got["s3"]["bucket"]
    assert made["s3"]["configurationId"] == got["s3"]["configurationId"]
    for field in ("key", "size", "eTag"):
        assert made["s3"]["object"][field] == got["s3"]["object"][field], field
    assert made["s3"]["object"]["key"] == "scores%2Frun+one%2Btwo.csv"
