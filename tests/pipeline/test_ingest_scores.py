"""The ingest Lambda and its table layer on moto, asserting on what DynamoDB, SNS and S3 hold."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from botocore.exceptions import ClientError, FlexibleChecksumError
from moto.dynamodb.models import dynamodb_backends
from moto.sns.models import sns_backends

from pipeline.aws import Clients
from pipeline.errors import ConfigurationError
from pipeline.handlers import ingest_scores
from pipeline.results_table import (
    ClaimPendingError,
    ClaimPolicy,
    RetryPolicy,
    RunSummary,
    UnprocessedItemsError,
    WriteWindow,
    claim_notification,
    deserialize_item,
    file_item,
    mark_notification_sent,
    previous_summary,
    row_from_item,
    run_file_items,
    summary_item,
    table_definition,
    write_items,
)
from pipeline.scores_csv import COLUMNS, ScoreRow
from pipeline.scores_object import (
    ROWS_METADATA,
    ScoresReadError,
    encode_scores,
    put_scores,
    sha256_base64,
)
from pipeline.scoring.corpus import corpus_wer

ACCOUNT, REGION = "123456789012", "us-east-1"
BUCKET, TABLE = "results", "scores"
RUN1 = "2026-11-22T20-00-00Z-aaaaaa"
RUN2 = "2026-11-23T20-00-00Z-bbbbbb"
RUN3 = "2026-11-24T20-00-00Z-cccccc"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass
class Aws:
    s3: Any
    dynamodb: Any
    sns: Any
    topic_arn: str

    def messages(self) -> list[tuple[str, str, str | None, dict[str, Any] | None, str | None]]:
        """(message_id, message, subject, attributes, group_id) as moto recorded them."""
        return sns_backends[ACCOUNT][REGION].topics[self.topic_arn].sent_notifications

    def items(self) -> list[dict[str, Any]]:
        pages = self.dynamodb.get_paginator("scan").paginate(TableName=TABLE)
        items = [item for page in pages for item in page["Items"]]
        return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))

    def item(self, run_id: str, sk: str) -> dict[str, Any] | None:
        key = {"pk": {"S": f"RUN#{run_id}"}, "sk": {"S": sk}}
        return self.dynamodb.get_item(TableName=TABLE, Key=key).get("Item")

    def item_plain(self, run_id: str, sk: str = "NOTIFICATION") -> dict[str, Any]:
        return deserialize_item(self.item(run_id, sk) or {})


def create_table(dynamodb: Any) -> None:
    dynamodb.create_table(**table_definition(TABLE))


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, in_process_aws: None) -> Aws:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    create_table(dynamodb)
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    sns = boto3.client("sns", region_name=REGION)
    topic_arn = sns.create_topic(Name="asr-alerts")["TopicArn"]
    monkeypatch.setenv("SCORES_TABLE", TABLE)
    monkeypatch.setenv("ALERT_TOPIC_ARN", topic_arn)
    monkeypatch.setenv("REGRESSION_THRESHOLD", "0.02")
    monkeypatch.setenv("WORST_FILES", "3")
    return Aws(s3, dynamodb, sns, topic_arn)


def ok(run_id: str, file: str, errors: int, ref_words: int = 100, **extra: Any) -> ScoreRow:
    return ScoreRow.from_counts(
        run_id=run_id,
        file=file,
        ref_words=ref_words,
        substitutions=errors // 2,
        deletions=errors - errors // 2,
        insertions=0,
        cer=errors / ref_words / 2,
        audio_seconds=extra.get("audio_seconds", 2.5),
        job_name=f"asr-{run_id}-{len(file)}",
        engine="faster-whisper",
        language_code="en-US",
    )


def failed(run_id: str, file: str, error: str = "missing reference") -> ScoreRow:
    return ScoreRow(run_id=run_id, file=file, status="failed", error=error, job_name="j")


def csv_bytes(rows: list[ScoreRow]) -> bytes:
    return encode_scores(rows).body


def upload(aws: Aws, key: str, body: bytes, rows: int | None = None) -> None:
    """Upload ``body`` with the writer's proof: S3's SHA-256 of it and a row count (by default
    the number of records after the header, as the writer would have counted them)."""
    count = len(list(csv.reader(io.StringIO(body.decode("utf-8", "replace"))))) - 1
    aws.s3.put_object(
        Bucket=BUCKET,
        Key=key,
        Body=body,
        ChecksumAlgorithm="SHA256",
        ChecksumSHA256=sha256_base64(body),
        Metadata={ROWS_METADATA: str(count if rows is None else rows)},
    )


def s3_event(*keys: str) -> dict[str, Any]:
    """The S3 notification shape; keys are URL-encoded the way S3 sends them."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"},
                    "object": {"key": quote_plus(key, safe="/")},
                },
            }
            for key in keys
        ]
    }


def ingest(aws: Aws, run_id: str, rows: list[ScoreRow]) -> dict[str, Any]:
    key = f"scores/{run_id}.csv"
    upload(aws, key, csv_bytes(rows))
    (result,) = ingest_scores.handler(s3_event(key), None)["records"]
    return result


def as_number(attribute: dict[str, Any]) -> float:
    return float(attribute["N"])


# ----------------------------------------------------------------------------- the happy path


