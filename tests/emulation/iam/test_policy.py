"""The twin's IAM policy evaluation, against the rules AWS documents.

Sources: IAM User Guide, "Policy evaluation logic" (explicit deny wins, then an allow in an
identity- or same-account resource-based policy, else implicit deny), "IAM JSON policy
elements: Action / NotAction / Resource / NotResource" (wildcards, case), "Condition operators"
(negated operators and ...IfExists on a missing key) and "Principal" (account-root delegation).
"""

from __future__ import annotations

import json

import pytest

from emulation.iam.policy import (
    IDENTITY,
    IMPLICIT,
    RESOURCE,
    Principal,
    Request,
    UnsupportedPolicy,
    evaluate,
    parse_policy,
)

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/worker"
SESSION = Principal(f"arn:aws:sts::{ACCOUNT}:assumed-role/worker/s", ACCOUNT, matches=(ROLE,))
OBJECT = "arn:aws:s3:::media/corpus/a.wav"


def identity(*statements: dict) -> list:
    return [parse_policy({"Version": "2012-10-17", "Statement": list(statements)}, "test")]


def bucket_policy(*statements: dict) -> list:
    document = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    return [parse_policy(document, "bucket", resource_based=True)]


def allow(action: str | list, resource: str | list = "*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def ask(action: str, resource: str = OBJECT, principal: Principal = SESSION, **context: str):
    keys = {k.replace("_", ":").lower(): v for k, v in context.items()}
    return Request(principal, action, resource, keys)


def test_explicit_deny_beats_any_allow() -> None:
    policies = identity(
        allow("s3:*", "*"),
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::media/*"},
    )
    decision = evaluate(ask("s3:GetObject"), policies)
    assert not decision.allowed and decision.denied_by == IDENTITY
    assert decision.reason("s3:GetObject") == "with an explicit deny in an identity-based policy"
    assert evaluate(ask("s3:PutObject"), policies).allowed


def test_nothing_allows_means_implicit_deny_with_aws_wording() -> None:
    decision = evaluate(ask("s3:GetObject"), identity(allow("s3:PutObject", OBJECT)))
    assert not decision.allowed and decision.denied_by == IMPLICIT
    assert decision.reason("s3:GetObject") == (
        "because no identity-based policy allows the s3:GetObject action"
    )


@pytest.mark.parametrize(
    ("pattern", "action", "allowed"),
    [
        ("s3:Get*", "s3:GetObject", True),
        ("S3:GETOBJECT", "s3:GetObject", True),  # actions are case-insensitive
        ("s3:Get?bject", "s3:GetObject", True),
        ("s3:Get*", "s3:PutObject", False),
        ("*", "transcribe:StartTranscriptionJob", True),
    ],
)
def test_action_wildcards(pattern: str, action: str, allowed: bool) -> None:
    assert evaluate(ask(action), identity(allow(pattern, "*"))).allowed is allowed


@pytest.mark.parametrize(
    ("pattern", "resource", "allowed"),
    [
        ("arn:aws:s3:::media/*", OBJECT, True),
        ("arn:aws:s3:::media/corpus/?.wav", OBJECT, True),
        ("arn:aws:s3:::Media/*", OBJECT, False),  # resources are case-sensitive
        ("arn:aws:s3:::media", OBJECT, False),  # the bucket is not its objects
        (
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:*",
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:log-stream:2026/x",
            True,
        ),
        (
            "arn:aws:transcribe:*:123456789012:transcription-job/*",
            "arn:aws:transcribe:us-east-1:123456789012:transcription-job/run-1",
            True,
        ),
        (  # a wildcard stays inside its ARN segment
            "arn:aws:transcribe:us-east-1:*",
            "arn:aws:transcribe:us-east-1:123456789012:transcription-job/run-1",
            False,
        ),
    ],
)
def test_resource_wildcards_match_segment_by_segment(
    pattern: str, resource: str, allowed: bool
) -> None:
    action = resource.split(":")[2] + ":Any"
    assert evaluate(ask(action, resource), identity(allow(action, pattern))).allowed is allowed


def test_not_action_allows_everything_but_the_listed_actions() -> None:
    policies = identity({"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "*"})
    assert evaluate(ask("s3:GetObject"), policies).allowed
    assert not evaluate(ask("s3:DeleteObject"), policies).allowed


def test_not_resource_applies_to_every_other_resource() -> None:
    policies = identity(
        allow("s3:GetObject", "*"),
        {"Effect": "Deny", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::media/*"},
    )
    assert evaluate(ask("s3:GetObject"), policies).allowed
    assert not evaluate(ask("s3:GetObject", "arn:aws:s3:::other/a"), policies).allowed


def test_s3_prefix_condition_with_string_like() -> None:
    policies = identity(
        allow(
            "s3:ListBucket",
            "arn:aws:s3:::media",
            Condition={"StringLike": {"s3:prefix": ["corpus/*", "extra/"]}},
        )
    )
    listing = "arn:aws:s3:::media"
    assert evaluate(ask("s3:ListBucket", listing, s3_prefix="corpus/"), policies).allowed
    assert evaluate(ask("s3:ListBucket", listing, s3_prefix="extra/"), policies).allowed
    assert not evaluate(ask("s3:ListBucket", listing, s3_prefix="reports/"), policies).allowed
    # No prefix in the request: the key is absent and a positive operator fails.
    assert not evaluate(ask("s3:ListBucket", listing), policies).allowed


def test_secure_transport_deny_in_a_bucket_policy() -> None:
    """The template's DenyInsecureTransport: Bool aws:SecureTransport "false"."""
    deny_http = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::media", "arn:aws:s3:::media/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    mine = identity(allow("s3:GetObject", "arn:aws:s3:::media/*"))
    over_http = evaluate(
        ask("s3:GetObject", aws_SecureTransport="false"), mine, bucket_policy(deny_http)
    )
    assert not over_http.allowed and over_http.denied_by == RESOURCE
    assert over_http.reason("s3:GetObject") == "with an explicit deny in a resource-based policy"
    over_tls = evaluate(
        ask("s3:GetObject", aws_SecureTransport="true"), mine, bucket_policy(deny_http)
    )
    assert over_tls.allowed


def test_source_arn_and_source_account_conditions_for_a_service_principal() -> None:
    """Lambda's resource policy for S3 (the template's IngestFromResultsPermission)."""
    s3 = Principal("s3.amazonaws.com", ACCOUNT, kind="Service", matches=("s3.amazonaws.com",))
    function = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:ingest"
    policy = bucket_policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "lambda:InvokeFunction",
            "Resource": function,
            "Condition": {
                "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::results-*"},
                "StringEquals": {"AWS:SourceAccount": ACCOUNT},
            },
        }
    )

    def invoke(source_arn: str, account: str) -> bool:
        context = {"aws:sourcearn": source_arn, "aws:sourceaccount": account}
        request = Request(s3, "lambda:InvokeFunction", function, context)
        return evaluate(request, resource=policy).allowed

    assert invoke("arn:aws:s3:::results-1", ACCOUNT)
    assert not invoke("arn:aws:s3:::media", ACCOUNT)
    assert not invoke("arn:aws:s3:::results-1", "210987654321")


def test_negated_operators_and_if_exists_on_a_missing_key() -> None:
    not_like = identity(
        allow("s3:ListBucket", "*", Condition={"StringNotLike": {"s3:prefix": "secret/*"}})
    )
    assert evaluate(ask("s3:ListBucket", "arn:aws:s3:::m"), not_like).allowed  # key absent
    assert not evaluate(
        ask("s3:ListBucket", "arn:aws:s3:::m", s3_prefix="secret/x"), not_like
    ).allowed
    if_exists = identity(
        allow("s3:ListBucket", "*", Condition={"StringLikeIfExists": {"s3:prefix": "ok/*"}})
    )
    assert evaluate(ask("s3:ListBucket", "arn:aws:s3:::m"), if_exists).allowed
    assert not evaluate(ask("s3:ListBucket", "arn:aws:s3:::m", s3_prefix="no/"), if_exists).allowed


def test_a_cross_account_arn_is_not_this_accounts_resource() -> None:
    """A grant on this account's topic does not reach another account's topic of that name."""
    mine = f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts"
    theirs = "arn:aws:sns:us-east-1:210987654321:alerts"
    policies = identity(allow("sns:Publish", mine))
    assert evaluate(ask("sns:Publish", mine), policies).allowed
    assert not evaluate(ask("sns:Publish", theirs), policies).allowed


def test_resource_policy_allow_for_the_role_suffices_in_the_same_account() -> None:
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts"
    statement = {"Effect": "Allow", "Action": "sns:Publish", "Resource": topic}
    by_role = bucket_policy({**statement, "Principal": {"AWS": ROLE}})
    by_root = bucket_policy({**statement, "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}})
    assert evaluate(ask("sns:Publish", topic), resource=by_role).allowed
    # Naming the account only delegates to its identity policies: it grants nothing alone...
    assert not evaluate(ask("sns:Publish", topic), resource=by_root).allowed
    # ...but a Deny naming the account applies to every principal in it.
    deny_account = bucket_policy({**statement, "Effect": "Deny", "Principal": {"AWS": ACCOUNT}})
    allowed_by_role = identity(allow("sns:Publish", topic))
    assert not evaluate(ask("sns:Publish", topic), allowed_by_role, deny_account).allowed


def test_an_unknown_condition_key_is_refused_by_name_when_it_matters() -> None:
    policies = identity(
        allow("s3:GetObject", OBJECT, Condition={"StringEquals": {"aws:PrincipalTag/team": "x"}}),
        allow("s3:PutObject", OBJECT),
    )
    with pytest.raises(UnsupportedPolicy, match=r"condition key aws:PrincipalTag/team"):
        evaluate(ask("s3:GetObject"), policies)
    # A statement that does not apply to the request never stops it.
    assert evaluate(ask("s3:PutObject"), policies).allowed


def test_an_unknown_operator_and_a_policy_variable_are_refused_by_name() -> None:
    numeric = identity(
        allow("s3:GetObject", OBJECT, Condition={"NumericLessThan": {"s3:prefix": 3}})
    )
    with pytest.raises(UnsupportedPolicy, match="condition operator NumericLessThan"):
        evaluate(ask("s3:GetObject"), numeric)
    variable = identity(allow("s3:GetObject", "arn:aws:s3:::media/${aws:username}/*"))
    with pytest.raises(UnsupportedPolicy, match=r"policy variable"):
        evaluate(ask("s3:GetObject"), variable)


TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/scores"


def test_for_all_values_on_leading_keys_limits_the_partition_keys() -> None:
    """IAM User Guide, "Multivalued context keys": ForAllValues holds when every value in the
    request matches (also when there is none); DynamoDB Developer Guide, fine-grained access:
    dynamodb:LeadingKeys holds the partition key values the request touches."""
    policies = identity(
        allow(
            "dynamodb:PutItem",
            TABLE,
            Condition={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["STARTER"]}},
        )
    )

    def put(*keys: str):
        return Request(SESSION, "dynamodb:PutItem", TABLE, {"dynamodb:leadingkeys": keys})

    assert evaluate(put("STARTER"), policies).allowed
    assert not evaluate(put("RUN#2026-11-24T20-00-00Z-3fa9c1"), policies).allowed
    assert not evaluate(put("STARTER", "CORPUS"), policies).allowed
    assert evaluate(put(), policies).allowed  # AWS's documented (and surprising) empty case


def test_for_any_value_needs_one_match_and_a_bare_operator_on_a_set_is_refused() -> None:
    any_of = identity(
        allow(
            "dynamodb:Query",
            TABLE,
            Condition={"ForAnyValue:StringEquals": {"dynamodb:LeadingKeys": ["A"]}},
        )
    )
    query = Request(SESSION, "dynamodb:Query", TABLE, {"dynamodb:leadingkeys": ("B", "A")})
    assert evaluate(query, any_of).allowed
    empty = Request(SESSION, "dynamodb:Query", TABLE, {"dynamodb:leadingkeys": ()})
    assert not evaluate(empty, any_of).allowed
    bare = identity(
        allow("dynamodb:Query", TABLE, Condition={"StringEquals": {"dynamodb:LeadingKeys": "A"}})
    )
    with pytest.raises(UnsupportedPolicy, match="multivalued"):
        evaluate(query, bare)


def test_transcribe_output_keys_bind_a_start_to_one_bucket_and_folder() -> None:
    """Service Authorization Reference, Amazon Transcribe: StartTranscriptionJob has no
    resource type; transcribe:OutputBucketName and transcribe:OutputKey filter it."""
    policies = identity(
        allow(
            "transcribe:StartTranscriptionJob",
            Condition={
                "StringEquals": {"transcribe:OutputBucketName": "results"},
                "StringLike": {"transcribe:OutputKey": "transcripts/*"},
            },
        )
    )

    def start(**context: str):
        return ask("transcribe:StartTranscriptionJob", "*", **context)

    key = "transcripts/r/a.json"
    ours = start(transcribe_OutputBucketName="results", transcribe_OutputKey=key)
    assert evaluate(ours, policies).allowed
    theirs = start(transcribe_OutputBucketName="media", transcribe_OutputKey=key)
    assert not evaluate(theirs, policies).allowed
    assert not evaluate(start(), policies).allowed  # no output bucket: the service's own
