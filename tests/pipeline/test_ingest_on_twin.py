"""Ingest against the twin, where requests overlap as they do in AWS: exactly one message.

DynamoDB applies a conditional write atomically, so of overlapping claims on one notification
marker exactly one succeeds (DynamoDB Developer Guide, "Condition expressions": the write
happens only if the condition holds when it is applied). The twin's ``AtomicWrites`` part gives
moto the same guarantee; tests/emulation/dynamodb shows moto without it lets two pass.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from emulation.core.inspector import Inspector
from emulation.core.twin import Twin
from pipeline.aws import Clients
from pipeline.handlers import ingest_scores
from pipeline.results_table import table_definition
from pipeline.scores_csv import ScoreRow
from pipeline.scores_object import put_scores

BUCKET, TABLE = "results", "scores"
DELIVERIES = 8


@pytest.fixture
def site(twin: Twin) -> ingest_scores.Config:
    twin.client("s3").create_bucket(Bucket=BUCKET)
    twin.client("dynamodb").create_table(**table_definition(TABLE))
    topic = twin.client("sns").create_topic(Name="alerts")["TopicArn"]
    return ingest_scores.Config(TABLE, topic, regression_threshold=0.02, worst_files=5)


def rows(run_id: str, errors: int) -> list[ScoreRow]:
    return [
        ScoreRow.from_counts(
            run_id=run_id,
            file=f"{n}.wav",
            ref_words=20,
            substitutions=errors,
            deletions=0,
            insertions=0,
            cer=errors / 40,
        )
        for n in range(30)
    ]


def event(key: str) -> dict[str, Any]:
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": BUCKET}, "object": {"key": key}},
    }
    return {"Records": [record]}


def deliver_at_once(twin: Twin, config: ingest_scores.Config, key: str) -> list[Any]:
    """``DELIVERIES`` threads, each with its own clients, released together by a barrier."""
    clients = [
        Clients({name: twin.client(name) for name in ("s3", "dynamodb", "sns")})
        for _ in range(DELIVERIES)
    ]
    barrier = threading.Barrier(DELIVERIES)
    results: list[Any] = [None] * DELIVERIES

    def deliver(index: int) -> None:
        barrier.wait()
        try:
            results[index] = ingest_scores.ingest_event(event(key), config, clients[index])
        except Exception as exc:  # recorded, asserted below
            results[index] = exc

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(DELIVERIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def run_messages(twin: Twin, config: ingest_scores.Config, run_id: str) -> list[Any]:
    return [
        m
        for m in Inspector(twin).sns_messages(config.topic_arn)
        if m.attributes["run_id"] == run_id
    ]


@pytest.mark.parametrize("round_", range(3))
def test_overlapping_deliveries_of_one_event_send_exactly_one_message(twin, site, round_):
    """The issue: 3 concurrent deliveries of one event gave up to 3 messages."""
    run_id = f"2026-11-2{round_}T20-00-00Z-aaaaaa"
    key = put_scores(twin.client("s3"), BUCKET, run_id, rows(run_id, 2))
    results = deliver_at_once(twin, site, key)

    assert not [r for r in results if isinstance(r, Exception)], results
    records = [r["records"][0] for r in results]
    assert [r["outcome"] for r in records] == ["ingested"] * DELIVERIES
    assert sum(r["notified"] for r in records) == 1
    (message,) = run_messages(twin, site, run_id)
    assert {r["message_id"] for r in records} == {message.message_id}
    assert message.subject.startswith("ASR monitor OK: corpus WER 10.00%")


def test_a_corrected_upload_is_reported_once_even_when_its_deliveries_overlap(twin, site):
    run_id = "2026-11-24T20-00-00Z-bbbbbb"
    key = put_scores(twin.client("s3"), BUCKET, run_id, rows(run_id, 2))
    deliver_at_once(twin, site, key)
    put_scores(twin.client("s3"), BUCKET, run_id, rows(run_id, 4))  # a new version, a new ETag
    results = deliver_at_once(twin, site, key)

    assert sum(r["records"][0]["notified"] for r in results) == 1
    subjects = [m.subject for m in run_messages(twin, site, run_id)]
    assert [subject.split(",")[0] for subject in subjects] == [
        "ASR monitor OK: corpus WER 10.00%",
        "ASR monitor OK: corpus WER 20.00%",
    ]
