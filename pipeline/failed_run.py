"""The failure path of a run: a scores CSV whose rows carry the failure.

When the notebook raises, or the run never got to it (its packages failed to install, or the
instance was stopped from outside), the lifecycle script calls this module. It writes the usual
``scores/<run_id>.csv``, with the same integrity proof as a successful run
(``pipeline.scores_object``), so ingest records the failure in DynamoDB and sends the run's
message through the one path every run takes. Files whose Transcribe job finished before the
failure (their transcript is in ``transcripts/<run_id>/``) are scored exactly as the notebook
scores them, with the normalizer and labels the notebook was given (read from the executed
notebook's injected parameters), so finished work is never thrown away; every other file gets a
failed row carrying the notebook's error, or a single ``(run)`` row when even the corpus can't
be listed. When the notebook stopped because the corpus is empty (EmptyCorpusError), that row
is the NO_CORPUS row telling the user where to upload (``pipeline.empty_corpus``). A CSV that
already exists is left alone: the notebook uploads it last, so its presence means the run got
that far.

It needs only the standard library and boto3, run by the instance's own Python, because it must
work when the notebook's packages could not be installed; scoring finished transcripts needs
those packages (jiwer, the normalizer), so without them those files fail too, saying why.
"""

from __future__ import annotations

import argparse
import ast
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from pipeline import scores_csv
from pipeline.empty_corpus import no_corpus_error
from pipeline.errors import EmptyCorpusError, PipelineError, error_code
from pipeline.layout import scores_key
from pipeline.run_inputs import RunConfig, nameable, unnameable
from pipeline.scores_csv import RUN_FAILURE_PREFIX, RUN_ROW_FILE
from pipeline.scores_object import put_scores
from pipeline.transcribe.corpus import AUDIO_FORMATS, discover_corpus
from pipeline.transcribe.jobs import JobSpec, plan_jobs
from pipeline.transcribe.orchestrator import TranscriptionResult
from pipeline.transcribe.transcript import TranscriptError, read_transcript

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


def _scorer() -> Callable[..., Any] | None:
    """The notebook's scorer (``pipeline.run.score_result``), or None when its packages are
    missing: then the failed install is why the run failed, and no file can be scored."""
    try:
        from pipeline.run import score_result
    except ImportError:
        return None
    return score_result


def failed_rows(
    s3: Any,
    run_id: str,
    error: str,
    media_bucket: str,
    corpus_prefix: str,
    *,
    results_bucket: str,
    parameters: dict[str, Any] | None = None,
    stack: str = "",
) -> list[scores_csv.ScoreRow]:
    """One row per input file, scored if its transcript exists, else failed with ``error``, then
    the run's own ``(run)`` row saying why it stopped; only that row if the corpus can't be
    listed."""
    try:
        corpus = discover_corpus(s3, media_bucket, corpus_prefix)
    except EmptyCorpusError as exc:
        if not error.startswith(f"{EmptyCorpusError.__name__}:"):
            reason = f"{RUN_FAILURE_PREFIX}{error}; corpus could not be listed: {exc}"
        else:  # the run stopped on the empty corpus: say where to upload
            reason = no_corpus_error(exc.bucket, exc.prefix, AUDIO_FORMATS, stack)
        return [scores_csv.ScoreRow.failed(run_id=run_id, file=RUN_ROW_FILE, error=reason)]
    except (PipelineError, ClientError, BotoCoreError) as exc:
        reason = f"{RUN_FAILURE_PREFIX}{error}; corpus could not be listed: {exc}"
        return [scores_csv.ScoreRow.failed(run_id=run_id, file=RUN_ROW_FILE, error=reason)]
    given = {name: str(value) for name, value in (parameters or {}).items() if value}
    config = RunConfig(
        run_id=run_id,
        media_bucket=media_bucket,
        results_bucket=results_bucket,
        corpus_prefix=corpus_prefix,
        **{name: given[name] for name in SCORING_PARAMETERS if name in given},
    )
    score = _scorer()
    jobs = plan_jobs(nameable(corpus.items), run_id=run_id, media_bucket=media_bucket)
    specs = {spec.item.file: spec for spec in jobs}
    rows = []
    for item in corpus.items:
        spec = specs.get(item.file)
        finished = spec is not None and score is not None
        result = _finished(s3, results_bucket, spec) if finished else None
        if spec is None:
            rows.append(unnameable(config, item).row)
        elif result is None:
            rows.append(
                scores_csv.ScoreRow.failed(
                    run_id=run_id,
                    file=item.file,
                    error=f"{RUN_FAILURE_PREFIX}{error}",
                    job_name=spec.job_name,
                    engine=config.engine_label,
                    language_code=config.language_code,
                )
            )
        else:
            rows.append(score(config, result, item.reference_key, s3, media_bucket).row)
    # The run's own row: it did not complete, even if every file was scored before it stopped.
    rows.append(
        scores_csv.ScoreRow.failed(
            run_id=run_id, file=RUN_ROW_FILE, error=f"{RUN_FAILURE_PREFIX}{error}"
        )
    )
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
    stack: str = "",
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
        stack=stack,
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
        parameters=notebook_parameters(args.notebook) if args.notebook else None,
        stack=args.stack,
    )
    print(f"failure CSV written: s3://{args.results_bucket}/{key}" if key else "scores exist")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