def test_ingest_writes_every_row_the_summary_and_one_message(aws):
    rows = [ok(RUN1, "a.wav", 5), ok(RUN1, "sub/b.mp3", 30), ok(RUN1, "c.wav", 10, 50)]
    rows.append(failed(RUN1, "d.wav", "Transcribe job failed: unsupported media"))
    result = ingest(aws, RUN1, rows)

    json.dumps(result)  # the handler's answer must be JSON
    assert result["outcome"] == "ingested" and result["status"] == "OK"
    assert (result["files"], result["failed"], result["written"]) == (4, 1, 4)
    items = list(run_file_items(TABLE, RUN1, aws.dynamodb))
    assert [row_from_item(item) for item in items] == sorted(rows, key=lambda row: row.file)
    raw_b = aws.item(RUN1, "FILE#sub/b.mp3")
    assert raw_b["gsi1pk"] == {"S": "FILE#sub/b.mp3"} and raw_b["gsi1sk"] == {"S": RUN1}
    assert raw_b["wer"] == {"N": "0.3"} and raw_b["schema_version"] == {"S": "3"}
    raw_d = aws.item(RUN1, "FILE#d.wav")
    assert "wer" not in raw_d and raw_d["error"]["S"].startswith("Transcribe job failed")

    expected = corpus_wer([(5, 100), (30, 100), (10, 50)])
    summary = aws.item(RUN1, "SUMMARY")
    assert summary["gsi1pk"] == {"S": "CORPUS"} and summary["gsi1sk"] == {"S": RUN1}
    assert as_number(summary["corpus_wer"]) == pytest.approx(45 / 250) == expected.wer
    assert as_number(summary["ci_low"]) == expected.ci_low
    assert as_number(summary["ci_high"]) == expected.ci_high
    assert (as_number(summary["files"]), as_number(summary["failed"])) == (4, 1)
    assert summary["status"] == {"S": "OK"}
    assert "delta_wer" not in summary and "previous_run_id" not in summary

    (message,) = aws.messages()
    message_id, body, subject, attributes, _ = message
    assert subject == f"ASR monitor OK (1 of 4 files failed): corpus WER 18.00%, run {RUN1}"
    assert attributes["status"] == {"Type": "String", "Value": "OK"}  # as moto stores them
    assert attributes["run_id"] == {"Type": "String", "Value": RUN1}
    assert attributes["corpus_wer"] == {"Type": "Number", "Value": "0.180000"}
    assert attributes["files_failed"] == {"Type": "Number", "Value": "1"}
    worst = [
        line.split()[-1] for line in body.splitlines() if line.startswith("  ") and "%" in line
    ]
    assert worst == ["sub/b.mp3", "c.wav", "a.wav"]
    assert "d.wav: Transcribe job failed: unsupported media" in body
    marker = aws.item(RUN1, "NOTIFICATION")
    assert marker["message_id"] == {"S": message_id} and marker["status"] == {"S": "OK"}


def test_subscribers_can_filter_on_the_status_attribute(aws):
    sqs = boto3.client("sqs")
    queues = {}
    for status in ("OK", "REGRESSION"):
        url = sqs.create_queue(QueueName=f"only-{status}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        aws.sns.subscribe(
            TopicArn=aws.topic_arn,
            Protocol="sqs",
            Endpoint=arn["Attributes"]["QueueArn"],
            Attributes={"FilterPolicy": json.dumps({"status": [status]})},
        )
        queues[status] = url
    ingest(aws, RUN1, [ok(RUN1, "a.wav", 10)])
    ingest(aws, RUN2, [ok(RUN2, "a.wav", 20)])

    def received(status: str) -> list[dict[str, Any]]:
        answer = sqs.receive_message(QueueUrl=queues[status], MaxNumberOfMessages=10)
        return [json.loads(message["Body"]) for message in answer.get("Messages", [])]

    (only_ok,) = received("OK")
    (only_regression,) = received("REGRESSION")
    assert only_ok["Subject"] == f"ASR monitor OK: corpus WER 10.00%, run {RUN1}"
    assert only_regression["MessageAttributes"] == {
        "status": {"Type": "String", "Value": "REGRESSION"},
        "run_id": {"Type": "String", "Value": RUN2},
        "corpus_wer": {"Type": "Number", "Value": "0.200000"},
        "files_failed": {"Type": "Number", "Value": "0"},
        "delta_wer": {"Type": "Number", "Value": "0.100000"},
    }


def test_redelivered_event_leaves_the_same_items_and_sends_no_second_message(aws):
    rows = [ok(RUN1, f"{n}.wav", n) for n in range(30)] + [failed(RUN1, "x.wav")]
    key = f"scores/{RUN1}.csv"
    upload(aws, key, csv_bytes(rows))
    first = ingest_scores.handler(s3_event(key), None)["records"][0]
    items_after_first = aws.items()
    second = ingest_scores.handler(s3_event(key, key), None)["records"]

    assert aws.items() == items_after_first
    assert len(items_after_first) == 31 + 2  # files, summary, notification marker
    assert len(aws.messages()) == 1
    assert first["notified"] is True
    assert [(r["notified"], r["message_id"]) for r in second] == [(False, first["message_id"])] * 2


