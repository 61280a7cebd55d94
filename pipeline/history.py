"""A stack's history, read back from the scores table: the runs before one, and their files.

Who asks: the notebook (the report's trend, per-file history and the paired comparison with the
previous run), the ingest Lambda (the same comparison) and the ``history`` command. Run
summaries come from the ``history`` index's CORPUS partition, newest first; one run's files
from the base table (``RUN#<run_id>``), one query per run rather than one per file, so a
large corpus costs a few pages, not thousands of calls. Standard library and boto3 only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from pipeline.results_table import (
    CORPUS_PK,
    HISTORY_INDEX,
    Item,
    query_items,
    run_file_items,
)
from pipeline.scoring.compare import FileResult

DEFAULT_RUNS = 10


@dataclass(frozen=True)
class RunPoint:
    """One earlier run, as its summary item records it."""

    run_id: str
    status: str
    corpus_wer: float | None
    ci_low: float | None
    ci_high: float | None
    files: int
    failed: int
    delta_wer: float | None = None

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> RunPoint:
        def number(name: str) -> float | None:
            value = item.get(name)
            return None if value is None else float(value)

        return cls(
            run_id=str(item["run_id"]),
            status=str(item.get("status", "")),
            corpus_wer=number("corpus_wer"),
            ci_low=number("ci_low"),
            ci_high=number("ci_high"),
            files=int(item.get("files", 0)),
            failed=int(item.get("failed", 0)),
            delta_wer=number("delta_wer"),
        )


@dataclass(frozen=True)
class History:
    """Earlier runs, oldest first, and what each scored per file."""

    runs: list[RunPoint] = field(default_factory=list)
    files: dict[str, dict[str, FileResult]] = field(default_factory=dict)  # run id -> file

    @property
    def previous(self) -> RunPoint | None:
        """The latest earlier run that scored something: what this run is compared with."""
        return next((run for run in reversed(self.runs) if run.corpus_wer is not None), None)

    def previous_files(self) -> dict[str, FileResult]:
        previous = self.previous
        return self.files.get(previous.run_id, {}) if previous else {}

    def file_wers(self, file: str) -> list[float | None]:
        """One file's WER in each earlier run, oldest first (None: not scored then)."""
        wers = []
        for run in self.runs:
            result = self.files.get(run.run_id, {}).get(file)
            wers.append(None if result is None else result.errors / result.ref_words)
        return wers


def file_result(item: Mapping[str, Any]) -> FileResult | None:
    """A scored file item as the comparison needs it (None for a failed or unscorable row)."""
    if item.get("status") != "ok" or not item.get("ref_words"):
        return None
    errors = sum(int(item.get(name, 0)) for name in ("substitutions", "deletions", "insertions"))
    sha = item.get("reference_sha256")
    return FileResult(errors, int(item["ref_words"]), None if sha is None else str(sha))


def scored_files(items: Iterable[Item]) -> dict[str, FileResult]:
    results = {str(item["file"]): file_result(item) for item in items}
    return {file: result for file, result in results.items() if result is not None}


def recent_summaries(
    table: str, dynamodb: Any, *, before: str | None = None, limit: int = DEFAULT_RUNS
) -> list[Item]:
    """The latest ``limit`` run summaries (before run id ``before``, if given), newest first."""
    condition = "gsi1pk = :corpus"
    values: dict[str, Any] = {":corpus": {"S": CORPUS_PK}}
    if before is not None:
        condition += " AND gsi1sk < :before"
        values[":before"] = {"S": before}
    items = query_items(
        dynamodb,
        TableName=table,
        IndexName=HISTORY_INDEX,
        KeyConditionExpression=condition,
        ExpressionAttributeValues=values,
        ScanIndexForward=False,
        PaginationConfig={"PageSize": limit},
    )
    return list(islice(items, limit))


def read_history(
    table: str, dynamodb: Any, *, before: str | None = None, runs: int = DEFAULT_RUNS
) -> History:
    """The ``runs`` runs before ``before`` (all runs when None) with their scored files."""
    points = [
        RunPoint.from_item(item)
        for item in recent_summaries(table, dynamodb, before=before, limit=runs)
    ]
    points.reverse()
    files = {
        point.run_id: scored_files(run_file_items(table, point.run_id, dynamodb))
        for point in points
        if point.corpus_wer is not None
    }
    return History(points, files)
