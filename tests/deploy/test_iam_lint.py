"""The IAM lint (deploy.iam_lint, parliament on AWS's action and resource definitions) passes on the
template and fails on each class of mistake, shown by feeding it a bad copy of the template.

Sources: the Service Authorization Reference for Amazon Transcribe (StartTranscriptionJob lists
no resource type, only condition keys such as transcribe:OutputBucketName; GetTranscriptionJob
takes transcription-job/<name>), for DynamoDB (PutItem takes table/<name>), for SageMaker
(StopNotebookInstance), as parliament 1.6.4 ships them in iam_definition.json.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.iam_lint import lint_template, policy_documents
from deploy.template import TEMPLATE_PATH, load_template

TEXT = TEMPLATE_PATH.read_text(encoding="utf-8")
START_JOBS = """                Action: transcribe:StartTranscriptionJob
                Resource: "*"
"""
MIS_SCOPED_START = """                Action: transcribe:StartTranscriptionJob
                Resource: !Sub arn:${AWS::Partition}:transcribe:${AWS::Region}:${AWS::AccountId}:transcription-job/*
"""  # noqa: E501


def bad_copy(tmp_path: Path, old: str, new: str) -> Path:
    assert TEXT.count(old) == 1, old
    path = tmp_path / "template.yaml"
    path.write_text(TEXT.replace(old, new), encoding="utf-8")
    return path


def issues(path: Path) -> set[tuple[str, str]]:
    return {(finding.where, finding.issue) for finding in lint_template(path)}


def test_the_template_has_no_findings() -> None:
    assert [str(finding) for finding in lint_template()] == []


def test_every_policy_is_linted_with_its_intrinsics_resolved() -> None:
    documents = dict(policy_documents(load_template()))
    assert {where.split(".")[1] for where in documents} == {
        "StartNotebookRole",
        "IngestScoresRole",
        "NotebookRole",
        "MediaBucketPolicy",
        "ResultsBucketPolicy",
    }
    notebook = documents["Resources.NotebookRole.Policies[notebook]"]
    by_sid = {statement["Sid"]: statement for statement in notebook["Statement"]}
    assert by_sid["ReadTranscriptionJobs"]["Resource"] == (
        "arn:aws:transcribe:us-east-1:123456789012:transcription-job/*"
    )
    assert by_sid["StartTranscriptionJobs"]["Condition"]["StringEquals"] == {
        "transcribe:OutputBucketName": "lint-stack-results-123456789012-us-east-1"
    }
    assert "Fn::" not in str(documents) and "Ref" not in str(documents)


def test_a_start_transcription_job_scoped_to_job_arns_is_a_resource_mismatch(
    tmp_path: Path,
) -> None:
    """The mistake issue 9 found: a scope that matches no resource type of the action denies
    every StartTranscriptionJob on AWS."""
    path = bad_copy(tmp_path, START_JOBS, MIS_SCOPED_START)
    assert issues(path) == {("Resources.NotebookRole.Policies[notebook]", "RESOURCE_MISMATCH")}
    result = subprocess.run(
        [sys.executable, "-m", "deploy.iam_lint", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "transcribe:StartTranscriptionJob" in result.stdout


def test_an_unknown_action_is_named(tmp_path: Path) -> None:
    path = bad_copy(
        tmp_path,
        "Action: transcribe:GetTranscriptionJob\n",
        "Action: transcribe:GetTranscriptionJobs\n",
    )
    assert ("Resources.NotebookRole.Policies[notebook]", "UNKNOWN_ACTION") in issues(path)


def test_a_wildcard_where_an_arn_is_possible_is_named(tmp_path: Path) -> None:
    old = """                  - dynamodb:GetItem
                Resource: !GetAtt ScoresTable.Arn
"""
    new = """                  - dynamodb:GetItem
                Resource: "*"
"""
    path = bad_copy(tmp_path, old, new)
    assert issues(path) == {("Resources.IngestScoresRole.Policies[ingest-scores]", "RESOURCE_STAR")}


def test_a_condition_key_the_action_does_not_support_is_named(tmp_path: Path) -> None:
    path = bad_copy(tmp_path, "transcribe:OutputBucketName:", "transcribe:OutputBucket:")
    assert issues(path) == {
        ("Resources.NotebookRole.Policies[notebook]", "UNKNOWN_CONDITION_FOR_ACTION")
    }


@pytest.mark.parametrize("prefix", ["", "*", "corpus/*", "corpus", "/corpus/", "a//b/"])
def test_corpus_prefix_refuses_what_would_widen_the_iam_scope(prefix: str) -> None:
    pattern = load_template()["Parameters"]["CorpusPrefix"]["AllowedPattern"]
    assert not re.fullmatch(pattern, prefix)
    assert re.fullmatch(pattern, "corpus/") and re.fullmatch(pattern, "audio/en-US/")
