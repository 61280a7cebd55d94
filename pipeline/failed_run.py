"""The failure path of a run: a scores CSV whose rows carry the failure.

When the notebook raises, or the run never got to it (its packages failed to install, or the
instance was stopped from outside), the lifecycle script calls this module. It writes one failed
row per input file (or a single ``(run)`` row when even the corpus can't be listed) to the usual
``scores/<run_id>.csv`` key, so ingest records the failure in DynamoDB and sends the FAILED
notification through the one path every run takes. A CSV that already exists is left alone: the
notebook uploads it last, so its presence means the run got that far.

When the notebook stopped because the corpus is empty (EmptyCorpusError), the run-level row is
the NO_CORPUS row that tells the user where to upload (pipeline.empty_corpus).

Standard library and boto3 only, run by the instance's own Python: it must work when the
notebook's packages could not be installed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from pipeline import scores_csv
from pipeline.empty_corpus import no_corpus_error
from pipeline.errors import EmptyCorpusError, PipelineError, error_code
from pipeline.layout import scores_key
from pipeline.scores_upload import upload_scores
from pipeline.transcribe.corpus import AUDIO_FORMATS, discover_corpus

RUN_ROW_FILE = "(run)"


def notebook_error(notebook_path: Path) -> str | None:
    """The first error a papermill-executed notebook recorded, as ``ename: evalue (cell N)``."""
    try:
        notebook = json.loads(notebook_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for index, cell in enumerate(notebook.get("cells", [])):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"{output.get('ename')}: {output.get('evalue')} (cell {index})"
    return None


def failed_rows(
    s3: Any, run_id: str, error: str, media_bucket: str, corpus_prefix: str, stack: str = ""
) -> list[scores_csv.ScoreRow]:
    """One failed row per input file; a single run-level row if the corpus can't be listed,
    which is the NO_CORPUS row when the run itself stopped on the empty corpus."""
    try:
        files = [item.file for item in discover_corpus(s3, media_bucket, corpus_prefix).items]
    except EmptyCorpusError as exc:
        if error.startswith(f"{EmptyCorpusError.__name__}:"):
            error = no_corpus_error(exc.bucket, exc.prefix, AUDIO_FORMATS, stack)
            return [scores_csv.ScoreRow.failed(run_id=run_id, file=RUN_ROW_FILE, error=error)]
        error = f"{error}; corpus could not be listed: {exc}"
        files = []
    except (PipelineError, ClientError) as exc:
        error = f"{error}; corpus could not be listed: {exc}"
        files = []
    return [
        scores_csv.ScoreRow.failed(run_id=run_id, file=file, error=f"run failed: {error}")
        for file in files or [RUN_ROW_FILE]
    ]


def scores_exist(s3: Any, bucket: str, run_id: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=scores_key(run_id))
    except ClientError as exc:
        if error_code(exc) in {"404", "NoSuchKey", "NotFound"}:
            return False
        raise
    return True


def write_failed_run(
    s3: Any,
    *,
    run_id: str,
    error: str,
    media_bucket: str,
    results_bucket: str,
    corpus_prefix: str,
    stack: str = "",
) -> str | None:
    """Upload the failure CSV unless the run already produced one; return its key if written."""
    if scores_exist(s3, results_bucket, run_id):
        return None
    rows = failed_rows(s3, run_id, error, media_bucket, corpus_prefix, stack)
    return upload_scores(s3, results_bucket, run_id, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--media-bucket", required=True)
    parser.add_argument("--results-bucket", required=True)
    parser.add_argument("--corpus-prefix", default="corpus/")
    parser.add_argument("--notebook", type=Path, help="the executed notebook, to quote its error")
    parser.add_argument("--reason", default="the notebook did not complete")
    parser.add_argument("--stack", default="", help="the stack's name, for the NO_CORPUS message")
    args = parser.parse_args(argv)
    error = (args.notebook and notebook_error(args.notebook)) or args.reason
    key = write_failed_run(
        boto3.client("s3"),
        run_id=args.run_id,
        error=error,
        media_bucket=args.media_bucket,
        results_bucket=args.results_bucket,
        corpus_prefix=args.corpus_prefix,
        stack=args.stack,
    )
    print(f"failure CSV written: s3://{args.results_bucket}/{key}" if key else "scores exist")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
