"""One monitoring run as the notebook executes it: transcribe the corpus, score it, publish.

The notebook stays thin and calls ``run_corpus``. Upload order is part of the contract: transcripts
(written by Transcribe) first, then the run report, and the scores CSV last, because the CSV's
arrival triggers ingest and ingest must see a complete run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline import scores_csv
from pipeline.errors import ScoringError
from pipeline.layout import REPORT_NAME, SUMMARY_NAME, report_key, scores_key
from pipeline.report_html import render_report
from pipeline.scores_upload import upload_scores
from pipeline.scoring.corpus import CorpusWer, corpus_wer
from pipeline.scoring.metrics import FileScore, score_file
from pipeline.scoring.normalize import get_normalizer
from pipeline.transcribe import (
    Corpus,
    ProgressEvent,
    TranscriptionResult,
    discover_corpus,
    transcribe_corpus,
)


@dataclass(frozen=True)
class RunConfig:
    """What one run needs; the notebook's ``parameters`` cell fills it."""

    run_id: str
    media_bucket: str
    results_bucket: str
    corpus_prefix: str = "corpus/"
    language_code: str = "en-US"
    max_jobs_in_flight: int = 100
    normalizer: str = "english"
    engine_label: str = "amazon-transcribe"
    poll_interval: float = 5.0
    job_timeout: float = 3600.0


@dataclass
class FileOutcome:
    """Everything known about one input file: its score row plus the texts behind it."""

    row: scores_csv.ScoreRow
    reference: str | None
    hypothesis: str | None
    alignment: str | None


@dataclass
class RunOutcome:
    config: RunConfig
    files: list[FileOutcome]
    corpus: CorpusWer
    orphan_references: list[str]
    ignored: list[str]
    keys: dict[str, str] = field(default_factory=dict)

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
    on_progress: ProgressCallback | None = None,
) -> RunOutcome:
    """Transcribe and score every audio file under the prefix, then upload report and CSV."""
    get_normalizer(config.normalizer)  # an unknown name fails before any job is started
    corpus = discover_corpus(s3, config.media_bucket, config.corpus_prefix)
    results = transcribe_corpus(
        corpus.items,
        transcribe=transcribe,
        s3=s3,
        media_bucket=config.media_bucket,
        output_bucket=config.results_bucket,
        run_id=config.run_id,
        language_code=config.language_code,
        max_in_flight=config.max_jobs_in_flight,
        poll_interval=config.poll_interval,
        job_timeout=config.job_timeout,
        on_progress=on_progress,
    )
    references = {item.file: item.reference_key for item in corpus.items}
    files = [
        score_result(config, result, references[result.file], s3, config.media_bucket)
        for result in results
    ]
    outcome = build_outcome(config, corpus, files)
    publish(outcome, s3)
    return outcome


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
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
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
    reference: str | None = None
    try:
        if reference_key is None:
            raise ScoringError(f"missing reference: no .txt beside {result.audio_key}")
        reference = read_reference(s3, media_bucket, reference_key)
        if result.status != "ok" or result.transcript is None:
            raise ScoringError(f"transcription failed: {result.error}")
        score = score_file(reference, result.transcript, config.normalizer)
    except ScoringError as exc:
        return FileOutcome(
            row=scores_csv.ScoreRow.failed(error=str(exc), **base),
            reference=reference,
            hypothesis=result.transcript,
            alignment=None,
        )
    return FileOutcome(
        row=scored_row(score, base),
        reference=reference,
        hypothesis=result.transcript,
        alignment=score.alignment,
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
    s3.put_object(
        Bucket=bucket,
        Key=outcome.keys["report"],
        Body=render_report(outcome.summary()).encode(),
        ContentType="text/html; charset=utf-8",
    )
    upload_scores(s3, bucket, run_id, [f.row for f in outcome.files])
