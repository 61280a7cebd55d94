"""The Lambda runtime: real handlers from real zips, reached over HTTP the way AWS reaches them."""

from __future__ import annotations

import base64
import json
import urllib.request

import pytest

from emulation.awslambda.runtime import LambdaRuntime
from emulation.core.inspector import Inspector
from tests.conftest import LAMBDA_TRUST_POLICY

S3_TO_DYNAMODB = """
import os
from urllib.parse import unquote_plus

import boto3


def handler(event, context):
    table = boto3.resource("dynamodb").Table(os.environ["TABLE"])
    for record in event["Records"]:
        table.put_item(
            Item={
                "pk": unquote_plus(record["s3"]["object"]["key"]),
                "bucket": record["s3"]["bucket"]["name"],
                "event_name": record["eventName"],
                "request_id": context.aws_request_id,
            }
        )
    return len(event["Records"])
"""

ECHO_OR_RAISE = """
import os


def handler(event, context):
    print("got", event)
    if event.get("fail"):
        raise ValueError(f"asked to fail: {event['fail']}")
    return {
        "event": event,
        "function_name": context.function_name,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "stage": os.environ.get("STAGE"),
        "endpoint": os.environ["AWS_ENDPOINT_URL"],
    }
"""

SLEEPER = """
import time


def handler(event, context):
    time.sleep(30)
    return "woke up"
"""

SAVE_EVENT_TO_S3 = """
import json
import urllib.request
import os

import boto3


def handler(event, context):
    boto3.client("s3").put_object(
        Bucket=os.environ["BUCKET"],
        Key=f"events/{context.aws_request_id}.json",
        Body=json.dumps(event),
    )
"""

IMPORTS_JIWER = """
import jiwer


def handler(event, context):
    return "unreachable"
"""


def saved_events(s3, bucket: str) -> list[dict]:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="events/").get("Contents", [])
    return [json.loads(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()) for o in listing]


def test_s3_object_created_runs_the_real_handler(twin, deploy_lambda) -> None:
    dynamodb, s3 = twin.client("dynamodb"), twin.client("s3")
    dynamodb.create_table(
        TableName="items",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    arn = deploy_lambda("ingest", S3_TO_DYNAMODB, Environment={"Variables": {"TABLE": "items"}})
    twin.client("lambda").add_permission(
        FunctionName="ingest",
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::results",
        SourceAccount=twin.account_id,
    )
    s3.create_bucket(Bucket="results")
    s3.put_bucket_notification_configuration(
        Bucket="results",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {
                    "LambdaFunctionArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "scores/"}]}},
                }
            ]
        },
    )

    s3.put_object(Bucket="results", Key="scores/run 1.csv", Body=b"a,b\n")
    s3.put_object(Bucket="results", Key="elsewhere/x.csv", Body=b"a,b\n")  # filtered out
    twin.part(LambdaRuntime).wait_idle()

    item = dynamodb.get_item(TableName="items", Key={"pk": {"S": "scores/run 1.csv"}})["Item"]
    assert item["bucket"] == {"S": "results"}
    assert item["event_name"] == {"S": "ObjectCreated:Put"}
    [invocation] = Inspector(twin).invocations("ingest")
    assert (invocation.source, invocation.invocation_type) == ("s3", "Event")
    assert item["request_id"] == {"S": invocation.request_id}
    [record] = invocation.event["Records"]  # AWS's full record shape, not only moto's
    assert record["s3"]["object"]["sequencer"] and record["userIdentity"]["principalId"]
    assert record["s3"]["bucket"]["arn"] == "arn:aws:s3:::results"
    assert dynamodb.scan(TableName="items")["Count"] == 1


def test_s3_cannot_invoke_a_function_whose_policy_does_not_allow_it(twin, deploy_lambda) -> None:
    arn = deploy_lambda("ingest", S3_TO_DYNAMODB, Environment={"Variables": {"TABLE": "items"}})
    twin.client("lambda").add_permission(  # allows another bucket only
        FunctionName="ingest",
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::other-bucket",
    )
    s3 = twin.client("s3")
    s3.create_bucket(Bucket="results")
    s3.put_bucket_notification_configuration(
        Bucket="results",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )

    s3.put_object(Bucket="results", Key="scores/run.csv", Body=b"a,b\n")
    twin.part(LambdaRuntime).wait_idle()

    assert Inspector(twin).invocations("ingest") == []
    [error] = Inspector(twin).errors()
    assert "s3.amazonaws.com may not invoke ingest for arn:aws:s3:::results" in error.message


