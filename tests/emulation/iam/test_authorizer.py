"""Requests signed with a role's session credentials, through the twin's wire, refused as AWS
refuses them: each service's error code and IAM's message; the default keys stay unrestricted.

Sources: IAM User Guide, "Troubleshoot access denied error messages" (the sentence); S3 User
Guide, "Access denied message examples" (the quoted resource) and S3 API reference GetObject,
"Permissions" (AccessDenied instead of NoSuchKey without s3:ListBucket); botocore's models
(SNS's AuthorizationError, JSON services' AccessDeniedException); STS API reference,
GetCallerIdentity ("No permissions are required").
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from emulation.core.build import TwinConfig, build_twin, iam_from_env
from emulation.core.errors import TwinConfigError
from emulation.core.inspector import Inspector
from emulation.core.twin import Twin
from emulation.iam.credentials import LAMBDA_PRINCIPAL, assume_for_service
from tests.conftest import LAMBDA_TRUST_POLICY

ACCOUNT = "123456789012"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/worker/fn"


@pytest.fixture(scope="module")
def started_twin() -> Iterator[Twin]:
    """Overrides conftest's: IAM and Transcribe only, IAM enforced whatever TWIN_IAM says
    (conftest's ``twin`` resets it before each test)."""
    with build_twin(TwinConfig(parts=("iam", "transcribe"), iam=True)) as twin:
        yield twin


def role_session(twin: Twin, *statements: dict) -> boto3.Session:
    """A boto3 session of role "worker" (allowed ``statements``), as Lambda would hold it."""
    iam = twin.client("iam")
    arn = iam.create_role(
        RoleName="worker", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST_POLICY)
    )["Role"]["Arn"]
    if statements:
        document = {"Version": "2012-10-17", "Statement": list(statements)}
        iam.put_role_policy(RoleName="worker", PolicyName="p", PolicyDocument=json.dumps(document))
    session = assume_for_service(twin, arn, LAMBDA_PRINCIPAL, "fn")
    return boto3.Session(
        aws_access_key_id=session.access_key_id,
        aws_secret_access_key=session.secret_access_key,
        aws_session_token=session.session_token,
        region_name=twin.region,
    )


def client(twin: Twin, session: boto3.Session, service: str):
    return session.client(service, endpoint_url=twin.endpoint_url)


def refused(call) -> dict:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]


def test_each_service_refuses_with_its_own_code_and_iams_message(twin: Twin) -> None:
    session = role_session(twin)
    topic = twin.client("sns").create_topic(Name="alerts")["TopicArn"]
    twin.client("s3").create_bucket(Bucket="media-bucket")
    cases = [
        (
            lambda: client(twin, session, "s3").get_object(Bucket="media-bucket", Key="a.wav"),
            "AccessDenied",
            'perform: s3:GetObject on resource: "arn:aws:s3:::media-bucket/a.wav" because no '
            "identity-based policy allows the s3:GetObject action",
        ),
        (
            lambda: client(twin, session, "dynamodb").put_item(
                TableName="scores", Item={"pk": {"S": "x"}}
            ),
            "AccessDeniedException",
            f"perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:{ACCOUNT}:"
            "table/scores because no identity-based policy allows the dynamodb:PutItem action",
        ),
        (
            lambda: client(twin, session, "sns").publish(TopicArn=topic, Message="m"),
            "AuthorizationError",
            f"perform: SNS:Publish on resource: {topic} because no identity-based policy "
            "allows the SNS:Publish action",
        ),
        (
            lambda: client(twin, session, "sagemaker").stop_notebook_instance(
                NotebookInstanceName="Asr-Notebook"
            ),
            "AccessDeniedException",
            f"perform: sagemaker:StopNotebookInstance on resource: arn:aws:sagemaker:us-east-1:"
            f"{ACCOUNT}:notebook-instance/asr-notebook because",  # lowercased, as SageMaker
        ),
        (
            lambda: client(twin, session, "transcribe").start_transcription_job(
                TranscriptionJobName="j",
                Media={"MediaFileUri": "s3://media-bucket/a.wav"},
                LanguageCode="en-US",
            ),
            "AccessDeniedException",
            "perform: transcribe:StartTranscriptionJob because no identity-based policy",
        ),
    ]
    for call, code, message in cases:
        error = refused(call)
        assert error["Code"] == code
        assert error["Message"].startswith(f"User: {SESSION} is not authorized to {message}")
    denials = Inspector(twin).access_denials()
    assert [d.action for d in denials] == [
        "s3:GetObject",
        "dynamodb:PutItem",
        "sns:Publish",
        "sagemaker:StopNotebookInstance",
        "transcribe:StartTranscriptionJob",
    ]
    assert {d.principal for d in denials} == {SESSION}
    assert denials[0].resource == "arn:aws:s3:::media-bucket/a.wav"


