"""Every IAM statement of the template is needed: without it, the chain fails at the stage that
needs it, on an AccessDenied naming the action and the resource (or, for a trust statement,
with the service's refusal to assume the role).

The whole chain runs once per statement on a copy of the template without it
(``emulation.e2e.sweep``), on a two-clip corpus. Its creation run (OnStart at the instance's
creation, on an empty corpus: NO_CORPUS through the failure path) is where most of the
instance's and the ingest function's statements are first needed, as on AWS. ``make test``
runs a representative set, one per kind of failure; ``pytest -m iam_sweep`` (or ``make
iam-sweep``, which prints a table) runs all of them. ``EXPECTED`` must list every statement of
the template, so a new statement needs its line here, and a statement the chain stops needing
fails its test.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulation.core.build import build_twin
from emulation.core.twin import Twin
from emulation.e2e.chain import DEFAULT_CORPUS, E2EOptions, twin_config
from emulation.e2e.sites import EmbeddedSite
from emulation.e2e.sweep import TRUST, StatementRef, run_without, statements

pytestmark = pytest.mark.spread

# (role, statement) -> (the stage that fails, the refused action or the refusal's words).
# Stage None: the chain does not use the statement (it stays green without it); the reason.
# Two stages: the run goes on without the statement, so the chain notices the refusal at its
# next check, which falls either side of the moment Transcribe finishes the two clips.
EXPECTED: dict[tuple[str, str], tuple[str | tuple[str, str] | None, str]] = {
    ("StartNotebookRole", TRUST): ("deploy", "cannot be assumed by Lambda"),
    ("StartNotebookRole", "StartOwnNotebookInstance"): (
        "instance start",
        "sagemaker:DescribeNotebookInstance",
    ),
    ("StartNotebookRole", "ListHeartbeats"): (
        None,
        "only a fire while the instance is InService reads the heartbeats "
        "(tests/pipeline/test_start_notebook)",
    ),
    ("StartNotebookRole", "WriteNotes"): (
        None,
        "only a stopped or skipped start writes a note (tests/pipeline/test_start_notebook)",
    ),
    ("StartNotebookRole", "OwnLogGroup"): ("instance start", "logs:CreateLogStream"),
    ("StartNotebookRole", "OnFailureDestination"): ("deploy", "sqs:SendMessage"),
    ("IngestScoresRole", TRUST): ("deploy", "cannot be assumed by Lambda"),
    ("IngestScoresRole", "ReadScoresCsv"): ("creation run", "s3:GetObject"),
    ("IngestScoresRole", "ListScoresPrefix"): (
        None,
        "only a scores key that does not exist needs it (S3 then answers NoSuchKey, not "
        "AccessDenied): test_handler_boundaries covers it",
    ),
    ("IngestScoresRole", "WriteScores"): ("creation run", "dynamodb:BatchWriteItem"),
    ("IngestScoresRole", "QueryHistory"): ("creation run", "dynamodb:Query"),
    ("IngestScoresRole", "Notify"): ("creation run", "sns:Publish"),
    ("IngestScoresRole", "OwnLogGroup"): ("creation run", "logs:CreateLogStream"),
    ("IngestScoresRole", "OnFailureDestination"): ("deploy", "sqs:SendMessage"),
    # SageMaker refuses CreateNotebookInstance: the stack fails to create.
    ("NotebookRole", TRUST): ("deploy", "Could not assume role"),
    ("NotebookRole", "ListCorpus"): ("creation run", "s3:ListBucket"),
    ("NotebookRole", "ListArtifacts"): (
        None,
        "only a missing artifact needs it: S3 then answers NoSuchKey, not AccessDenied, so the "
        "hook's log names the missing object",
    ),
    # The creation's OnStart hook cannot fetch the script: the instance fails to create.
    ("NotebookRole", "ReadInputs"): ("deploy", "s3:GetObject"),
    # On the failure path, which the creation run takes (NO_CORPUS): without it, S3 answers the
    # check for an existing scores CSV with AccessDenied instead of 404.
    ("NotebookRole", "ListResults"): ("creation run", "s3:ListBucket"),
    ("NotebookRole", "ReadWriteResults"): ("creation run", "s3:PutObject"),
    ("NotebookRole", "StartTranscriptionJobs"): ("transcribe", "transcribe:StartTranscriptionJob"),
    ("NotebookRole", "ReadTranscriptionJobs"): ("transcribe", "transcribe:GetTranscriptionJob"),
    # Without it the run polls alone (pipeline/transcribe/orchestrator.py); its first sweep can
    # come after the two clips are done.
    ("NotebookRole", "ListTranscriptionJobs"): (
        ("transcribe", "score + upload"),
        "transcribe:ListTranscriptionJobs",
    ),
    # Read once the jobs are scored (pipeline.run.compare_with_history); without it the report
    # says the history could not be read.
    ("NotebookRole", "ReadHistory"): (("transcribe", "score + upload"), "dynamodb:Query"),
    ("NotebookRole", "StopSelf"): ("creation run", "sagemaker:DescribeNotebookInstance"),
    ("NotebookRole", "NotifyFailure"): (
        None,
        "only the last-resort failure path (the pipeline package cannot be loaded) publishes",
    ),
    ("NotebookRole", "LifecycleLogGroup"): ("creation run", "logs:CreateLogGroup"),
    ("NotebookRole", "LifecycleLogStreams"): ("creation run", "logs:CreateLogStream"),
}
# One per kind of failure, for make test: a Lambda's API call, a deploy-time check, the
# instance's role through Transcribe, and a trust policy.
REPRESENTATIVE = {
    ("StartNotebookRole", "StartOwnNotebookInstance"),
    ("IngestScoresRole", "OnFailureDestination"),
    ("NotebookRole", "StartTranscriptionJobs"),
    ("NotebookRole", TRUST),
}


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = tmp_path_factory.mktemp("corpus")
    for name in ("clip01_nightly_run", "clip07_slow"):
        for path in DEFAULT_CORPUS.glob(f"{name}.*"):
            shutil.copy(path, corpus)
    return corpus


@pytest.fixture(scope="module")
def sweep_twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twin]:
    options = E2EOptions()
    twin = build_twin(twin_config(options, tmp_path_factory.mktemp("sandbox"))).start()
    yield twin
    twin.stop()


def test_the_table_lists_every_statement_of_the_template() -> None:
    assert {(ref.role, ref.sid) for ref in statements()} == set(EXPECTED)


def _cases() -> list:
    return [
        pytest.param(
            StatementRef(*key),
            id=f"{key[0]}/{key[1]}",
            marks=() if key in REPRESENTATIVE else pytest.mark.iam_sweep,
        )
        for key in EXPECTED
    ]


@pytest.mark.e2e
@pytest.mark.parametrize("ref", _cases())
def test_without_the_statement_the_chain_fails_where_it_is_needed(
    ref: StatementRef, sweep_twin: Twin, small_corpus: Path, tmp_path: Path
) -> None:
    sweep_twin.reset()
    stage, evidence = EXPECTED[(ref.role, ref.sid)]
    options = E2EOptions(corpus=small_corpus, timeout=240.0, runs_dir=tmp_path / "runs")
    outcome = run_without(EmbeddedSite(sweep_twin), ref, options, tmp_path)
    assert outcome.failed_stage in (stage if isinstance(stage, tuple) else (stage,)), outcome
    if stage is None:
        return
    if ":" in evidence and " " not in evidence:  # an IAM action: the AccessDenied names it
        assert outcome.action == evidence, outcome
        # (SNS writes its prefix in capitals, "SNS:Publish", as AWS's SNS does)
        assert f"perform: {evidence}".lower() in outcome.message.lower(), outcome
        if outcome.resource and outcome.resource != "*":
            assert outcome.resource in outcome.message, outcome
    else:
        assert evidence in outcome.message, outcome