def test_ten_thousand_rows_are_all_written_and_summarized(aws):
    rows = [ok(RUN1, f"clip{n:05d}.wav", n % 7, 20 + n % 13) for n in range(9_990)]
    rows += [failed(RUN1, f"broken{n}.wav", f"reason {n}") for n in range(10)]
    result = ingest(aws, RUN1, rows)

    assert (result["files"], result["failed"], result["written"]) == (10_000, 10, 10_000)
    # Every stored value, read from moto's table model (the query API would take 20 s here).
    table = dynamodb_backends[ACCOUNT][REGION].tables[TABLE]
    stored = [item.to_regular_json() for item in table.all_items()]
    files = {item["sk"]: row_from_item(item) for item in stored if item["sk"].startswith("FILE#")}
    assert files == {f"FILE#{row.file}": row for row in rows}
    assert aws.item(RUN1, "FILE#clip04242.wav")["substitutions"] == {"N": str(4242 % 7 // 2)}
    expected = corpus_wer([(row.errors, row.ref_words) for row in rows if row.status == "ok"])
    summary = aws.item(RUN1, "SUMMARY")
    assert as_number(summary["corpus_wer"]) == expected.wer
    assert (as_number(summary["ci_low"]), as_number(summary["ci_high"])) == (
        expected.ci_low,
        expected.ci_high,
    )
    assert as_number(summary["files"]) == 10_000 and as_number(summary["failed"]) == 10
    (message,) = aws.messages()
    assert "Failures (10)" in message[1] and "broken9.wav: reason 9" in message[1]


# ----------------------------------------------------------------------------- bad input


def bad_csv(run_id: str) -> bytes:
    """Row on line 7 has wer 'abc'; everything else is fine."""
    lines = csv_bytes([ok(run_id, f"{n}.wav", n) for n in range(10)]).decode().split("\r\n")
    cells = lines[6].split(",")
    cells[5] = "abc"
    lines[6] = ",".join(cells)
    return "\r\n".join(lines).encode()


def test_a_bad_row_writes_nothing_and_sends_one_failed_message_naming_line_and_field(aws):
    key = f"scores/{RUN1}.csv"
    upload(aws, key, bad_csv(RUN1))
    result = ingest_scores.handler(s3_event(key), None)["records"][0]
    again = ingest_scores.handler(s3_event(key), None)["records"][0]

    assert result["outcome"] == "failed" and result["status"] == "FAILED"
    assert (result["line"], result["field"], result["written"]) == (7, "wer", 0)
    assert [item["sk"]["S"] for item in aws.items()] == ["NOTIFICATION"]
    (message,) = aws.messages()
    assert message[2] == f"ASR monitor FAILED: corpus WER n/a, run {RUN1}"
    assert f"s3://{BUCKET}/{key}: scores CSV line 7, field 'wer': not a number: 'abc'" in message[1]
    assert message[3]["status"]["Value"] == "FAILED" and "corpus_wer" not in message[3]
    assert again["notified"] is False


def test_a_corrected_upload_after_a_bad_one_is_ingested_and_reported(aws):
    key = f"scores/{RUN1}.csv"
    upload(aws, key, bad_csv(RUN1))
    ingest_scores.handler(s3_event(key), None)
    result = ingest(aws, RUN1, [ok(RUN1, "a.wav", 3)])

    assert result["status"] == "OK" and result["notified"] is True
    assert [message[2].split(":")[0] for message in aws.messages()] == [
        "ASR monitor FAILED",
        "ASR monitor OK",
    ]


@pytest.mark.parametrize(
    ("rows", "line", "field", "reason"),
    [
        ([ok(RUN1, "a.wav", 1), ok(RUN2, "b.wav", 1)], 3, "run_id", "does not match"),
        ([ok(RUN1, "a.wav", 1), failed(RUN1, "b.wav"), ok(RUN1, "a.wav", 2)], 4, "file", "dup"),
    ],
)
def test_rows_must_belong_to_the_key_and_name_each_file_once(aws, rows, line, field, reason):
    result = ingest(aws, RUN1, rows)
    assert (result["outcome"], result["line"], result["field"]) == ("failed", line, field)
    assert reason in result["error"]
    assert [item["sk"]["S"] for item in aws.items()] == ["NOTIFICATION"]
    assert f"line {line}, field '{field}'" in aws.messages()[0][1]


def test_all_rows_failed_is_a_failed_run_with_the_rows_kept(aws):
    rows = [failed(RUN1, "a.wav", "missing reference"), failed(RUN1, "b.wav", "job FAILED")]
    result = ingest(aws, RUN1, rows)

    assert result["status"] == "FAILED" and result["written"] == 2
    summary = aws.item(RUN1, "SUMMARY")
    assert summary["status"] == {"S": "FAILED"} and "corpus_wer" not in summary
    assert summary["error"] == {"S": "no file was scored: all 2 failed"}
    (message,) = aws.messages()
    assert message[2].startswith("ASR monitor FAILED (2 of 2 files failed): corpus WER n/a")
    assert "a.wav: missing reference" in message[1] and "b.wav: job FAILED" in message[1]


def test_a_missing_object_sends_one_failed_message_with_the_key(aws):
    key = f"scores/{RUN1}.csv"
    results = ingest_scores.handler(s3_event(key, key), None)["records"]

    assert [r["outcome"] for r in results] == ["failed", "failed"]
    assert [r["notified"] for r in results] == [True, False]
    (message,) = aws.messages()
    assert f"s3://{BUCKET}/{key} does not exist (NoSuchKey)" in message[1]
    assert [item["sk"]["S"] for item in aws.items()] == ["NOTIFICATION"]


def test_keys_that_are_not_scores_csv_are_rejected_and_reported(aws):
    upload(aws, "scores/notes about run.csv", b"x")
    event = s3_event("scores/notes about run.csv", f"reports/{RUN1}/summary.json")
    results = ingest_scores.handler(event, None)["records"]

    assert [r["outcome"] for r in results] == ["rejected", "rejected"]
    assert results[0]["key"] == "scores/notes about run.csv"  # decoded from scores/notes+about...
    assert "is not scores/<run_id>.csv" in results[0]["error"]
    assert aws.items() == [] and aws.messages() == []


def test_url_encoded_key_from_a_real_s3_notification_is_decoded(aws):
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    aws.s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": queue_arn["Attributes"]["QueueArn"], "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )
    upload(aws, f"scores/{RUN1}.csv", csv_bytes([ok(RUN1, "a b+c.wav", 2)]))
    bodies = [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    ]
    (event,) = [body for body in bodies if "Records" in body]
    assert event["Records"][0]["s3"]["object"]["key"] != f"scores/{RUN1}.csv"  # it is encoded

    (result,) = ingest_scores.handler(event, None)["records"]
    assert result["key"] == f"scores/{RUN1}.csv" and result["outcome"] == "ingested"
    assert aws.item(RUN1, "FILE#a b+c.wav")["file"] == {"S": "a b+c.wav"}


def test_an_object_replaced_between_the_two_passes_is_left_to_its_own_event(aws):
    key = f"scores/{RUN1}.csv"
    upload(aws, key, csv_bytes([ok(RUN1, "a.wav", 1)]))

    class ReplacingS3:
        """Real moto S3 whose object is overwritten right after the first read."""

        def get_object(self, **kwargs: Any) -> Any:
            response = aws.s3.get_object(**kwargs)
            if "IfMatch" not in kwargs:
                upload(aws, key, csv_bytes([ok(RUN1, "a.wav", 9)]))
            return response

    config = ingest_scores.Config.from_env()
    clients = Clients({"s3": ReplacingS3(), "dynamodb": aws.dynamodb, "sns": aws.sns})
    (result,) = ingest_scores.ingest_event(s3_event(key), config, clients)["records"]
    assert result["outcome"] == "superseded"
    assert aws.items() == [] and aws.messages() == []


# ----------------------------------------------------------------- what the write can store


def edited(rows: list[ScoreRow], line: int, column: str, text: str) -> bytes:
    """The CSV of ``rows`` with one cell replaced by hand (what a reader must still refuse)."""
    records = list(csv.reader(io.StringIO(csv_bytes(rows).decode(), newline="")))
    records[line - 1][COLUMNS.index(column)] = text
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(records)
    return out.getvalue().encode()


@pytest.mark.parametrize(
    ("column", "text", "reason"),
    [
        ("wer", "1e+308", "(Overflow)"),
        ("cer", "1e-200", "not storable as a DynamoDB number"),
        ("ref_words", "1" + "0" * 40, "is more than 1,000,000 words"),
        ("insertions", "7" * 4000, "is more than 1,000,000 words"),
        ("insertions", "100000", "hyp_words 80 != hits + substitutions + insertions"),
        ("accuracy", "0.3286", "max(0, 1 - wer)"),
    ],
)
def test_a_number_the_write_cannot_store_fails_the_csv_before_any_write(aws, column, text, reason):
    """The issue's case: wer=1e308 on row 55 passed validation, then raised decimal.Overflow in
    boto3's serializer in pass 2, leaving 50 file items, no summary and no message. Now the
    contract refuses it in pass 1: nothing written, one FAILED message naming line and field."""
    rows = [ok(RUN1, f"{n:02d}.wav", n % 9, 80) for n in range(60)]
    key = f"scores/{RUN1}.csv"
    upload(aws, key, edited(rows, 56, column, text))
    (result,) = ingest_scores.handler(s3_event(key), None)["records"]

    assert (result["outcome"], result["line"], result["field"], result["written"]) == (
        "failed",
        56,
        column if column != "insertions" or len(text) > 6 else "hyp_words",
        0,
    )
    assert reason in result["error"]
    assert [item["sk"]["S"] for item in aws.items()] == ["NOTIFICATION"]
    (message,) = aws.messages()
    assert message[3]["status"]["Value"] == "FAILED" and "line 56" in message[1]


def test_all_zero_error_counts_with_real_rates_cannot_become_a_baseline(aws):
    """All rows with S=D=I=0 (but their real WER) gave "OK: corpus WER 0.00%", which became the
    baseline for a false REGRESSION. The rates must agree with the counts, so it is refused."""
    rows = [ok(RUN1, f"{n}.wav", 3, 20) for n in range(5)]
    records = list(csv.reader(io.StringIO(csv_bytes(rows).decode(), newline="")))
    for record in records[1:]:
        for column in ("substitutions", "deletions", "insertions"):
            record[COLUMNS.index(column)] = "0"
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(records)
    key = f"scores/{RUN1}.csv"
    upload(aws, key, out.getvalue().encode())
    (result,) = ingest_scores.handler(s3_event(key), None)["records"]
    assert (result["outcome"], result["line"]) == ("failed", 2)
    assert aws.item(RUN1, "SUMMARY") is None


# ----------------------------------------------------------------------------- integrity


def test_the_writer_uploads_its_proof_and_ingest_checks_it(aws):
    rows = [ok(RUN1, f"{n}.wav", n) for n in range(13)]
    key = put_scores(aws.s3, BUCKET, RUN1, rows)
    head = aws.s3.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == encode_scores(rows).sha256
    assert head["Metadata"] == {ROWS_METADATA: "13"}
    (result,) = ingest_scores.handler(s3_event(key), None)["records"]
    assert (result["outcome"], result["written"]) == ("ingested", 13)


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("plain", "has no SHA-256 checksum, so its completeness cannot be proven"),
        ("crc32", "has no SHA-256 checksum"),
        ("no rows", "has no valid x-amz-meta-scores-rows row count (got None)"),
        ("rows 'x'", "has no valid x-amz-meta-scores-rows row count (got 'x')"),
        ("cut at a row", "holds 4 row(s) but its writer wrote 13: the CSV was cut"),
        ("cut at its end", "does not end with a line break, as its writer ends every row"),
    ],
)
def test_a_csv_without_its_proof_or_cut_short_is_refused_with_a_failed_message(aws, how, reason):
    """The issue: 6 of 250 truncated CSVs were accepted as OK (one kept 4 of 13 rows). Cuts made
    after the proof are refused by S3 itself (BadDigest, tests/emulation/s3); these are cuts the
    checksum cannot see (made before it was computed) and objects that carry no proof."""
    rows = [ok(RUN1, f"{n}.wav", n) for n in range(13)]
    body = csv_bytes(rows)
    key = f"scores/{RUN1}.csv"
    if how == "plain":
        aws.s3.put_object(Bucket=BUCKET, Key=key, Body=body, Metadata={ROWS_METADATA: "13"})
    elif how == "crc32":
        aws.s3.put_object(
            Bucket=BUCKET, Key=key, Body=body, ChecksumAlgorithm="CRC32", Metadata={"x": "1"}
        )
    elif how.startswith("no rows") or how.startswith("rows"):
        aws.s3.put_object(
            Bucket=BUCKET,
            Key=key,
            Body=body,
            ChecksumAlgorithm="SHA256",
            Metadata={} if how == "no rows" else {ROWS_METADATA: "x"},
        )
    elif how == "cut at a row":
        upload(aws, key, b"\r\n".join(body.split(b"\r\n")[:5]) + b"\r\n", rows=13)
    else:  # every field of the last row is whole; only its line break is gone
        upload(aws, key, body.removesuffix(b"\r\n"), rows=13)
    (result,) = ingest_scores.handler(s3_event(key), None)["records"]

    assert (result["outcome"], result["status"], result["written"]) == ("failed", "FAILED", 0)
    assert reason in result["error"]
    assert [item["sk"]["S"] for item in aws.items()] == ["NOTIFICATION"]
    (message,) = aws.messages()
    assert message[3]["status"]["Value"] == "FAILED" and reason in message[1]


