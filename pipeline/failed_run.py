"""The failure path of a run: a scores CSV whose rows carry the failure, and every score that
can still be had.

When the notebook raises, the lifecycle script calls this module. It writes the usual
``scores/<run_id>.csv``, with the same integrity proof as a successful run
(``pipeline.scores_object``), so ingest records the failure in DynamoDB and sends the run's
message through the one path every run takes. Files whose Transcribe job finished before the
failure (their transcript is in ``transcripts/<run_id>/``) are scored exactly as the notebook
scores them, with the normalizer and labels the notebook was given (read from the executed
notebook's injected parameters), so finished work is never thrown away; every other file gets a
failed row carrying the notebook's error, or a single ``(run)`` row when even the corpus can't
be listed. A CSV that already exists is left alone: the notebook uploads it last, so its
presence means the run got that far.
"""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from pipeline import scores_csv
from pipeline.errors import PipelineError, error_code
from pipeline.layout import scores_key
from pipeline.run import RunConfig, nameable, score_result, unnameable
from pipeline.scores_object import put_scores
from pipeline.transcribe import (
    TranscriptError,
    TranscriptionResult,
    discover_corpus,
    plan_jobs,
    read_transcript,
)
from pipeline.transcribe.jobs import JobSpec

RUN_ROW_FILE = "(run)"
# Notebook parameters that change how a file is scored or labelled (RunConfig's fields).
SCORING_PARAMETERS = ("normalizer", "engine_label", "language_code")


def _notebook(notebook_path: Path) -> dict[str, Any]:
    try:
        notebook = json.loads(notebook_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return notebook if isinstance(notebook, dict) else {}


def notebook_error(notebook_path: Path) -> str | None:
    """The first error a papermill-executed notebook recorded, as ``ename: evalue (cell N)``."""
    for index, cell in enumerate(_notebook(notebook_path).get("cells", [])):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"{output.get('ename')}: {output.get('evalue')} (cell {index})"
    return None


def notebook_parameters(notebook_path: Path) -> dict[str, Any]:
    """The literal values papermill injected (its ``injected-parameters`` cell), by name."""
    values: dict[str, Any] = {}
    for cell in _notebook(notebook_path).get("cells", []):
        if "injected-parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        source = cell.get("source", "")
        try:
            tree = ast.parse(source if isinstance(source, str) else "".join(source))
        except SyntaxError:
            continue
        for node in tree.body:
            if not isinstance(node, ast.Assign) or len(node.targets) != 1:
                continue
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    values[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    continue
    return values


def _finished(s3: Any, results_bucket: str, spec: JobSpec) -> TranscriptionResult | None:
    """The result of a job whose transcript exists, or None if it never finished."""
    try:
        transcript = read_transcript(s3, results_bucket, spec.transcript_key)
        status, text, error, seconds = "ok", transcript.text, None, transcript.speech_seconds
    except TranscriptError as exc:
        cause = exc.__cause__
        if isinstance(cause, ClientError) and error_code(cause) in {"NoSuchKey", "404"}:
            return None
        status, text, error, seconds = "failed", None, str(exc), None
    return TranscriptionResult(
        file=spec.item.file,
        audio_key=spec.item.audio_key,
        job_name=spec.job_name,
        transcript_key=spec.transcript_key,
        status=status,  # type: ignore[arg-type]
        transcript=text,
        error=error,
        audio_seconds=seconds,
    )


def failed_rows(
    s3: Any,
    run_id: str,
    error: str,
    media_bucket: str,
    corpus_prefix: str,
    *,
    results_bucket: str,
    parameters: dict[str, Any] | None = None,
) -> list[scores_csv.ScoreRow]:
    """One row per input file: scored if its transcript exists, else failed with ``error``;
    a single run-level row if the corpus can't be listed."""
    try:
        corpus = discover_corpus(s3, media_bucket, corpus_prefix)
    except (PipelineError, ClientError, BotoCoreError) as exc:
        reason = f"run failed: {error}; corpus could not be listed: {exc}"
        return [scores_csv.ScoreRow.failed(run_id=run_id, file=RUN_ROW_FILE, error=reason)]
    given = {name: str(value) for name, value in (parameters or {}).items() if value}
    config = RunConfig(
        run_id=run_id,
        media_bucket=media_bucket,
        results_bucket=results_bucket,
        corpus_prefix=corpus_prefix,
        **{name: given[name] for name in SCORING_PARAMETERS if name in given},
    )
    jobs = plan_jobs(nameable(corpus.items), run_id=run_id, media_bucket=media_bucket)
    specs = {spec.item.file: spec for spec in jobs}
    rows = []
    for item in corpus.items:
        spec = specs.get(item.file)
        result = None if spec is None else _finished(s3, results_bucket, spec)
        if spec is None:
            rows.append(unnameable(config, item).row)
        elif result is None:
            rows.append(
                scores_csv.ScoreRow.failed(
                    run_id=run_id,
                    file=item.file,
                    error=f"run failed: {error}",
                    job_name=spec.job_name,
                    engine=config.engine_label,
                    language_code=config.language_code,
                )
            )
        else:
            rows.append(score_result(config, result, item.reference_key, s3, media_bucket).row)
    return rows


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
    parameters: dict[str, Any] | None = None,
) -> str | None:
    """Upload the failure CSV unless the run already produced one; return its key if written."""
    if scores_exist(s3, results_bucket, run_id):
        return None
    rows = failed_rows(
        s3,
        run_id,
        error,
        media_bucket,
        corpus_prefix,
        results_bucket=results_bucket,
        parameters=parameters,
    )
    return put_scores(s3, results_bucket, run_id, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--media-bucket", required=True)
    parser.add_argument("--results-bucket", required=True)
    parser.add_argument("--corpus-prefix", default="corpus/")
    parser.add_argument("--notebook", type=Path, help="the executed notebook, to quote its error")
    parser.add_argument("--reason", default="the notebook did not complete")
    args = parser.parse_args(argv)
    error = (args.notebook and notebook_error(args.notebook)) or args.reason
    key = write_failed_run(
        boto3.client("s3"),
        run_id=args.run_id,
        error=error,
        media_bucket=args.media_bucket,
        results_bucket=args.results_bucket,
        corpus_prefix=args.corpus_prefix,
        parameters=notebook_parameters(args.notebook) if args.notebook else None,
    )
    print(f"failure CSV written: s3://{args.results_bucket}/{key}" if key else "scores exist")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
