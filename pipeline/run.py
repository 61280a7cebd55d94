"""One monitoring run as the notebook executes it: transcribe the corpus, score it, publish.

The notebook stays thin and calls ``run_corpus``. Upload order is part of the contract: transcripts
(written by Transcribe) first, then the run report, and the scores CSV last, because the CSV's
arrival triggers ingest and ingest must see a complete run.

A problem with one file fails that file's row, naming its key, never the run: a reference
deleted mid-run, a transcript that cannot be read, a score the contract refuses, even an
unexpected exception while scoring it. A file whose name holds control characters is not
transcribed; its row fails, naming it with the characters escaped (``scores_csv.file_label``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pipeline import scores_csv
from pipeline.errors import ScoringError
from pipeline.history import History, read_history
from pipeline.layout import REPORT_NAME, SUMMARY_NAME, report_key, scores_key
from pipeline.report.page import render_report
from pipeline.results_table import RUN_FAILED
from pipeline.run_inputs import FileOutcome, RunConfig, nameable, unnameable
from pipeline.scores_object import put_scores
from pipeline.scoring.compare import STEADY, Comparison, FileResult, compare_runs
from pipeline.scoring.corpus import CorpusWer, corpus_wer
from pipeline.scoring.metrics import FileScore, score_file
from pipeline.scoring.normalize import get_normalizer
from pipeline.transcribe import (
    Corpus,
    CorpusItem,
    ProgressEvent,
    TranscriptionResult,
    discover_corpus,
    transcribe_corpus,
)
from pipeline.transcribe.pacing import describe_error


@dataclass
class RunOutcome:
    config: RunConfig
    files: list[FileOutcome]
    corpus: CorpusWer
    orphan_references: list[str]
    ignored: list[str]
    keys: dict[str, str] = field(default_factory=dict)
    history: History | None = None  # the runs before this one (None: not read)
    comparison: Comparison | None = None  # against the previous run, on common files
    history_error: str = ""  # why the history could not be read (the run goes on without)

    @property
    def status(self) -> str:
        """The status word ingest will give the run (it decides with the same comparison)."""
        if self.corpus.wer is None:
            return RUN_FAILED
        return self.comparison.verdict if self.comparison else STEADY

    def scored(self) -> dict[str, FileResult]:
        """This run's scored files, as the comparison takes them."""
        return {
            f.row.file: FileResult(
                f.row.errors, f.row.ref_words or 0, f.row.reference_sha256 or None
            )
            for f in self.files
            if f.row.status == "ok"
        }

    def summary(self) -> dict[str, Any]:
        """The run report's summary.json (also what `make e2e` builds its run summary from)."""
        return {
            "run_id": self.config.run_id,
            "corpus_wer": self.corpus.wer,
            "ci_low": self.corpus.ci_low,
            "ci_high": self.corpus.ci_high,
            "confidence": self.corpus.confidence,
            "files_scored": self.corpus.files,
            "files_failed": sum(1 for f in self.files if f.row.status != "ok"),
            "engine": self.config.engine_label,
            "language_code": self.config.language_code,
            "normalizer": self.config.normalizer,
            "orphan_references": self.orphan_references,
            "ignored": self.ignored,
            "files": [file_summary(f) for f in self.files],
            "keys": self.keys,
            "status": self.status,
            "comparison": None if self.comparison is None else asdict(self.comparison),
            "previous_run_id": self.history.previous.run_id
            if self.history and self.history.previous
            else None,
            "history_error": self.history_error or None,
        }


def file_summary(outcome: FileOutcome) -> dict[str, Any]:
    row = asdict(outcome.row)
    row.update(
        reference=outcome.reference,
        hypothesis=outcome.hypothesis,
        alignment=outcome.alignment,
    )
    return row


ProgressCallback = Callable[[ProgressEvent], None]


def run_corpus(
    config: RunConfig,
    *,
    s3: Any,
    transcribe: Any,
    dynamodb: Any = None,
    on_progress: ProgressCallback | None = None,
) -> RunOutcome:
    """Transcribe and score every audio file under the prefix, compare with the previous run
    (``dynamodb``: the scores table's client), then upload the report and the CSV."""
    get_normalizer(config.normalizer)  # an unknown name fails before any job is started
    corpus = discover_corpus(s3, config.media_bucket, config.corpus_prefix)
    results = transcribe_corpus(
        nameable(corpus.items),
        transcribe=transcribe,
        s3=s3,
        media_bucket=config.media_bucket,
        output_bucket=config.results_bucket,
        run_id=config.run_id,
        language_code=config.language_code,
        max_in_flight=config.max_jobs_in_flight,
        poll_interval=config.poll_interval,
        sweep_interval=config.sweep_interval,
        job_timeout=config.job_timeout,
        on_progress=on_progress,
    )
    files = score_results(config, corpus.items, results, s3)
    outcome = build_outcome(config, corpus, files)
    if config.scores_table and dynamodb is not None:
        compare_with_history(outcome, dynamodb)
    publish(outcome, s3)
    return outcome