def test_bytes_that_disagree_with_the_stored_checksum_raise_so_lambda_reads_again(aws):
    """In-process moto stores a checksum without checking it (the twin checks, as S3 does), which
    stands in for a read corrupted on the way: botocore's validation raises, nothing is written,
    no message goes out, and Lambda's retry reads the object again."""
    body = csv_bytes([ok(RUN1, f"{n}.wav", n) for n in range(3)])
    key = f"scores/{RUN1}.csv"
    aws.s3.put_object(
        Bucket=BUCKET,
        Key=key,
        Body=body.replace(b"0.wav", b"9.wav"),
        ChecksumAlgorithm="SHA256",
        ChecksumSHA256=sha256_base64(body),
        Metadata={ROWS_METADATA: "3"},
    )
    with pytest.raises((FlexibleChecksumError, ScoresReadError)):
        ingest_scores.handler(s3_event(key), None)
    assert aws.items() == [] and aws.messages() == []


def test_a_trailing_blank_line_is_accepted_as_rfc_4180_readers_do(aws):
    rows = [ok(RUN1, f"{n}.wav", n) for n in range(3)]
    key = f"scores/{RUN1}.csv"
    upload(aws, key, csv_bytes(rows) + b"\r\n", rows=3)
    (result,) = ingest_scores.handler(s3_event(key), None)["records"]
    assert (result["outcome"], result["written"]) == ("ingested", 3)


