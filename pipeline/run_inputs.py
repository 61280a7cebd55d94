"""What a run is given and which of its inputs a row can name.

Standard library only (with ``pipeline.scores_csv``), so the failure path
(``pipeline.failed_run``) shares it even when the notebook's packages failed to install.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline import scores_csv
from pipeline.transcribe.corpus import CorpusItem


@dataclass(frozen=True)
class RunConfig:
    """What one run needs; the notebook's ``parameters`` cell fills it."""

    run_id: str
    media_bucket: str
    results_bucket: str
    corpus_prefix: str = "corpus/"
    language_code: str = "en-US"
    max_jobs_in_flight: int = 250
    normalizer: str = "english"
    engine_label: str = "amazon-transcribe"
    poll_interval: float = 30.0  # a safety net: sweeps notice finished jobs (orchestrator)
    sweep_interval: float = 2.0  # one ListTranscriptionJobs call per sweep
    job_timeout: float = 3600.0
    # The history the report shows and the comparison it makes, read from the stack's scores
    # table (empty: none); the same threshold and confidence ingest decides with.
    scores_table: str = ""
    history_runs: int = 10
    regression_threshold: float = 0.02
    confidence: float = 0.95


@dataclass
class FileOutcome:
    """Everything known about one input file: its score row plus the texts behind it."""

    row: scores_csv.ScoreRow
    reference: str | None
    hypothesis: str | None
    alignment: str | None


def nameable(items: Sequence[CorpusItem]) -> list[CorpusItem]:
    """The items whose names a row can carry; the others get ``unnameable`` rows."""
    return [item for item in items if not scores_csv.control_characters(item.file)]


def unnameable(config: RunConfig, item: CorpusItem) -> FileOutcome:
    """The failed row of a file whose name the contract refuses (control characters)."""
    controls = ", ".join(scores_csv.control_characters(item.file))
    error = (
        f"the file name holds control character(s) {controls}; rename s3://"
        f"{config.media_bucket}/{scores_csv.file_label(item.audio_key)} (shown escaped): it"
        " was not transcribed"
    )
    row = scores_csv.ScoreRow.failed(
        run_id=config.run_id,
        file=scores_csv.file_label(item.file),
        error=error,
        engine=config.engine_label,
        language_code=config.language_code,
    )
    return FileOutcome(row=row, reference=None, hypothesis=None, alignment=None)
