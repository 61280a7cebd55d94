"""``asr-monitor history``: a stack's last runs, or one file's WER across them.

The runs come from ``pipeline.history`` (the scores table's ``history`` index, then each
run's files); this module only lays them out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deploy.stack import stack_outputs
from pipeline.history import History, read_history

if TYPE_CHECKING:
    from deploy.cli.target import Target

RUN_COLUMNS = ("run", "status", "corpus WER", "95% CI", "change", "files scored", "failed")
FILE_COLUMNS = ("run", "status", "WER", "errors", "ref words")


def stack_history(target: Target, runs: int) -> History:
    table = stack_outputs(target.client("cloudformation"), target.stack)["ScoresTableName"]
    return read_history(table, target.client("dynamodb"), runs=runs)


def run_rows(history: History) -> list[tuple[str, ...]]:
    """One row per run, oldest first."""
    return [
        (
            run.run_id,
            run.status,
            percent(run.corpus_wer),
            f"{percent(run.ci_low)} to {percent(run.ci_high)}" if run.ci_low is not None else "",
            points(run.delta_wer),
            str(run.files - run.failed),
            str(run.failed),
        )
        for run in history.runs
    ]


def file_rows(history: History, file: str) -> list[tuple[str, ...]]:
    """One row per run for ``file``: its WER, or why there is none."""
    rows = []
    for run in history.runs:
        result = history.files.get(run.run_id, {}).get(file)
        if result is None:
            scored = "no corpus WER" if run.corpus_wer is None else "not scored"
            rows.append((run.run_id, run.status, scored, "", ""))
            continue
        wer = result.errors / result.ref_words
        rows.append(
            (run.run_id, run.status, percent(wer), str(result.errors), str(result.ref_words))
        )
    return rows


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def points(value: float | None) -> str:
    return "" if value is None else f"{100 * value:+.2f} pts"