def test_a_second_pass_that_reads_differently_writes_no_batch_it_could_not_verify(aws):
    rows = [ok(RUN1, f"{n:03d}.wav", n % 9, 80) for n in range(60)]
    key = put_scores(aws.s3, BUCKET, RUN1, rows)

    class SecondReadDiffers:
        """Real moto S3 whose second read returns a CSV that differs from row 30 on."""

        def get_object(self, **kwargs: Any) -> Any:
            if "IfMatch" in kwargs:
                changed = rows[:30] + [ok(RUN1, f"{n:03d}.wav", 1, 80) for n in range(30, 60)]
                aws.s3.put_object(Bucket=BUCKET, Key="other.csv", Body=csv_bytes(changed))
                return aws.s3.get_object(Bucket=BUCKET, Key="other.csv")
            return aws.s3.get_object(**kwargs)

    config = ingest_scores.Config.from_env()
    clients = Clients({"s3": SecondReadDiffers(), "dynamodb": aws.dynamodb, "sns": aws.sns})
    with pytest.raises(ScoresReadError, match=r"rows 26\.\. read differently"):
        ingest_scores.ingest_event(s3_event(key), config, clients)
    stored = list(run_file_items(TABLE, RUN1, aws.dynamodb))
    assert [row_from_item(item) for item in stored] == rows[:25]  # the verified batch only
    assert aws.messages() == []


# ----------------------------------------------------------------------------- run history


def test_regression_is_judged_against_the_latest_earlier_run_with_a_wer(aws, monkeypatch):
    monkeypatch.setenv("REGRESSION_THRESHOLD", "0.02")
    ingest(aws, RUN1, [ok(RUN1, "a.wav", 10), ok(RUN1, "b.wav", 10)])  # 10%
    ingest(aws, RUN2, [failed(RUN2, "a.wav"), failed(RUN2, "b.wav")])  # FAILED: no WER
    third = ingest(aws, RUN3, [ok(RUN3, "a.wav", 13), ok(RUN3, "b.wav", 13)])  # 13%

    assert third["status"] == "REGRESSION" and third["previous_run_id"] == RUN1
    assert third["delta_wer"] == pytest.approx(0.03)
    summary = aws.item(RUN3, "SUMMARY")
    assert summary["previous_run_id"] == {"S": RUN1}
    assert as_number(summary["delta_wer"]) == pytest.approx(0.03)
    assert as_number(summary["previous_corpus_wer"]) == 0.1
    subject, body = aws.messages()[-1][2], aws.messages()[-1][1]
    assert subject == f"ASR monitor REGRESSION: corpus WER 13.00% (+3.00 pts), run {RUN3}"
    assert f"Previous     10.00%  (run {RUN1})" in body
    assert (
        "Change       +3.00 pts on the 2 file(s) both runs scored (95% CI +3.00 pts to +3.00 pts)"
        in body
    )