def test_what_the_role_allows_goes_through_and_get_caller_identity_needs_nothing(
    twin: Twin,
) -> None:
    twin.client("s3").create_bucket(Bucket="media-bucket")
    twin.client("s3").put_object(Bucket="media-bucket", Key="corpus/a.txt", Body=b"ref")
    session = role_session(
        twin,
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::media-bucket/*"},
    )
    body = client(twin, session, "s3").get_object(Bucket="media-bucket", Key="corpus/a.txt")
    assert body["Body"].read() == b"ref"
    assert client(twin, session, "sts").get_caller_identity()["Arn"] == SESSION
    assert Inspector(twin).access_denials() == []


def test_the_default_keys_stay_unrestricted(twin: Twin) -> None:
    role_session(twin)  # a role exists, but the person at the keyboard is not it
    twin.client("dynamodb").list_tables()
    twin.client("s3").create_bucket(Bucket="admin-bucket")
    assert Inspector(twin).access_denials() == []


def test_a_missing_key_is_access_denied_without_list_bucket_and_no_such_key_with_it(
    twin: Twin,
) -> None:
    twin.client("s3").create_bucket(Bucket="results-bucket")
    read_only = {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::results-bucket/scores/*",
    }
    session = role_session(twin, read_only)
    s3 = client(twin, session, "s3")
    error = refused(lambda: s3.get_object(Bucket="results-bucket", Key="scores/none.csv"))
    assert error["Code"] == "AccessDenied"
    assert "s3:ListBucket" in error["Message"]

    twin.client("iam").put_role_policy(
        RoleName="worker",
        PolicyName="list",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "s3:ListBucket",
                        "Resource": "arn:aws:s3:::results-bucket",
                        "Condition": {"StringLike": {"s3:prefix": "scores/*"}},
                    }
                ],
            }
        ),
    )
    error = refused(lambda: s3.get_object(Bucket="results-bucket", Key="scores/none.csv"))
    assert error["Code"] == "NoSuchKey"


def test_a_bucket_policy_deny_refuses_what_the_role_allows(twin: Twin) -> None:
    twin.client("s3").create_bucket(Bucket="locked-bucket")
    twin.client("s3").put_object(Bucket="locked-bucket", Key="k", Body=b"x")
    session = role_session(
        twin, {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::*/*"}
    )
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/worker"
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": {"AWS": role_arn},
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::locked-bucket/*",
            }
        ],
    }
    twin.client("s3").put_bucket_policy(Bucket="locked-bucket", Policy=json.dumps(deny))
    error = refused(lambda: client(twin, session, "s3").get_object(Bucket="locked-bucket", Key="k"))
    assert error["Message"].endswith("with an explicit deny in a resource-based policy")


def test_the_templates_tls_only_bucket_policy_lets_sdk_requests_through(twin: Twin) -> None:
    """The twin's endpoint stands in for AWS's HTTPS endpoints (aws:SecureTransport true)."""
    twin.client("s3").create_bucket(Bucket="tls-bucket")
    twin.client("s3").put_object(Bucket="tls-bucket", Key="k", Body=b"x")
    deny_http = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::tls-bucket", "arn:aws:s3:::tls-bucket/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    twin.client("s3").put_bucket_policy(Bucket="tls-bucket", Policy=json.dumps(deny_http))
    session = role_session(
        twin, {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::*/*"}
    )
    assert client(twin, session, "s3").get_object(Bucket="tls-bucket", Key="k")["Body"].read()


def test_a_condition_key_the_twin_cannot_evaluate_refuses_the_request_by_name(twin: Twin) -> None:
    twin.client("s3").create_bucket(Bucket="tagged-bucket")
    session = role_session(
        twin,
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::tagged-bucket/*",
            "Condition": {"StringEquals": {"aws:ResourceTag/team": "asr"}},
        },
    )
    error = refused(lambda: client(twin, session, "s3").get_object(Bucket="tagged-bucket", Key="k"))
    assert error["Code"] == "AccessDenied"
    assert "condition key aws:ResourceTag/team" in error["Message"]
    assert "the twin cannot evaluate" in error["Message"]


def test_transcribe_refuses_a_start_the_caller_could_not_read_or_write_for(twin: Twin) -> None:
    """Transcribe reads the media and writes the transcript with the caller's permissions and
    answers StartTranscriptionJob with BadRequestException, no job created."""
    s3 = twin.client("s3")
    for bucket in ("media-bucket", "results-bucket"):
        s3.create_bucket(Bucket=bucket)
    start_jobs = {"Effect": "Allow", "Action": "transcribe:StartTranscriptionJob", "Resource": "*"}
    read_media = {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::media-bucket/corpus/*",
    }
    session = role_session(twin, start_jobs, read_media)
    transcribe = client(twin, session, "transcribe")

    def start(media: str):
        return lambda: transcribe.start_transcription_job(
            TranscriptionJobName="job-1",
            Media={"MediaFileUri": media},
            LanguageCode="en-US",
            OutputBucketName="results-bucket",
            OutputKey="transcripts/run/",
        )

    unreadable = refused(start("s3://media-bucket/private/a.wav"))
    assert unreadable["Code"] == "BadRequestException"
    assert unreadable["Message"].startswith("The S3 URI that you provided can't be accessed.")
    unwritable = refused(start("s3://media-bucket/corpus/a.wav"))
    assert unwritable["Code"] == "BadRequestException"
    assert "write permission" in unwritable["Message"]
    assert twin.client("transcribe").list_transcription_jobs()["TranscriptionJobSummaries"] == []
    assert [(d.action, d.resource) for d in Inspector(twin).access_denials()] == [
        ("s3:GetObject", "arn:aws:s3:::media-bucket/private/a.wav"),
        ("s3:PutObject", "arn:aws:s3:::results-bucket/transcripts/run/job-1.json"),
    ]


def test_twin_iam_setting_is_on_by_default_and_refuses_nonsense() -> None:
    assert iam_from_env({}) is True
    assert iam_from_env({"TWIN_IAM": "off"}) is False
    with pytest.raises(TwinConfigError, match="TWIN_IAM='maybe'"):
        iam_from_env({"TWIN_IAM": "maybe"})