def compare_with_history(outcome: RunOutcome, dynamodb: Any) -> None:
    """Read the runs before this one and compare with the latest that scored, as ingest will.

    The report is worth more than its history: if the table cannot be read (a first deploy
    racing the table, a permission), the run goes on and the report says why.
    """
    config = outcome.config
    try:
        history = read_history(
            config.scores_table, dynamodb, before=config.run_id, runs=config.history_runs
        )
    except (ClientError, BotoCoreError) as exc:
        outcome.history_error = f"the history could not be read: {describe_error(exc)}"
        return
    outcome.history = history
    if history.previous is not None:
        outcome.comparison = compare_runs(
            outcome.scored(),
            history.previous_files(),
            threshold=config.regression_threshold,
            confidence=config.confidence,
        )


def score_results(
    config: RunConfig,
    items: Sequence[CorpusItem],
    results: Sequence[TranscriptionResult],
    s3: Any,
) -> list[FileOutcome]:
    """One outcome per corpus item, in corpus order: scored from its result, or failed."""
    by_file = {result.file: result for result in results}
    return [
        score_result(config, by_file[item.file], item.reference_key, s3, config.media_bucket)
        if item.file in by_file
        else unnameable(config, item)
        for item in items
    ]


def build_outcome(config: RunConfig, corpus: Corpus, files: list[FileOutcome]) -> RunOutcome:
    counts = [(f.row.errors, f.row.ref_words) for f in files if f.row.status == "ok"]
    return RunOutcome(
        config=config,
        files=files,
        corpus=corpus_wer(counts),
        orphan_references=list(corpus.orphan_references),
        ignored=list(corpus.ignored),
    )


def read_reference(s3: Any, bucket: str, key: str) -> str:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise ScoringError(
            f"reference s3://{bucket}/{key} could not be read: {describe_error(exc)}"
        ) from exc
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScoringError(f"reference s3://{bucket}/{key} is not UTF-8: {exc}") from exc


def score_result(
    config: RunConfig,
    result: TranscriptionResult,
    reference_key: str | None,
    s3: Any,
    media_bucket: str,
) -> FileOutcome:
    """Turn one transcription result into a scored row, or a failed row that says why."""
    base = {
        "run_id": config.run_id,
        "file": result.file,
        "audio_seconds": result.audio_seconds,
        "job_name": result.job_name,
        "engine": config.engine_label,
        "language_code": config.language_code,
    }
    audio_uri = f"s3://{media_bucket}/{result.audio_key}"
    reference: str | None = None
    try:
        if reference_key is None:
            raise ScoringError(f"missing reference: no .txt beside {result.audio_key}")
        reference = read_reference(s3, media_bucket, reference_key)
        base["reference_sha256"] = scores_csv.reference_sha256(reference)
        if result.status != "ok" or result.transcript is None:
            raise ScoringError(f"transcription of {audio_uri} failed: {result.error}")
        score = score_file(reference, result.transcript, config.normalizer)
        row = scored_row(score, base)
    except ScoringError as exc:
        error = str(exc)
    except scores_csv.ScoresCsvError as exc:  # e.g. audio longer than Transcribe allows
        base["audio_seconds"] = None
        error = f"the score of {audio_uri} breaks the scores CSV contract: {exc}"
    except Exception as exc:  # one file's surprise must not cost the other files their scores
        error = f"scoring {audio_uri} failed: {type(exc).__name__}: {exc}"
    else:
        return FileOutcome(
            row=row,
            reference=reference,
            hypothesis=result.transcript,
            alignment=score.alignment,
        )
    return FileOutcome(
        row=scores_csv.ScoreRow.failed(error=error, **base),
        reference=reference,
        hypothesis=result.transcript,
        alignment=None,
    )


def scored_row(score: FileScore, base: dict[str, Any]) -> scores_csv.ScoreRow:
    return scores_csv.ScoreRow.scored(
        wer=score.wer,
        mer=score.mer,
        wil=score.wil,
        cer=score.cer,
        accuracy=score.accuracy,
        ref_words=score.ref_words,
        hyp_words=score.hyp_words,
        substitutions=score.substitutions,
        deletions=score.deletions,
        insertions=score.insertions,
        **base,
    )


def publish(outcome: RunOutcome, s3: Any) -> None:
    """Upload summary.json and report.html, then the scores CSV last (it triggers ingest)."""
    bucket, run_id = outcome.config.results_bucket, outcome.config.run_id
    outcome.keys = {
        "summary": report_key(run_id, SUMMARY_NAME),
        "report": report_key(run_id, REPORT_NAME),
        "scores": scores_key(run_id),
    }
    s3.put_object(
        Bucket=bucket,
        Key=outcome.keys["summary"],
        Body=json.dumps(outcome.summary(), indent=2).encode(),
        ContentType="application/json",
    )
    page = render_report(
        outcome.summary(),
        status=outcome.status,
        history=outcome.history,
        comparison=outcome.comparison,
    )
    s3.put_object(
        Bucket=bucket,
        Key=outcome.keys["report"],
        Body=page.encode(),
        ContentType="text/html; charset=utf-8",
    )
    put_scores(s3, bucket, run_id, [f.row for f in outcome.files])