@pytest.mark.parametrize(
    ("threshold", "status"), [("0.02", "OK"), ("0.019", "REGRESSION"), ("0", "REGRESSION")]
)
def test_a_rise_of_exactly_the_threshold_is_not_a_regression(aws, monkeypatch, threshold, status):
    monkeypatch.setenv("REGRESSION_THRESHOLD", threshold)
    ingest(aws, RUN1, [ok(RUN1, "a.wav", 10)])
    assert ingest(aws, RUN2, [ok(RUN2, "a.wav", 12)])["status"] == status


def test_an_improvement_is_improved_and_previous_summary_ignores_later_runs(aws):
    ingest(aws, RUN1, [ok(RUN1, "a.wav", 20)])
    ingest(aws, RUN3, [ok(RUN3, "a.wav", 40)])
    result = ingest(aws, RUN2, [ok(RUN2, "a.wav", 10)])  # ingested late: compares with RUN1

    assert (result["status"], result["previous_run_id"]) == ("IMPROVED", RUN1)
    assert result["delta_wer"] == pytest.approx(-0.1)
    assert previous_summary(TABLE, RUN3, aws.dynamodb)["run_id"] == RUN2
    assert previous_summary(TABLE, RUN1, aws.dynamodb) is None


# ----------------------------------------------------------------------------- failures that raise


class Throttled:
    """Real moto DynamoDB that reports the last ``stuck`` items of every batch as unprocessed
    for the first ``times`` calls, the way DynamoDB answers when throttled."""

    def __init__(self, client: Any, stuck: int, times: int):
        self.client, self.stuck, self.times, self.calls = client, stuck, times, []

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        ((table, requests),) = RequestItems.items()
        self.calls.append(len(requests))
        if self.times <= 0:
            return self.client.batch_write_item(RequestItems=RequestItems)
        self.times -= 1
        done, kept = requests[: -self.stuck], requests[-self.stuck :]
        if done:
            self.client.batch_write_item(RequestItems={table: done})
        return {"UnprocessedItems": {table: kept}}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_write_items_batches_by_25_and_retries_unprocessed_items(aws):
    rows = [ok(RUN1, f"{n:02d}.wav", n) for n in range(60)]
    throttled = Throttled(aws.dynamodb, stuck=5, times=2)
    delays: list[float] = []
    policy = RetryPolicy(base_delay=0.1, sleep=delays.append)
    assert write_items(TABLE, map(file_item, rows), throttled, retry=policy) == 60

    assert throttled.calls == [25, 5, 5, 25, 10]  # batch 1's last 5 needed two retries
    assert len(delays) == 2 and 0 <= delays[0] <= 0.1 and 0 <= delays[1] <= 0.2
    assert [row_from_item(item) for item in run_file_items(TABLE, RUN1, aws.dynamodb)] == rows


def test_write_items_gives_up_after_bounded_attempts_with_a_specific_error(aws):
    delays: list[float] = []
    policy = RetryPolicy(max_attempts=4, base_delay=0.1, max_delay=0.3, sleep=delays.append)
    throttled = Throttled(aws.dynamodb, stuck=3, times=99)
    with pytest.raises(
        UnprocessedItemsError, match=r"3 item\(s\) still unprocessed after 4 attempts"
    ):
        items = [file_item(ok(RUN1, f"{n}.wav", 1)) for n in range(3)]
        write_items(TABLE, items, throttled, retry=policy)
    assert len(delays) == 3
    assert all(0 <= d <= cap for d, cap in zip(delays, (0.1, 0.2, 0.3), strict=True))


class PartitionCapacity:
    """Real moto DynamoDB behind a partition that takes ``capacity`` calls at once: a call that
    arrives while ``capacity`` others are in flight gets every item back as UnprocessedItems,
    as DynamoDB answers a write beyond a partition's throughput (BatchWriteItem, API
    Reference: "If DynamoDB returns any unprocessed items, you should retry the batch
    operation on those items")."""

    def __init__(self, client: Any, capacity: int):
        self.client, self.capacity = client, capacity
        self.in_flight = self.most_in_flight = self.throttled = self.calls = 0
        self.lock = threading.Lock()

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.calls += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            over = self.in_flight > self.capacity
            self.throttled += over
        try:
            time.sleep(0.002)  # the round trip, so that calls overlap
            if over:
                return {"UnprocessedItems": RequestItems}
            return self.client.batch_write_item(RequestItems=RequestItems)
        finally:
            with self.lock:
                self.in_flight -= 1


def test_parallel_writes_store_every_item_once_within_the_window(aws):
    rows = [ok(RUN1, f"{n:04d}.wav", n % 9) for n in range(1000)]
    table = PartitionCapacity(aws.dynamodb, capacity=2)
    policy = RetryPolicy(sleep=lambda seconds: None)
    written = write_items(TABLE, map(file_item, rows), table, retry=policy, concurrency=4)

    assert written == 1000
    assert [row_from_item(item) for item in run_file_items(TABLE, RUN1, aws.dynamodb)] == rows
    assert table.most_in_flight <= 4
    assert table.calls == 40 + table.throttled  # each throttled call resent once it was refused


