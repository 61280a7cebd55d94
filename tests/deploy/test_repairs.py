"""moto's CloudFormation gaps, each pinned, and the twin's repair of each.

The ``test_moto_*`` tests assert moto 5.2.5's raw behaviour after a plain create_stack of our
template. When one fails after a moto upgrade, the gap has closed or moved: drop or change the
matching repair in deploy/repairs.py. The ``test_repaired_*`` tests read each resource
back after deploy_stack + repair_stack and compare it with the template.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.cloudformation import parsing

from deploy.progress import SilentReporter
from deploy.repairs import UNREPAIRED, Repair, remove_repairs, repair_stack
from deploy.stack import deploy_stack
from deploy.template import TEMPLATE_PATH, load_template
from emulation.awslambda import event_invoke_config
from emulation.core.twin import Twin

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")

ACCOUNT = "123456789012"
RAW = "raw"  # created with a plain create_stack: moto's behaviour, unrepaired
FIXED = "fixed"  # deployed with deploy_stack, then repaired
TEMPLATE = load_template()


def bucket(stack: str, kind: str) -> str:
    return f"{stack}-{kind}-{ACCOUNT}-us-east-1"


def physical_ids(twin: Twin, stack: str) -> dict[str, str]:
    summaries = twin.client("cloudformation").list_stack_resources(StackName=stack)
    return {
        s["LogicalResourceId"]: s["PhysicalResourceId"]
        for s in summaries["StackResourceSummaries"]
        if s["LogicalResourceId"]
    }


def error_code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def stacks(twin: Twin, project: Path) -> Iterator[list[Repair]]:
    """The raw stack and the repaired one, side by side; yields the repairs made."""
    event_invoke_config.register()  # the twin's EventInvokeConfig model, as build_twin installs it
    twin.reset()
    s3 = twin.client("s3")
    s3.create_bucket(Bucket="raw-artifacts")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("pipeline/__init__.py", "")
    s3.put_object(Bucket="raw-artifacts", Key="raw/lambda/x.zip", Body=code.getvalue())
    params = {
        "ArtifactsBucket": "raw-artifacts",
        "ArtifactsPrefix": "raw/abc",
        "LambdaCodeKey": "raw/lambda/x.zip",
        "AlertEmail": "ops@example.com",
    }
    twin.client("cloudformation").create_stack(
        StackName=RAW,
        TemplateBody=TEMPLATE_PATH.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    deploy_stack(
        twin,
        FIXED,
        {"AlertEmail": "ops@example.com"},
        project_root=project,
        reporter=SilentReporter(),
        poll_seconds=0.01,
    )
    yield repair_stack(twin, FIXED)


# ------------------------------------------------------------------ S3 buckets
def test_moto_ignores_bucket_settings_but_encrypts(twin: Twin, stacks: list[Repair]) -> None:
    s3 = twin.client("s3")
    for kind in ("media", "results"):
        name = bucket(RAW, kind)
        assert error_code(s3.get_public_access_block, Bucket=name) == (
            "NoSuchPublicAccessBlockConfiguration"
        )
        assert error_code(s3.get_bucket_ownership_controls, Bucket=name) == (
            "OwnershipControlsNotFoundError"
        )
        encryption = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]
        assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == (
            "AES256"
        )  # honoured: no repair needed
    results = bucket(RAW, "results")
    assert "Status" not in s3.get_bucket_versioning(Bucket=results)
    assert error_code(s3.get_bucket_lifecycle_configuration, Bucket=results) == (
        "NoSuchLifecycleConfiguration"
    )
    notification = s3.get_bucket_notification_configuration(Bucket=results)
    assert "LambdaFunctionConfigurations" not in notification


def test_repaired_buckets_are_as_declared(twin: Twin, stacks: list[Repair]) -> None:
    s3 = twin.client("s3")
    for kind in ("media", "results"):
        name = bucket(FIXED, kind)
        assert s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        }
        controls = s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]
        assert controls == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    results = bucket(FIXED, "results")
    assert s3.get_bucket_versioning(Bucket=results)["Status"] == "Enabled"
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=results)["Rules"]
    assert rule["ID"] == "expire-old-versions"
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 90
    (target,) = s3.get_bucket_notification_configuration(Bucket=results)[
        "LambdaFunctionConfigurations"
    ]
    assert target["LambdaFunctionArn"] == (
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FIXED}-ingest-scores"
    )
    assert target["Events"] == ["s3:ObjectCreated:*"]
    assert sorted(
        (r["Name"].lower(), r["Value"]) for r in target["Filter"]["Key"]["FilterRules"]
    ) == [
        ("prefix", "scores/"),
        ("suffix", ".csv"),
    ]


def test_moto_creates_no_bucket_policy_and_lists_it_without_a_name(
    twin: Twin, stacks: list[Repair]
) -> None:
    s3 = twin.client("s3")
    assert error_code(s3.get_bucket_policy, Bucket=bucket(RAW, "media")) == "NoSuchBucketPolicy"
    summaries = twin.client("cloudformation").list_stack_resources(StackName=RAW)
    nameless = [s for s in summaries["StackResourceSummaries"] if not s["LogicalResourceId"]]
    unsupported = [
        r for r in TEMPLATE["Resources"].values() if not parsing.resource_class_from_type(r["Type"])
    ]
    assert {r["Type"] for r in unsupported} == {"AWS::S3::BucketPolicy", "AWS::SNS::Subscription"}
    assert len(nameless) == len(unsupported)


def test_moto_denies_every_object_request_under_the_tls_only_policy(fresh_bucket: str) -> None:
    """Why the bucket policy is not repaired: moto would lock the twin out of its buckets."""
    s3, name = fresh_bucket
    policy = TEMPLATE["Resources"]["MediaBucketPolicy"]["Properties"]["PolicyDocument"]
    policy = json.loads(
        json.dumps(policy)
        .replace('{"Fn::GetAtt": ["MediaBucket", "Arn"]}', f'"arn:aws:s3:::{name}"')
        .replace('{"Fn::Sub": "${MediaBucket.Arn}/*"}', f'"arn:aws:s3:::{name}/*"')
    )
    s3.put_object(Bucket=name, Key="before", Body=b"1")
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
    assert error_code(s3.get_object, Bucket=name, Key="before") == "403"
    assert "AWS::S3::BucketPolicy" in UNREPAIRED


def test_repair_leaves_bucket_policies_alone(twin: Twin, stacks: list[Repair]) -> None:
    s3 = twin.client("s3")
    assert error_code(s3.get_bucket_policy, Bucket=bucket(FIXED, "results")) == (
        "NoSuchBucketPolicy"
    )
    assert not [r for r in stacks if r.resource_type == "AWS::S3::BucketPolicy"]


@pytest.fixture
def fresh_bucket(twin: Twin, stacks: list[Repair]) -> Iterator[tuple[Any, str]]:
    s3 = twin.client("s3")
    s3.create_bucket(Bucket="policy-probe")
    yield s3, "policy-probe"
    s3.delete_bucket_policy(Bucket="policy-probe")
    for item in s3.list_objects_v2(Bucket="policy-probe").get("Contents", []):
        s3.delete_object(Bucket="policy-probe", Key=item["Key"])
    s3.delete_bucket(Bucket="policy-probe")


# ------------------------------------------------------------------ DynamoDB
def pitr(twin: Twin, table: str) -> str:
    described = twin.client("dynamodb").describe_continuous_backups(TableName=table)
    return described["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
        "PointInTimeRecoveryStatus"
    ]


def test_moto_ignores_point_in_time_recovery(twin: Twin, stacks: list[Repair]) -> None:
    assert pitr(twin, f"{RAW}-scores") == "DISABLED"


def test_repaired_table_has_point_in_time_recovery_and_the_contract_keys(
    twin: Twin, stacks: list[Repair]
) -> None:
    assert pitr(twin, f"{FIXED}-scores") == "ENABLED"
    table = twin.client("dynamodb").describe_table(TableName=f"{FIXED}-scores")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == [
        ("pk", "HASH"),
        ("sk", "RANGE"),
    ]
    (gsi,) = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "history"
    assert gsi["Projection"] == {"ProjectionType": "ALL"}


# ------------------------------------------------------------------ SNS
def subscriptions(twin: Twin, stack: str) -> list[tuple[str, str]]:
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:{stack}-alerts"
    listed = twin.client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    return [(s["Protocol"], s["Endpoint"]) for s in listed]


def test_moto_creates_no_subscription(twin: Twin, stacks: list[Repair]) -> None:
    assert subscriptions(twin, RAW) == []


def test_repaired_topic_has_the_email_subscription_once(twin: Twin, stacks: list[Repair]) -> None:
    assert subscriptions(twin, FIXED) == [("email", "ops@example.com")]
    attributes = twin.client("sns").get_topic_attributes(
        TopicArn=f"arn:aws:sns:us-east-1:{ACCOUNT}:{FIXED}-alerts"
    )["Attributes"]
    assert attributes["KmsMasterKeyId"] == "alias/aws/sns"  # honoured by moto


# ------------------------------------------------------------------ Lambda
def test_moto_has_no_model_for_event_invoke_configs() -> None:
    """moto skips AWS::Lambda::EventInvokeConfig; the twin supplies the model."""
    types = {m.cloudformation_type(): m for m in parsing.get_model_list()}
    model = types.get("AWS::Lambda::EventInvokeConfig")
    assert model is not None and model.__module__ == "emulation.awslambda.event_invoke_config"
    moto_models = [m for m in types.values() if m.__module__.startswith("moto.")]
    assert "AWS::Lambda::EventInvokeConfig" not in {m.cloudformation_type() for m in moto_models}


@pytest.mark.parametrize(
    ("function", "queue"),
    [("ingest-scores", "ingest-scores-dlq"), ("start-notebook", "start-notebook-dlq")],
)
def test_deployed_functions_send_failed_events_to_their_queue(
    twin: Twin, stacks: list[Repair], function: str, queue: str
) -> None:
    config = twin.client("lambda").get_function_event_invoke_config(
        FunctionName=f"{FIXED}-{function}"
    )
    assert config["MaximumRetryAttempts"] == 2
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == (
        f"arn:aws:sqs:us-east-1:{ACCOUNT}:{FIXED}-{queue}"
    )
    attributes = twin.client("sqs").get_queue_attributes(
        QueueUrl=twin.client("sqs").get_queue_url(QueueName=f"{FIXED}-{queue}")["QueueUrl"],
        AttributeNames=["All"],
    )["Attributes"]
    assert attributes["SqsManagedSseEnabled"] == "true"  # honoured by moto


def test_moto_wires_permissions_rules_and_log_groups_as_declared(
    twin: Twin, stacks: list[Repair]
) -> None:
    """Checked for gaps and found none: these need no repair."""
    lam = twin.client("lambda")
    policy = json.loads(lam.get_policy(FunctionName=f"{RAW}-ingest-scores")["Policy"])
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Condition"]["StringEquals"]["AWS:SourceAccount"] == ACCOUNT
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == (
        f"arn:aws:s3:::{bucket(RAW, 'results')}"
    )
    events = twin.client("events")
    assert events.describe_rule(Name=f"{RAW}-schedule")["ScheduleExpression"] == (
        "cron(0 6 * * ? *)"
    )
    (target,) = events.list_targets_by_rule(Rule=f"{RAW}-schedule")["Targets"]
    assert target["Arn"].endswith(f":function:{RAW}-start-notebook")
    groups = twin.client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{RAW}-")
    assert {(g["logGroupName"], g["retentionInDays"]) for g in groups["logGroups"]} == {
        (f"/aws/lambda/{RAW}-ingest-scores", 30),
        (f"/aws/lambda/{RAW}-start-notebook", 30),
    }


# ------------------------------------------------------------------ IAM
def test_moto_stores_inline_policies_as_python_repr(twin: Twin, stacks: list[Repair]) -> None:
    stored = twin.client("iam").get_role_policy(RoleName=f"{RAW}-notebook", PolicyName="notebook")
    document = stored["PolicyDocument"]
    assert isinstance(document, str)
    assert document.startswith("{'Version'")


def test_repaired_inline_policies_are_json_documents(twin: Twin, stacks: list[Repair]) -> None:
    stored = twin.client("iam").get_role_policy(
        RoleName=f"{FIXED}-notebook", PolicyName="notebook"
    )["PolicyDocument"]
    statements = {s["Sid"]: s for s in stored["Statement"]}
    assert statements["StopSelf"]["Resource"] == (
        f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:notebook-instance/{FIXED}-notebook"
    )
    assert statements["ReadTranscriptionJobs"]["Resource"] == (
        f"arn:aws:transcribe:us-east-1:{ACCOUNT}:transcription-job/*"
    )
    assert statements["StartTranscriptionJobs"]["Condition"]["StringEquals"] == {
        "transcribe:OutputBucketName": f"{FIXED}-results-{ACCOUNT}-us-east-1"
    }


# ------------------------------------------------------------------ SageMaker
def test_moto_ignores_sagemaker_names_and_the_lifecycle_attachment(
    twin: Twin, stacks: list[Repair]
) -> None:
    sagemaker = twin.client("sagemaker")
    ids = physical_ids(twin, RAW)
    instance = ids["NotebookInstance"].rsplit("/", 1)[-1]
    config = ids["NotebookLifecycleConfig"].rsplit("/", 1)[-1]
    assert instance.startswith(f"{RAW}-NotebookInstance-")
    assert config.startswith(f"{RAW}-NotebookLifecycleConfig-")
    assert error_code(sagemaker.describe_notebook_instance, NotebookInstanceName=f"{RAW}-notebook")
    described = sagemaker.describe_notebook_instance(NotebookInstanceName=instance)
    assert "NotebookInstanceLifecycleConfigName" not in described
    assert "RootAccess" not in described
    assert described["NotebookInstanceStatus"] == "InService"


def test_repaired_instance_has_the_declared_name_config_and_settings(
    twin: Twin, stacks: list[Repair]
) -> None:
    sagemaker = twin.client("sagemaker")
    described = sagemaker.describe_notebook_instance(NotebookInstanceName=f"{FIXED}-notebook")
    assert described["NotebookInstanceLifecycleConfigName"] == f"{FIXED}-on-start"
    assert described["InstanceType"] == "ml.t3.medium"
    assert described["RootAccess"] == "Enabled"
    assert described["DirectInternetAccess"] == "Enabled"
    assert described["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{FIXED}-notebook"
    # As CloudFormation leaves it: InService once its hooks ran (moto alone runs none; with the
    # twin's notebook host, what OnStart started then stops it: the creation run).
    assert described["NotebookInstanceStatus"] == "InService"
    stray = physical_ids(twin, FIXED)["NotebookInstance"].rsplit("/", 1)[-1]
    stray_status = sagemaker.describe_notebook_instance(NotebookInstanceName=stray)
    assert stray_status["NotebookInstanceStatus"] == "Stopped"


def test_repaired_lifecycle_config_boots_this_stack(twin: Twin, stacks: list[Repair]) -> None:
    config = twin.client("sagemaker").describe_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=f"{FIXED}-on-start"
    )
    script = base64.b64decode(config["OnStart"][0]["Content"]).decode()
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in twin.client("cloudformation").describe_stacks(StackName=FIXED)["Stacks"][0][
            "Outputs"
        ]
    }
    assert f"export ASR_MEDIA_BUCKET='{bucket(FIXED, 'media')}'" in script
    assert f"export ASR_RESULTS_BUCKET='{bucket(FIXED, 'results')}'" in script
    assert f"export ASR_ARTIFACTS='{outputs['ArtifactsUri']}'" in script
    assert f"export ASR_TOPIC_ARN='{outputs['AlertTopicArn']}'" in script
    assert '"${SAGEMAKER_HOME:-/home/ec2-user/SageMaker}/asr-monitor"' in script


def test_repairs_are_reported_and_a_second_pass_finds_nothing(
    twin: Twin, stacks: list[Repair]
) -> None:
    repaired = {(r.logical_id, r.resource_type) for r in stacks}
    assert repaired >= {
        ("MediaBucket", "AWS::S3::Bucket"),
        ("ResultsBucket", "AWS::S3::Bucket"),
        ("ScoresTable", "AWS::DynamoDB::Table"),
        ("AlertEmailSubscription", "AWS::SNS::Subscription"),
        ("NotebookRole", "AWS::IAM::Role"),
        ("NotebookLifecycleConfig", "AWS::SageMaker::NotebookInstanceLifecycleConfig"),
        ("NotebookInstance", "AWS::SageMaker::NotebookInstance"),
    }
    assert repair_stack(twin, FIXED) == []


def test_update_that_changes_the_instance_is_repaired_again(
    twin: Twin, project: Path, stacks: list[Repair]
) -> None:
    deploy_stack(
        twin,
        FIXED,
        {"NotebookInstanceType": "ml.t3.large"},
        project_root=project,
        reporter=SilentReporter(),
        poll_seconds=0.01,
    )
    repairs = repair_stack(twin, FIXED)
    assert [r.action for r in repairs if r.logical_id == "NotebookInstance"][1].startswith(
        f"re-created notebook instance {FIXED}-notebook"
    )
    described = twin.client("sagemaker").describe_notebook_instance(
        NotebookInstanceName=f"{FIXED}-notebook"
    )
    assert described["InstanceType"] == "ml.t3.large"
    assert described["NotebookInstanceLifecycleConfigName"] == f"{FIXED}-on-start"


def test_stack_without_alert_email_gets_no_subscription(
    twin: Twin, project: Path, stacks: list[Repair]
) -> None:
    deploy_stack(twin, "quiet", project_root=project, reporter=SilentReporter(), poll_seconds=0.01)
    repairs = repair_stack(twin, "quiet")
    assert not [r for r in repairs if r.resource_type == "AWS::SNS::Subscription"]
    assert subscriptions(twin, "quiet") == []
    removed = remove_repairs(twin, "quiet")
    assert sorted(r.action for r in removed) == ["deleted quiet-notebook", "deleted quiet-on-start"]
    sagemaker = twin.client("sagemaker")
    assert error_code(sagemaker.describe_notebook_instance, NotebookInstanceName="quiet-notebook")