def test_request_response_returns_the_result_or_the_function_error(twin, deploy_lambda) -> None:
    deploy_lambda(
        "echo", ECHO_OR_RAISE, MemorySize=256, Environment={"Variables": {"STAGE": "test"}}
    )
    client = twin.client("lambda")

    ok = client.invoke(FunctionName="echo", Payload=json.dumps({"n": 1}), LogType="Tail")
    result = json.loads(ok["Payload"].read())
    assert "FunctionError" not in ok
    assert result["event"] == {"n": 1}
    assert result["function_name"] == "echo"
    assert result["memory_limit_in_mb"] == 256
    assert 0 < result["remaining_ms"] <= 10_000
    assert result["stage"] == "test"
    assert result["endpoint"] == twin.endpoint_url
    assert "got {'n': 1}" in base64.b64decode(ok["LogResult"]).decode()

    failed = client.invoke(FunctionName="echo", Payload=json.dumps({"fail": "now"}), LogType="Tail")
    error = json.loads(failed["Payload"].read())
    assert failed["FunctionError"] == "Unhandled"
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "asked to fail: now")
    assert any("raise ValueError" in frame for frame in error["stackTrace"])
    assert (
        "[ERROR] ValueError: asked to fail: now" in base64.b64decode(failed["LogResult"]).decode()
    )
    [recorded] = Inspector(twin).errors()
    assert "ValueError: asked to fail: now" in recorded.traceback
    # The logs also reach CloudWatch Logs, as in AWS.
    events = twin.client("logs").filter_log_events(logGroupName="/aws/lambda/echo")["events"]
    assert any("asked to fail" in event["message"] for event in events)


def test_async_failure_is_retried_twice_then_sent_to_the_on_failure_destination(
    twin, deploy_lambda
) -> None:
    arn = deploy_lambda("flaky", ECHO_OR_RAISE)
    sqs = twin.client("sqs")
    queue_url = sqs.create_queue(QueueName="failures")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    twin.client("lambda").put_function_event_invoke_config(
        FunctionName="flaky", DestinationConfig={"OnFailure": {"Destination": queue_arn}}
    )

    response = twin.client("lambda").invoke(
        FunctionName="flaky", InvocationType="Event", Payload=json.dumps({"fail": "always"})
    )
    assert response["StatusCode"] == 202
    twin.part(LambdaRuntime).wait_idle()

    attempts = Inspector(twin).invocations("flaky")
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert {a.request_id for a in attempts} == {attempts[0].request_id}
    assert all("ValueError: asked to fail: always" in a.traceback for a in attempts)
    assert len(Inspector(twin).errors()) == 3
    [message] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)["Messages"]
    record = json.loads(message["Body"])
    assert record["version"] == "1.0"
    assert record["requestContext"] == {
        "requestId": attempts[0].request_id,
        "functionArn": f"{arn}:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    }
    assert record["requestPayload"] == {"fail": "always"}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "ValueError"


def test_dead_letter_queue_gets_the_event_when_no_retry_is_left(twin, deploy_lambda) -> None:
    sqs = twin.client("sqs")
    queue_url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    deploy_lambda("doomed", ECHO_OR_RAISE, DeadLetterConfig={"TargetArn": queue_arn})
    client = twin.client("lambda")
    client.put_function_event_invoke_config(FunctionName="doomed", MaximumRetryAttempts=0)
    assert client.get_function_configuration(FunctionName="doomed")["DeadLetterConfig"] == {
        "TargetArn": queue_arn
    }

    client.invoke(FunctionName="doomed", InvocationType="Event", Payload='{"fail": "once"}')
    twin.part(LambdaRuntime).wait_idle()

    assert len(Inspector(twin).invocations("doomed")) == 1
    [message] = sqs.receive_message(
        QueueUrl=queue_url, MessageAttributeNames=["All"], WaitTimeSeconds=0
    )["Messages"]
    assert json.loads(message["Body"]) == {"fail": "once"}
    attributes = message["MessageAttributes"]
    assert attributes["ErrorCode"] == {"StringValue": "200", "DataType": "Number"}
    assert "asked to fail: once" in attributes["ErrorMessage"]["StringValue"]


def test_a_handler_running_past_its_timeout_is_killed(twin, deploy_lambda) -> None:
    deploy_lambda("sleeper", SLEEPER, Timeout=1)

    response = twin.client("lambda").invoke(FunctionName="sleeper", LogType="Tail")

    error = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].endswith("Task timed out after 1.00 seconds")
    [invocation] = Inspector(twin).invocations("sleeper")
    assert invocation.duration < 10  # killed, not waited for
    assert "Task timed out after 1.00 seconds" in invocation.logs