def test_the_window_halves_when_throttled_and_widens_by_one_per_window_of_clean_calls():
    window = WriteWindow(8)
    for _ in range(8):
        assert window.acquire()
    window.throttled()
    assert window.limit == 4
    window.throttled()
    assert window.limit == 2
    for _ in range(8):
        window.release(25)
    # 8 clean calls: 2 of them widened 2 → 3, 3 more → 4, then 3 more (of 4 needed).
    assert window.limit == 4 and window.written == 200
    window.throttled()
    window.throttled()
    window.throttled()
    assert window.limit == 1  # never below one call


def test_a_parallel_write_that_fails_sends_no_more_batches_and_raises(aws):
    throttled = Throttled(aws.dynamodb, stuck=25, times=10**6)
    policy = RetryPolicy(max_attempts=2, sleep=lambda seconds: None)
    items = (file_item(ok(RUN1, f"{n:04d}.wav", 1)) for n in range(2500))
    with pytest.raises(UnprocessedItemsError, match="still unprocessed after 2 attempts"):
        write_items(TABLE, items, throttled, retry=policy, concurrency=4)
    assert len(throttled.calls) < 2 * 100  # stopped well before the 100 batches


def test_throttling_that_outlasts_the_retries_raises_so_lambda_retries(aws, monkeypatch):
    key = f"scores/{RUN1}.csv"
    upload(aws, key, csv_bytes([ok(RUN1, f"{n}.wav", 1) for n in range(3)]))
    monkeypatch.setattr(ingest_scores, "WRITE_RETRY", RetryPolicy(sleep=lambda seconds: None))
    config = ingest_scores.Config.from_env()
    clients = Clients({"s3": aws.s3, "dynamodb": Throttled(aws.dynamodb, 3, 99), "sns": aws.sns})
    with pytest.raises(UnprocessedItemsError):
        ingest_scores.ingest_event(s3_event(key), config, clients)
    assert aws.messages() == []  # no message until the run is fully stored

    ingest_scores.handler(s3_event(key), None)  # Lambda's retry, unthrottled
    assert len(aws.messages()) == 1 and aws.item(RUN1, "SUMMARY")["status"] == {"S": "OK"}


# ----------------------------------------------------------------------------- the message's claim


