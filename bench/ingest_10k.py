"""Ingest a 10,000-row scores CSV into moto (in-process): our handler vs the seed guide's loop.

The naive loop is the seed guide's Lambda: read the whole object, split on newlines, one
put_item per row, then publish. Ours validates the CSV strictly (pass 1), writes in
BatchWriteItem chunks of 25 (pass 2), computes the corpus WER with a bootstrap interval, writes
the run summary and publishes once. Both run in the same process against the same emulator,
so the ratio is meaningful even though moto's absolute speed is not AWS's.

    .venv/bin/python bench/ingest_10k.py [rows]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

for _name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]:
    del os.environ[_name]  # in-process moto, never a running twin
os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x")

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from pipeline.handlers import ingest_scores  # noqa: E402
from pipeline.results_table import table_definition  # noqa: E402
from pipeline.scores_csv import ScoreRow  # noqa: E402
from pipeline.scores_object import put_scores  # noqa: E402

RUN_ID = "2026-11-24T20-00-00Z-3fa9c1"
BUCKET = "results"
KEY = f"scores/{RUN_ID}.csv"


def make_rows(rows: int) -> list[ScoreRow]:
    def row(n: int) -> ScoreRow:
        ref, errors = 20 + n % 13, n % 7
        return ScoreRow.from_counts(
            run_id=RUN_ID,
            file=f"clip{n:05d}.wav",
            ref_words=ref,
            substitutions=errors,
            deletions=0,
            insertions=0,
            cer=errors / ref / 2,
            audio_seconds=3.0,
            job_name=f"asr-{RUN_ID}-{n}",
            engine="faster-whisper",
            language_code="en-US",
        )

    return [row(n) for n in range(rows)]


def naive(table_name: str, topic_arn: str) -> int:
    """The seed guide's handler, fixed only enough to run: one put_item per line."""
    s3 = boto3.client("s3")
    table = boto3.resource("dynamodb").Table(table_name)
    data = s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read().decode("utf-8")
    lines = data.split("\n")
    header = lines[0].strip().split(",")
    count = 0
    for entry in lines[1:]:
        if not entry.strip():
            continue
        fields = dict(zip(header, entry.strip().split(","), strict=False))
        table.put_item(
            Item={
                "pk": f"RUN#{RUN_ID}",
                "sk": f"FILE#{fields['file']}",
                "gsi1pk": f"FILE#{fields['file']}",
                "gsi1sk": RUN_ID,
                **{k: v for k, v in fields.items() if v},
            }
        )
        count += 1
    boto3.client("sns").publish(TopicArn=topic_arn, Subject="scores", Message="csv ingested")
    return count


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(**table_definition("naive"))
        dynamodb.create_table(**table_definition("scores"))
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        put_scores(s3, BUCKET, RUN_ID, make_rows(rows))  # with its proof, as the notebook does
        topic_arn = boto3.client("sns").create_topic(Name="alerts")["TopicArn"]
        os.environ.update(SCORES_TABLE="scores", ALERT_TOPIC_ARN=topic_arn)

        start = time.perf_counter()
        naive_rows = naive("naive", topic_arn)
        naive_seconds = time.perf_counter() - start

        event = {"Records": [{"s3": {"bucket": {"name": BUCKET}, "object": {"key": KEY}}}]}
        start = time.perf_counter()
        (result,) = ingest_scores.handler(event, None)["records"]
        ours_seconds = time.perf_counter() - start

    assert naive_rows == rows and result["written"] == rows, (naive_rows, result)
    print(f"rows: {rows}")
    print(f"naive put_item loop : {naive_seconds:7.2f} s  ({naive_rows} put_item calls)")
    print(
        f"ingest_scores       : {ours_seconds:7.2f} s  ({-(-rows // 25)} BatchWriteItem calls,"
        f" 2 streamed passes, bootstrap CI, summary, 1 message)"
    )
    print(f"ratio naive/ours    : {naive_seconds / ours_seconds:7.2f}x")


if __name__ == "__main__":
    main()