def test_sns_delivers_the_real_notification_to_a_subscribed_lambda(twin, deploy_lambda) -> None:
    s3, sns = twin.client("s3"), twin.client("sns")
    s3.create_bucket(Bucket="seen")
    arn = deploy_lambda("listener", SAVE_EVENT_TO_S3, Environment={"Variables": {"BUCKET": "seen"}})
    topic_arn = sns.create_topic(Name="alerts")["TopicArn"]
    twin.client("lambda").add_permission(
        FunctionName="listener",
        StatementId="sns",
        Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com",
        SourceArn=topic_arn,
    )
    subscription_arn = sns.subscribe(TopicArn=topic_arn, Protocol="lambda", Endpoint=arn)[
        "SubscriptionArn"
    ]

    message_id = sns.publish(
        TopicArn=topic_arn,
        Subject="ASR accuracy OK",
        Message="corpus WER 8.1%",
        MessageAttributes={"status": {"DataType": "String", "StringValue": "OK"}},
    )["MessageId"]
    twin.part(LambdaRuntime).wait_idle()

    [event] = saved_events(s3, "seen")
    [record] = event["Records"]
    assert record["EventSource"] == "aws:sns"
    assert record["EventSubscriptionArn"] == subscription_arn
    notification = record["Sns"]
    assert notification["TopicArn"] == topic_arn
    assert notification["MessageId"] == message_id
    assert notification["Subject"] == "ASR accuracy OK"
    assert notification["Message"] == "corpus WER 8.1%"
    assert notification["MessageAttributes"] == {"status": {"Type": "String", "Value": "OK"}}


def test_a_handler_sees_only_the_lambda_runtime_packages(twin, deploy_lambda) -> None:
    deploy_lambda("scorer", IMPORTS_JIWER)

    response = twin.client("lambda").invoke(FunctionName="scorer")

    error = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"] == "Unable to import module 'app': No module named 'jiwer'"


@pytest.mark.parametrize(
    ("handler", "error_type"),
    [("app", "Runtime.MalformedHandlerName"), ("app.missing", "Runtime.HandlerNotFound")],
)
def test_a_bad_handler_setting_fails_like_aws(twin, deploy_lambda, handler, error_type) -> None:
    deploy_lambda("misnamed", ECHO_OR_RAISE, Handler=handler)

    response = twin.client("lambda").invoke(FunctionName="misnamed")

    assert json.loads(response["Payload"].read())["errorType"] == error_type


def test_moto_data_json_still_works_with_functions_present(twin, deploy_lambda) -> None:
    # moto's model dump touches LambdaFunction.docker_client, which needs a Docker engine.
    deploy_lambda("listed", ECHO_OR_RAISE)

    with urllib.request.urlopen(f"{twin.endpoint_url}/moto-api/data.json") as response:
        data = json.load(response)

    assert [f["function_name"] for f in data["awslambda"]["LambdaFunction"]] == ["listed"]


def test_a_template_s_retry_settings_destination_and_dead_letter_queue_are_honoured(twin) -> None:
    template = {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": LAMBDA_TRUST_POLICY,
                    # Lambda delivers both records with the function's role.
                    "Policies": [
                        {
                            "PolicyName": "deliver",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {
                                        "Effect": "Allow",
                                        "Action": "sqs:SendMessage",
                                        "Resource": [
                                            {"Fn::GetAtt": ["Failures", "Arn"]},
                                            {"Fn::GetAtt": ["DeadLetters", "Arn"]},
                                        ],
                                    }
                                ],
                            },
                        }
                    ],
                },
            },
            "Failures": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "failures"}},
            "DeadLetters": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "dead"}},
            "Function": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": "templated",
                    "Runtime": "python3.11",
                    "Handler": "index.handler",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Code": {"ZipFile": "def handler(event, context):\n    raise KeyError('x')\n"},
                    "DeadLetterConfig": {"TargetArn": {"Fn::GetAtt": ["DeadLetters", "Arn"]}},
                },
            },
            "InvokeConfig": {
                "Type": "AWS::Lambda::EventInvokeConfig",
                "Properties": {
                    "FunctionName": {"Ref": "Function"},
                    "Qualifier": "$LATEST",
                    "MaximumRetryAttempts": 1,
                    "DestinationConfig": {
                        "OnFailure": {"Destination": {"Fn::GetAtt": ["Failures", "Arn"]}}
                    },
                },
            },
        }
    }
    twin.client("cloudformation").create_stack(StackName="s", TemplateBody=json.dumps(template))
    client, sqs = twin.client("lambda"), twin.client("sqs")
    assert (
        client.get_function_event_invoke_config(FunctionName="templated")["MaximumRetryAttempts"]
        == 1
    )

    client.invoke(FunctionName="templated", InvocationType="Event", Payload='{"k": 1}')
    twin.part(LambdaRuntime).wait_idle()

    assert [i.attempt for i in Inspector(twin).invocations("templated")] == [1, 2]
    for queue, check in [
        ("failures", lambda body: body["requestContext"]["approximateInvokeCount"] == 2),
        ("dead", lambda body: body == {"k": 1}),
    ]:
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        [message] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)["Messages"]
        assert check(json.loads(message["Body"])), queue