class FakeClock:
    """Time for claims: ``sleep`` moves it on, so waiting on a lease takes no real time."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    policy = ClaimPolicy(lease_seconds=60, poll_seconds=5, clock=fake, sleep=fake.sleep)
    monkeypatch.setattr(ingest_scores, "CLAIM_POLICY", policy)
    return fake


def uploaded(aws: Aws, rows: list[ScoreRow]) -> tuple[str, str]:
    key = put_scores(aws.s3, BUCKET, RUN1, rows)
    return key, aws.s3.head_object(Bucket=BUCKET, Key=key)["ETag"]


def test_a_publisher_that_died_holding_the_claim_is_replaced_when_its_lease_ends(aws, clock):
    """At-least-once: a delivery that finds a live claim waits for it; the claim's holder died
    (it never publishes), so when the lease ends this delivery takes over and sends it, once."""
    key, etag = uploaded(aws, [ok(RUN1, "a.wav", 5)])
    dead = claim_notification(TABLE, RUN1, etag, aws.dynamodb, ingest_scores.CLAIM_POLICY)
    assert dead.token is not None and aws.item(RUN1, "NOTIFICATION")["state"] == {"S": "claimed"}

    (result,) = ingest_scores.handler(s3_event(key), None)["records"]
    assert result["notified"] is True and len(aws.messages()) == 1
    assert 60 <= sum(clock.sleeps) <= 65
    marker = aws.item(RUN1, "NOTIFICATION")
    assert marker["state"] == {"S": "sent"} and marker["etag"] == {"S": etag}
    assert marker["message_id"] == {"S": result["message_id"]}
    # The dead publisher's late "sent" cannot overwrite the marker: its claim was taken over.
    assert not mark_notification_sent(TABLE, aws.item_plain(RUN1), dead.token, aws.dynamodb)


def test_a_retry_after_the_lease_ended_publishes_at_once(aws, clock):
    key, etag = uploaded(aws, [ok(RUN1, "a.wav", 5)])
    claim_notification(TABLE, RUN1, etag, aws.dynamodb, ingest_scores.CLAIM_POLICY)
    clock.now += 61  # Lambda retries a failed invocation after about a minute
    (result,) = ingest_scores.handler(s3_event(key), None)["records"]
    assert result["notified"] is True and clock.sleeps == [] and len(aws.messages()) == 1


class FailingSns:
    def __init__(self, sns: Any):
        self.sns = sns

    def publish(self, **kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "Publish")


def test_a_failed_publish_releases_the_claim_so_the_retry_need_not_wait(aws, clock):
    key, _ = uploaded(aws, [ok(RUN1, "a.wav", 5)])
    config = ingest_scores.Config.from_env()
    clients = Clients({"s3": aws.s3, "dynamodb": aws.dynamodb, "sns": FailingSns(aws.sns)})
    with pytest.raises(ClientError, match="InternalError"):
        ingest_scores.ingest_event(s3_event(key), config, clients)
    assert aws.item(RUN1, "NOTIFICATION")["claim_expires"] == {"N": "0"}
    assert aws.messages() == []

    (result,) = ingest_scores.handler(s3_event(key), None)["records"]
    assert result["notified"] is True and clock.sleeps == [] and len(aws.messages()) == 1


def test_a_claim_that_outlives_its_lease_raises_so_lambda_retries_later(aws, clock):
    key, etag = uploaded(aws, [ok(RUN1, "a.wav", 5)])
    skewed = ClaimPolicy(lease_seconds=10**6, clock=clock)  # a publisher with a wrong clock
    claim_notification(TABLE, RUN1, etag, aws.dynamodb, skewed)
    with pytest.raises(ClaimPendingError, match="stayed 'claimed'"):
        ingest_scores.handler(s3_event(key), None)
    assert aws.messages() == [] and sum(clock.sleeps) >= 60


def test_markers_written_before_claims_existed_still_count_as_sent(aws, clock):
    key, etag = uploaded(aws, [ok(RUN1, "a.wav", 5)])
    legacy = {"pk": f"RUN#{RUN1}", "sk": "NOTIFICATION", "etag": etag, "message_id": "m-1"}
    aws.dynamodb.put_item(TableName=TABLE, Item={k: {"S": v} for k, v in legacy.items()})
    (result,) = ingest_scores.handler(s3_event(key), None)["records"]
    assert (result["notified"], result["message_id"]) == (False, "m-1")
    assert aws.messages() == []


# ----------------------------------------------------------------------------- config and layout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ALERT_TOPIC_ARN": "arn"}, "SCORES_TABLE"),
        ({"SCORES_TABLE": "t"}, "ALERT_TOPIC_ARN"),
        ({"SCORES_TABLE": "t", "ALERT_TOPIC_ARN": "a", "REGRESSION_THRESHOLD": "2%"}, "THRESH"),
        ({"SCORES_TABLE": "t", "ALERT_TOPIC_ARN": "a", "REGRESSION_THRESHOLD": "-1"}, "THRESH"),
        ({"SCORES_TABLE": "t", "ALERT_TOPIC_ARN": "a", "REGRESSION_THRESHOLD": "1e-200"}, "THRESH"),
        ({"SCORES_TABLE": "t", "ALERT_TOPIC_ARN": "a", "WORST_FILES": "ten"}, "WORST_FILES"),
    ],
)
def test_bad_configuration_is_a_configuration_error(env, message):
    with pytest.raises(ConfigurationError, match=message):
        ingest_scores.Config.from_env(env)


def test_defaults_come_from_the_contract():
    config = ingest_scores.Config.from_env({"SCORES_TABLE": "t", "ALERT_TOPIC_ARN": "a"})
    assert (config.regression_threshold, config.worst_files) == (0.02, 10)


def test_items_are_a_pure_function_of_their_input():
    row = ok(RUN1, "a.wav", 1)
    assert file_item(row) == file_item(ok(RUN1, "a.wav", 1))
    assert file_item(row)["wer"] == Decimal("0.01")
    assert all(value is not None and value != "" for value in file_item(row).values())
    summary = RunSummary(RUN1, "FAILED", "s3://b/k", error="boom")
    assert summary_item(summary) == {
        "pk": f"RUN#{RUN1}",
        "sk": "SUMMARY",
        "gsi1pk": "CORPUS",
        "gsi1sk": RUN1,
        "run_id": RUN1,
        "status": "FAILED",
        "scores_uri": "s3://b/k",
        "files": Decimal(0),
        "failed": Decimal(0),
        "error": "boom",
    }


def test_handler_modules_import_only_stdlib_boto3_and_pipeline():
    code = (
        "import sys; before = set(sys.modules);"
        "import pipeline.handlers.ingest_scores;"
        "print(' '.join(sorted({m.split('.')[0] for m in set(sys.modules) - before})))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    loaded = set(out.stdout.split())
    boto = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six", "certifi"}
    loaded.discard("__mp_main__")  # multiprocessing's alias of __main__ (s3transfer imports it)
    assert "pipeline" in loaded and "boto3" in loaded
    assert loaded - set(sys.stdlib_module_names) - boto - {"pipeline"} == set()
    assert not loaded & {"jiwer", "numpy", "whisper_normalizer", "moto", "rapidfuzz"}


def test_a_corpus_change_alone_is_not_a_regression(aws):
    """Issue 13: removing one perfect file from the corpus gave REGRESSION (+17.8 points)
    because the runs were compared on different files; they are now compared on the files
    both scored, and the change of corpus is reported apart."""
    files = [ok(RUN1, f"{n}.wav", 25) for n in range(11)]
    ingest(aws, RUN1, [*files, ok(RUN1, "perfect.wav", 0)])
    result = ingest(aws, RUN2, [ok(RUN2, f"{n}.wav", 25) for n in range(11)])

    assert (result["status"], result["delta_wer"]) == ("OK", 0.0)
    summary = aws.item(RUN2, "SUMMARY")
    assert as_number(summary["common_files"]) == 11
    assert as_number(summary["files_removed"]) == 1
    body = aws.messages()[-1][1]
    assert "Corpus       files 1 removed: not part of the change" in body


def test_a_rise_on_one_file_of_many_is_noise_not_a_regression(aws):
    """Above the threshold on average, but the paired interval spans zero."""
    ingest(aws, RUN1, [ok(RUN1, f"{n}.wav", 10) for n in range(12)])
    rows = [ok(RUN2, f"{n}.wav", 10) for n in range(11)] + [ok(RUN2, "11.wav", 50)]
    result = ingest(aws, RUN2, rows)

    assert result["delta_wer"] == pytest.approx(40 / 1200)
    summary = aws.item(RUN2, "SUMMARY")
    assert as_number(summary["delta_ci_low"]) <= 0 < as_number(summary["delta_ci_high"])
    assert result["status"] == "OK"
