"""Static checks of deploy/template.yaml: lint, least privilege, bucket security, contracts."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deploy.template import NAME_PROPERTIES, TEMPLATE_PATH, Resolver, load_template
from emulation.iam.actions import resource_types
from pipeline.layout import REPORTS_PREFIX
from pipeline.results_table import STARTER_PK, table_definition

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
TEXT = TEMPLATE_PATH.read_text(encoding="utf-8")


def of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in RESOURCES.items() if v["Type"] == resource_type}


def props(logical_id: str) -> dict[str, Any]:
    return RESOURCES[logical_id]["Properties"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_cfn_lint_reports_nothing() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), str(TEMPLATE_PATH)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_template_fits_in_a_create_change_set_call() -> None:
    assert len(TEXT.encode()) < 51_200  # TemplateBody limit; beyond it we would need S3
    assert "\r" not in TEXT


def test_parameters_and_defaults() -> None:
    params = TEMPLATE["Parameters"]
    defaults = {name: spec.get("Default") for name, spec in params.items()}
    assert defaults == {
        "ScheduleExpression": "cron(0 6 * * ? *)",
        "NotebookInstanceType": "ml.t3.medium",
        "AlertEmail": "",
        "RegressionThreshold": "0.02",
        "RegressionConfidence": "0.95",
        "CorpusPrefix": "corpus/",
        "LanguageCode": "en-US",
        "MaxJobsInFlight": 250,
        "NotebookMaxRunMinutes": 120,
        "ArtifactsBucket": None,
        "ArtifactsPrefix": None,
        "LambdaCodeKey": None,
    }
    for name, spec in params.items():
        if "AllowedPattern" in spec and "Default" in spec:
            assert re.fullmatch(spec["AllowedPattern"], str(spec["Default"])), name


def test_outputs_cover_every_name_a_user_or_the_twin_needs() -> None:
    assert set(TEMPLATE["Outputs"]) >= {
        "MediaBucketName",
        "ResultsBucketName",
        "ScoresTableName",
        "AlertTopicArn",
        "StartNotebookFunctionName",
        "IngestScoresFunctionName",
        "ScheduleRuleName",
        "NotebookInstanceName",
        "LifecycleConfigName",
    }
    # The SageMaker outputs are the declared names, the ones the handlers are given.
    assert (
        TEMPLATE["Outputs"]["NotebookInstanceName"]["Value"]
        == (props("NotebookInstance")["NotebookInstanceName"])
    )
    assert (
        TEMPLATE["Outputs"]["LifecycleConfigName"]["Value"]
        == (props("NotebookLifecycleConfig")["NotebookInstanceLifecycleConfigName"])
    )


@pytest.mark.parametrize(
    "logical_id", sorted(k for k, v in RESOURCES.items() if v["Type"] in NAME_PROPERTIES)
)
def test_every_named_resource_is_named_from_the_stack(logical_id: str) -> None:
    name = props(logical_id)[NAME_PROPERTIES[RESOURCES[logical_id]["Type"]]]
    assert "${AWS::StackName}" in name["Fn::Sub"]


# ------------------------------------------------------------------ IAM
def role_statements() -> dict[str, list[dict[str, Any]]]:
    statements: dict[str, list[dict[str, Any]]] = {}
    for logical_id, role in of_type("AWS::IAM::Role").items():
        assert "ManagedPolicyArns" not in role["Properties"], logical_id
        for policy in role["Properties"]["Policies"]:
            statements.setdefault(logical_id, []).extend(policy["PolicyDocument"]["Statement"])
    return statements


def test_no_other_policy_resources_exist() -> None:
    policy_types = {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::User"}
    assert not {v["Type"] for v in RESOURCES.values()} & policy_types


def test_no_full_access_no_hard_coded_accounts_or_arns() -> None:
    assert "FullAccess" not in TEXT
    assert not re.search(r"\b\d{12}\b", TEXT)
    assert "arn:aws:" not in TEXT  # ARNs are built with ${AWS::Partition}


@pytest.mark.parametrize("role", ["StartNotebookRole", "IngestScoresRole", "NotebookRole"])
def test_roles_allow_only_named_actions_on_named_resources(role: str) -> None:
    for statement in role_statements()[role]:
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            assert "*" not in action, (role, action)
        for resource in as_list(statement["Resource"]):
            if resource == "*":
                # Only where AWS accepts nothing else: actions without a resource type in the
                # Service Authorization Reference (StartTranscriptionJob, ListTranscriptionJobs).
                assert all(not resource_types(a) for a in as_list(statement["Action"])), (
                    role,
                    statement,
                )
                if statement["Action"] == "transcribe:StartTranscriptionJob":
                    # bound by its condition keys to this stack's results bucket instead.
                    assert statement["Condition"]["StringEquals"] == {
                        "transcribe:OutputBucketName": {"Ref": "ResultsBucket"}
                    }
                continue
            if isinstance(resource, dict) and "Fn::Sub" in resource:
                arn = resource["Fn::Sub"]
                if arn.startswith("arn:"):
                    match = re.match(r"arn:\$\{AWS::Partition\}:([a-z0-9-]+):", arn)
                    assert match, arn
                    service = match.group(1)
                    if service not in {"s3", "iam"}:
                        assert ":${AWS::Region}:${AWS::AccountId}:" in arn, arn
                if arn.endswith("/*") and ":transcribe:" in arn:
                    # The one documented wildcard: job names are chosen per run.
                    assert statement["Sid"] == "ReadTranscriptionJobs"


def actions_of(role: str) -> set[str]:
    return {a for s in role_statements()[role] for a in as_list(s["Action"])}


def test_each_role_has_exactly_the_actions_its_code_uses() -> None:
    assert actions_of("StartNotebookRole") == {
        "sagemaker:DescribeNotebookInstance",
        "sagemaker:StartNotebookInstance",
        "sagemaker:StopNotebookInstance",
        "s3:ListBucket",
        "dynamodb:PutItem",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:SendMessage",
    }
    assert actions_of("IngestScoresRole") == {
        "s3:GetObject",
        "s3:ListBucket",
        "dynamodb:BatchWriteItem",
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "sns:Publish",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:SendMessage",
    }
    assert actions_of("NotebookRole") == {
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "transcribe:StartTranscriptionJob",
        "transcribe:GetTranscriptionJob",
        "transcribe:ListTranscriptionJobs",
        "dynamodb:Query",
        "sagemaker:DescribeNotebookInstance",
        "sagemaker:StopNotebookInstance",
        "sns:Publish",
        "logs:CreateLogGroup",
        "logs:DescribeLogStreams",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }


def test_sagemaker_grants_name_this_stacks_instance_only() -> None:
    for role in ("StartNotebookRole", "NotebookRole"):
        for statement in role_statements()[role]:
            if any(a.startswith("sagemaker:") for a in as_list(statement["Action"])):
                assert statement["Resource"]["Fn::Sub"].endswith(
                    ":notebook-instance/${AWS::StackName}-notebook"
                )
    assert props("NotebookInstance")["NotebookInstanceName"]["Fn::Sub"] == (
        "${AWS::StackName}-notebook"
    )


def test_starter_lists_only_reports_and_writes_only_its_notes() -> None:
    statements = {s["Sid"]: s for s in role_statements()["StartNotebookRole"]}
    assert statements["ListHeartbeats"]["Condition"] == {
        "StringEquals": {"s3:prefix": REPORTS_PREFIX}
    }
    assert statements["WriteNotes"]["Condition"] == {
        "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [STARTER_PK]}
    }
    env = props("StartNotebookFunction")["Environment"]["Variables"]
    assert env["MAX_RUN_MINUTES"] == {"Fn::Sub": "${NotebookMaxRunMinutes}"}
    # The bounded wait for Stopped fits in the function's time.
    assert int(env["STOPPED_WAIT_SECONDS"]) + 30 < props("StartNotebookFunction")["Timeout"]


def test_ingest_reads_only_scores_and_writes_only_its_table() -> None:
    statements = {s["Sid"]: s for s in role_statements()["IngestScoresRole"]}
    assert statements["ReadScoresCsv"]["Resource"]["Fn::Sub"].endswith(
        "${AWS::StackName}-results-${AWS::AccountId}-${AWS::Region}/scores/*"
    )
    listing = statements["ListScoresPrefix"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "scores/*"}}
    assert listing["Resource"]["Fn::Sub"].endswith(
        "${AWS::StackName}-results-${AWS::AccountId}-${AWS::Region}"
    )
    assert statements["WriteScores"]["Resource"] == {"Fn::GetAtt": ["ScoresTable", "Arn"]}
    # Query only: the history index (the previous run's summary) and the table (its files).
    assert statements["QueryHistory"]["Action"] == "dynamodb:Query"
    assert statements["QueryHistory"]["Resource"] == [
        {"Fn::GetAtt": ["ScoresTable", "Arn"]},
        {"Fn::Sub": "${ScoresTable.Arn}/index/history"},
    ]


def test_notebook_writes_only_its_three_result_prefixes() -> None:
    statements = {s["Sid"]: s for s in role_statements()["NotebookRole"]}
    assert [r["Fn::Sub"] for r in statements["ReadWriteResults"]["Resource"]] == [
        "${ResultsBucket.Arn}/transcripts/*",
        "${ResultsBucket.Arn}/scores/*",
        "${ResultsBucket.Arn}/reports/*",
    ]
    puts = [s for s in role_statements()["NotebookRole"] if "s3:PutObject" in as_list(s["Action"])]
    assert [s["Sid"] for s in puts] == ["ReadWriteResults"]


def test_notebook_reads_only_the_corpus_folder_of_the_media_bucket() -> None:
    statements = {s["Sid"]: s for s in role_statements()["NotebookRole"]}
    assert statements["ReadInputs"]["Resource"][0] == {
        "Fn::Sub": "${MediaBucket.Arn}/${CorpusPrefix}*"
    }
    assert statements["ListCorpus"]["Condition"] == {
        "StringLike": {"s3:prefix": {"Fn::Sub": "${CorpusPrefix}*"}}
    }
    assert statements["StartTranscriptionJobs"]["Condition"]["StringLike"] == {
        "transcribe:OutputKey": "transcripts/*"
    }


# ------------------------------------------------------------------ buckets
@pytest.mark.parametrize("bucket", ["MediaBucket", "ResultsBucket"])
def test_buckets_block_public_access_encrypt_and_require_tls(bucket: str) -> None:
    p = props(bucket)
    assert p["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    policies = [
        v["Properties"]
        for v in of_type("AWS::S3::BucketPolicy").values()
        if v["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    assert len(policies) == 1
    (statement,) = policies[0]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [
        {"Fn::GetAtt": [bucket, "Arn"]},
        {"Fn::Sub": f"${{{bucket}.Arn}}/*"},
    ]


def test_results_bucket_is_versioned_and_notifies_ingest_of_scores_csvs() -> None:
    p = props("ResultsBucket")
    assert p["VersioningConfiguration"] == {"Status": "Enabled"}
    (config,) = p["NotificationConfiguration"]["LambdaConfigurations"]
    assert config["Function"] == {"Fn::GetAtt": ["IngestFunction", "Arn"]}
    assert config["Event"] == "s3:ObjectCreated:*"
    assert config["Filter"]["S3Key"]["Rules"] == [
        {"Name": "prefix", "Value": "scores/"},
        {"Name": "suffix", "Value": ".csv"},
    ]
    assert RESOURCES["ResultsBucket"]["DependsOn"] == "IngestFromResultsPermission"


def test_s3_may_invoke_ingest_only_from_this_account_and_bucket() -> None:
    p = props("IngestFromResultsPermission")
    assert p["Principal"] == "s3.amazonaws.com"
    assert p["SourceAccount"] == {"Ref": "AWS::AccountId"}
    # Built from the name (a Ref to the bucket would be a circular dependency).
    assert p["SourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::${AWS::StackName}-results-${AWS::AccountId}-"
        "${AWS::Region}"
    }
    assert props("ResultsBucket")["BucketName"]["Fn::Sub"] == (
        "${AWS::StackName}-results-${AWS::AccountId}-${AWS::Region}"
    )


# ------------------------------------------------------------------ data, topic, schedule
def test_table_matches_the_contract() -> None:
    p = props("ScoresTable")
    assert p["BillingMode"] == "PAY_PER_REQUEST"
    assert p["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    (gsi,) = p["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "history"
    assert gsi["KeySchema"] == [
        {"AttributeName": "gsi1pk", "KeyType": "HASH"},
        {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
    ]
    assert gsi["Projection"] == {"ProjectionType": "ALL"}
    assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_email_subscription_only_when_an_address_is_given() -> None:
    subscription = RESOURCES["AlertEmailSubscription"]
    assert subscription["Condition"] == "HasAlertEmail"
    assert TEMPLATE["Conditions"]["HasAlertEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]
    }
    assert subscription["Properties"]["Protocol"] == "email"


def test_schedule_targets_the_starter_which_allows_only_that_rule() -> None:
    rule = props("ScheduleRule")
    assert rule["ScheduleExpression"] == {"Ref": "ScheduleExpression"}
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": ["StartNotebookFunction", "Arn"]}
    permission = props("StartNotebookFromSchedulePermission")
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["ScheduleRule", "Arn"]}
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}


# ------------------------------------------------------------------ functions
FUNCTIONS = {
    "StartNotebookFunction": (
        "pipeline.handlers.start_notebook.handler",
        {
            "NOTEBOOK_INSTANCE_NAME",
            "RESULTS_BUCKET",
            "SCORES_TABLE",
            "MAX_RUN_MINUTES",
            "HEARTBEAT_MAX_AGE_SECONDS",
            "STOPPED_WAIT_SECONDS",
        },
        "StartNotebookLogGroup",
        "StartNotebookDeadLetterQueue",
    ),
    "IngestFunction": (
        "pipeline.handlers.ingest_scores.handler",
        {
            "SCORES_TABLE",
            "ALERT_TOPIC_ARN",
            "REGRESSION_THRESHOLD",
            "REGRESSION_CONFIDENCE",
            "WORST_FILES",
        },
        "IngestScoresLogGroup",
        "IngestScoresDeadLetterQueue",
    ),
}


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_functions_match_the_contract(function: str) -> None:
    handler, env, log_group, queue = FUNCTIONS[function]
    p = props(function)
    assert p["Runtime"] == "python3.11"
    assert p["Handler"] == handler
    assert set(p["Environment"]["Variables"]) == env
    assert p["Code"] == {"S3Bucket": {"Ref": "ArtifactsBucket"}, "S3Key": {"Ref": "LambdaCodeKey"}}
    assert RESOURCES[function]["DependsOn"] == log_group
    name = p["FunctionName"]["Fn::Sub"]
    assert props(log_group)["LogGroupName"]["Fn::Sub"] == f"/aws/lambda/{name}"
    assert props(log_group)["RetentionInDays"] > 0
    (invoke_config,) = [
        v["Properties"]
        for v in of_type("AWS::Lambda::EventInvokeConfig").values()
        if v["Properties"]["FunctionName"] == {"Ref": function}
    ]
    assert invoke_config["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": [queue, "Arn"]
    }


def test_starter_is_given_the_declared_instance_name() -> None:
    env = props("StartNotebookFunction")["Environment"]["Variables"]
    assert env["NOTEBOOK_INSTANCE_NAME"] == props("NotebookInstance")["NotebookInstanceName"]


def test_the_scores_and_logs_outlive_the_stack() -> None:
    kept = {k for k, v in RESOURCES.items() if v.get("DeletionPolicy") == "Retain"}
    assert kept == {"ScoresTable", "StartNotebookLogGroup", "IngestScoresLogGroup"}
    assert all(RESOURCES[k].get("UpdateReplacePolicy") == "Retain" for k in kept)


def test_notebook_instance_settings() -> None:
    p = props("NotebookInstance")
    # Amazon Linux 2023, whose python3 environment is Python 3.10 (requirements/instance.txt).
    assert p["PlatformIdentifier"] == "notebook-al2023-v1"
    assert p["InstanceMetadataServiceConfiguration"] == {
        "MinimumInstanceMetadataServiceVersion": "2"
    }
    assert p["InstanceType"] == {"Ref": "NotebookInstanceType"}
    assert p["DirectInternetAccess"] == "Enabled"
    assert p["RootAccess"] == "Enabled"
    assert p["LifecycleConfigName"] == {
        "Fn::GetAtt": ["NotebookLifecycleConfig", "NotebookInstanceLifecycleConfigName"]
    }


# ------------------------------------------------------------------ lifecycle bootstrap
def bootstrap(artifacts: str = "s3://art/st/abc") -> str:
    bucket, prefix = artifacts.removeprefix("s3://").split("/", 1)
    refs = {
        "MediaBucket": "st-media",
        "ResultsBucket": "st-results",
        "AlertTopic": "arn:aws:sns:eu-west-1:111122223333:st-alerts",
        "ScoresTable": "st-scores",
    }
    resolver = Resolver(
        TEMPLATE,
        {"ArtifactsBucket": bucket, "ArtifactsPrefix": prefix, "LambdaCodeKey": "k.zip"},
        {"AWS::StackName": "st", "AWS::Region": "eu-west-1", "AWS::AccountId": "111122223333"},
        ref=refs.__getitem__,
        getatt=lambda logical_id, attribute: f"{logical_id}.{attribute}",
    )
    (hook,) = resolver.properties("NotebookLifecycleConfig")["OnStart"]
    return base64.b64decode(hook["Content"]).decode()


def test_bootstrap_is_small_lf_only_and_a_bash_script() -> None:
    script = bootstrap()
    assert script.startswith("#!/bin/bash\n")
    assert "\r" not in script
    assert len(script) < 2_000  # far under the 16 KB cap: the real work is in on-start.sh


def test_bootstrap_exports_the_stack_then_runs_the_fetched_on_start(tmp_path: Path) -> None:
    """Run the resolved bootstrap with bash: a fake `aws` serves on-start.sh from a folder."""
    bucket_dir = tmp_path / "s3"
    (bucket_dir / "art/st/abc/lifecycle").mkdir(parents=True)
    (bucket_dir / "art/st/abc/lifecycle/on-start.sh").write_text(
        "#!/bin/bash\nenv | grep -E '^(ASR_|AWS_DEFAULT_REGION)' | sort"
        ' > "$SAGEMAKER_HOME/asr-monitor/seen.env"\n'
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_aws = bin_dir / "aws"
    fake_aws.write_text(
        "#!/bin/bash\n"
        '[ "$1 $2" = "s3 cp" ] || exit 2\n'
        'src="${@: -2:1}"; dst="${@: -1}"\n'
        f'cp "{bucket_dir}/${{src#s3://}}" "$dst"\n'
    )
    fake_aws.chmod(0o755)
    home = tmp_path / "SageMaker"
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "SAGEMAKER_HOME": str(home)}
    subprocess.run(["bash", "-c", bootstrap()], env=env, check=True, timeout=30)

    seen = dict(line.split("=", 1) for line in (home / "asr-monitor/seen.env").read_text().split())
    assert seen == {
        "ASR_ARTIFACTS": "s3://art/st/abc",
        "ASR_CORPUS_PREFIX": "corpus/",
        "ASR_LANGUAGE_CODE": "en-US",
        "ASR_MAX_JOBS_IN_FLIGHT": "250",
        "ASR_MAX_RUN_MINUTES": "120",
        "ASR_MEDIA_BUCKET": "st-media",
        "ASR_REGRESSION_CONFIDENCE": "0.95",
        "ASR_REGRESSION_THRESHOLD": "0.02",
        "ASR_RESULTS_BUCKET": "st-results",
        "ASR_SCORES_TABLE": "st-scores",
        "ASR_STACK": "st",
        "ASR_TOPIC_ARN": "arn:aws:sns:eu-west-1:111122223333:st-alerts",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    # The same settings are left for interactive sessions on the instance.
    assert "ASR_MEDIA_BUCKET" in (home / "asr-monitor/env.sh").read_text()


def test_template_table_matches_the_key_layout_the_code_uses() -> None:
    declared = props("ScoresTable")
    expected = table_definition("unused")
    for key in ("BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes"):
        assert declared[key] == expected[key], key
