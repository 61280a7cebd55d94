"""Ingest of a large scores CSV into the twin's DynamoDB: the handler against boto3's own
``Table.batch_writer()``, each in a fresh process, with its time and peak memory.

Both read the same object from the twin (``python -m emulation serve`` in its own process, so
the emulator's work and memory are not counted in the writer's). The baseline streams the CSV
through ``csv.DictReader`` into ``batch_writer()``, one pass, no checks. The handler does what
production needs: pass 1 validates every row and the object's checksum, pass 2 re-reads the
same version (IfMatch) and writes in BatchWriteItem calls, then the summary (a bootstrap
interval; a fresh table holds no earlier run to compare with) and one message. It runs
sequentially (``concurrency 1``, what ingest did before) and with its shipped window
(``WRITE_CONCURRENCY``). Flat memory: the handler's peak RSS at a tenth of the rows against
all of them.

    .venv/bin/python bench/ingest.py [rows]      # default 100000
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RUN_ID = "2026-11-24T20-00-00Z-3fa9c1"
SMALL_RUN_ID = "2026-11-23T20-00-00Z-77b0e2"  # the same rows, a tenth of them
BUCKET = "bench-results"
ROOT = Path(__file__).resolve().parents[1]


def make_rows(rows: int, run_id: str) -> list:
    from pipeline.scores_csv import ScoreRow

    def row(n: int) -> ScoreRow:
        ref, errors = 20 + n % 13, n % 7
        return ScoreRow.from_counts(
            run_id=run_id,
            file=f"clip{n:06d}.wav",
            ref_words=ref,
            substitutions=errors,
            deletions=0,
            insertions=0,
            cer=errors / ref / 2,
            audio_seconds=3.0,
            job_name=f"asr-{run_id}-{n}",
            engine="faster-whisper",
            language_code="en-US",
        )

    return [row(n) for n in range(rows)]


# ------------------------------------------------------------------------- the measured children


def child(mode: str, table: str, key: str, concurrency: int) -> None:
    """One contender in this fresh process; prints its seconds and the items it wrote."""
    import boto3

    if mode == "batch_writer":
        start = time.perf_counter()
        body = boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"]
        lines = io.TextIOWrapper(body, encoding="utf-8", newline="")
        written = 0
        with boto3.resource("dynamodb").Table(table).batch_writer() as writer:
            for fields in csv.DictReader(lines):
                writer.put_item(
                    Item={
                        "pk": f"RUN#{fields['run_id']}",
                        "sk": f"FILE#{fields['file']}",
                        "gsi1pk": f"FILE#{fields['file']}",
                        "gsi1sk": fields["run_id"],
                        **{name: value for name, value in fields.items() if value},
                    }
                )
                written += 1
        seconds = time.perf_counter() - start
    else:
        from pipeline.handlers import ingest_scores

        ingest_scores.WRITE_CONCURRENCY = concurrency
        os.environ["SCORES_TABLE"] = table
        event = {"Records": [{"s3": {"bucket": {"name": BUCKET}, "object": {"key": key}}}]}
        start = time.perf_counter()
        (result,) = ingest_scores.handler(event, None)["records"]
        seconds = time.perf_counter() - start
        written = result["written"]
    print(json.dumps({"seconds": seconds, "written": written, "peak_mb": peak_mb()}))


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM: reset by exec, unlike ru_maxrss, which
    Linux carries over from the parent)."""
    status = Path("/proc/self/status").read_text()
    (line,) = [line for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(line.split()[1]) / 1024


def measure(mode: str, table: str, key: str, env: dict[str, str], concurrency: int = 1) -> dict:
    """Run one contender in a fresh process: its own imports, its own memory."""
    argv = [sys.executable, __file__, "--child", mode, table, key, str(concurrency)]
    done = subprocess.run(argv, env=env, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed (exit {done.returncode}):\n{done.stdout}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------- the twin


def start_twin() -> tuple[subprocess.Popen, dict[str, str]]:
    """The twin in its own process, and the environment its clients need."""
    from emulation.core.server import DUMMY_CREDENTIALS, free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulation", "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    if "twin ready" not in proc.stdout.readline():
        raise SystemExit("the twin did not start: run python -m emulation serve to see why")
    env = {
        **os.environ,
        **DUMMY_CREDENTIALS,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    return proc, env


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    twin, env = start_twin()
    try:
        os.environ.update(env)
        import boto3

        from pipeline.handlers.ingest_scores import WRITE_CONCURRENCY
        from pipeline.results_table import table_definition
        from pipeline.scores_object import put_scores

        dynamodb = boto3.client("dynamodb")
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        # put_scores writes each object with its proof, as the notebook does.
        key = put_scores(s3, BUCKET, RUN_ID, make_rows(rows, RUN_ID))
        small_key = put_scores(s3, BUCKET, SMALL_RUN_ID, make_rows(rows // 10, SMALL_RUN_ID))
        topic = boto3.client("sns").create_topic(Name="bench-alerts")["TopicArn"]
        env = {**env, "ALERT_TOPIC_ARN": topic}
        contenders = [
            ("batch_writer()", "batch_writer", key, 1),
            ("handler, concurrency 1", "handler", key, 1),
            (f"handler, concurrency {WRITE_CONCURRENCY}", "handler", key, WRITE_CONCURRENCY),
            (f"handler, {rows // 10} rows", "handler", small_key, WRITE_CONCURRENCY),
        ]
        results = {}
        for n, (label, mode, key, concurrency) in enumerate(contenders):
            dynamodb.create_table(**table_definition(f"bench-{n}"))
            results[label] = measure(mode, f"bench-{n}", key, env, concurrency)
    finally:
        twin.terminate()
        try:
            twin.wait(60)
        except subprocess.TimeoutExpired:
            twin.kill()  # its state is of no further use

    baseline = results["batch_writer()"]
    print(f"rows: {rows}, into the twin's DynamoDB over HTTP (each writer in a fresh process)")
    print(f"{'writer':32} {'seconds':>8} {'vs batch_writer':>16} {'peak RSS':>10}")
    for label, result in results.items():
        ratio = baseline["seconds"] / result["seconds"]
        print(
            f"{label:32} {result['seconds']:8.2f} {ratio:15.2f}x {result['peak_mb']:8.1f} MB"
            f"   ({result['written']} items)"
        )
    small = results[f"handler, {rows // 10} rows"]["peak_mb"]
    full = results[f"handler, concurrency {WRITE_CONCURRENCY}"]["peak_mb"]
    print(
        f"handler memory, {rows // 10} → {rows} rows: {small:.1f} → {full:.1f} MB"
        f" ({full - small:+.1f} MB)"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        main()
