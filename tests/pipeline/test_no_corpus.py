"""The first run of a new stack meets an empty media bucket (OnStart runs "including when you
create" the instance, CreateNotebookInstanceLifecycleConfig API reference): its outcome is
NO_CORPUS, recorded and sent through the one path every run takes (failure CSV -> ingest ->
DynamoDB and SNS), saying where to upload. Once a run has scored, an empty corpus is FAILED.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.sns.models import sns_backends

from pipeline.aws import Clients
from pipeline.failed_run import write_failed_run
from pipeline.handlers import ingest_scores
from pipeline.results_table import get_item, run_pk, table_definition
from pipeline.scores_csv import RUN_ROW_FILE, ScoreRow, read_rows
from pipeline.scores_object import put_scores

ACCOUNT, REGION = "123456789012", "us-east-1"
MEDIA, RESULTS, TABLE = "st-media", "st-results", "st-scores"
FIRST = "2026-11-22T06-00-00Z-aaaaaa"
SECOND = "2026-11-23T06-00-00Z-bbbbbb"
THIRD = "2026-11-24T06-00-00Z-cccccc"
EMPTY = "EmptyCorpusError: no objects under s3://st-media/corpus/ (cell 2)"


@dataclass
class Stack:
    s3: Any
    dynamodb: Any
    topic_arn: str

    def fail(self, run_id: str, error: str = EMPTY) -> str | None:
        return write_failed_run(
            self.s3,
            run_id=run_id,
            error=error,
            media_bucket=MEDIA,
            results_bucket=RESULTS,
            corpus_prefix="corpus/",
            stack="st",
        )

    def rows(self, run_id: str) -> list[ScoreRow]:
        body = self.s3.get_object(Bucket=RESULTS, Key=f"scores/{run_id}.csv")["Body"].read()
        return list(read_rows(io.StringIO(body.decode())))

    def ingest(self, run_id: str) -> dict[str, Any]:
        event = {
            "Records": [
                {
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": RESULTS}, "object": {"key": f"scores/{run_id}.csv"}},
                }
            ]
        }
        config = ingest_scores.Config(TABLE, self.topic_arn, 0.02, 10)
        (result,) = ingest_scores.ingest_event(event, config, Clients(boto3.Session()))["records"]
        return result

    def summary(self, run_id: str) -> dict[str, Any] | None:
        return get_item(TABLE, run_pk(run_id), "SUMMARY", self.dynamodb)

    def messages(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(subject, body, attributes) of every message published, in order."""
        sent = sns_backends[ACCOUNT][REGION].topics[self.topic_arn].sent_notifications
        return [(subject, body, attributes) for _, body, subject, attributes, _ in sent]


@pytest.fixture
def stack(in_process_aws: None) -> Stack:
    s3 = boto3.client("s3")
    for bucket in (MEDIA, RESULTS):
        s3.create_bucket(Bucket=bucket)
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(**table_definition(TABLE))
    topic_arn = boto3.client("sns").create_topic(Name="st-alerts")["TopicArn"]
    return Stack(s3, dynamodb, topic_arn)


def test_the_first_run_on_an_empty_bucket_is_no_corpus_and_says_where_to_upload(stack):
    assert stack.fail(FIRST) == f"scores/{FIRST}.csv"
    [row] = stack.rows(FIRST)
    assert (row.file, row.status) == (RUN_ROW_FILE, "failed")
    assert row.error.startswith("NO_CORPUS: no audio to score under s3://st-media/corpus/ yet.")

    result = stack.ingest(FIRST)

    assert result["status"] == "NO_CORPUS"
    summary = stack.summary(FIRST)
    assert summary["status"] == "NO_CORPUS" and "corpus_wer" not in summary
    assert summary["error"].startswith("no audio to score under s3://st-media/corpus/ yet.")
    [(subject, body, attributes)] = stack.messages()
    assert subject == f"ASR monitor NO_CORPUS: upload audio to score, run {FIRST}"
    assert attributes["status"]["Value"] == "NO_CORPUS"
    flat = " ".join(body.split())
    assert "s3://st-media/corpus/" in flat
    assert "amr, flac, m4a, mp3, mp4, ogg, wav, webm" in flat
    assert "python -m deploy upload-corpus --stack st --corpus DIR" in flat
    assert "python -m deploy run-now --stack st" in flat
    assert "Failures" not in body and "Corpus WER" not in body


def test_only_references_uploaded_is_still_no_corpus(stack):
    stack.s3.put_object(Bucket=MEDIA, Key="corpus/a.txt", Body=b"hello")
    stack.fail(FIRST, "EmptyCorpusError: no audio (...) under s3://st-media/corpus/ (cell 2)")
    assert stack.ingest(FIRST)["status"] == "NO_CORPUS"


def test_a_failed_install_on_an_empty_bucket_is_failed_not_no_corpus(stack):
    stack.fail(FIRST, "pip install failed: ERROR: No matching distribution found for jiwer==9")
    [row] = stack.rows(FIRST)
    assert row.error.startswith("run failed: pip install failed: ERROR: No matching")
    assert "corpus could not be listed" in row.error
    assert stack.ingest(FIRST)["status"] == "FAILED"


def test_after_a_scored_run_an_empty_corpus_is_failed(stack):
    stack.fail(FIRST)
    stack.ingest(FIRST)
    scored = ScoreRow.scored(
        run_id=SECOND,
        file="a.wav",
        wer=0.1,
        mer=0.1,
        wil=0.19,
        cer=0.05,
        accuracy=0.9,
        ref_words=10,
        hyp_words=10,
        substitutions=1,
        deletions=0,
        insertions=0,
        audio_seconds=2.0,
        job_name="j",
        engine="e",
        language_code="en-US",
    )
    put_scores(stack.s3, RESULTS, SECOND, [scored])
    assert stack.ingest(SECOND)["status"] == "OK"

    stack.fail(THIRD)
    result = stack.ingest(THIRD)

    assert result["status"] == "FAILED"
    assert stack.summary(THIRD)["error"].startswith(
        f"the corpus is empty (run {SECOND} scored it): no audio to score under"
    )
    subjects = [subject for subject, _, _ in stack.messages()]
    assert [s.split(":")[0] for s in subjects] == [
        "ASR monitor NO_CORPUS",
        "ASR monitor OK",
        "ASR monitor FAILED",
    ]
