"""The report page: the run summary and its history turned into what a reader sees, rendered
with the Jinja2 template beside this module (autoescaped, so file names cannot inject HTML).

What it shows, top to bottom: the status word, corpus WER with its interval and the paired
change against the previous run; the corpus WER over the last runs; each file's WER across
runs, worst change first; the worst files with their S/D/I and word alignment in columns; the
failures with their reasons; and how the corpus changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from pipeline.history import History
from pipeline.report.svg import STATUS_COLOURS, ChartPoint, sparkline, trend_chart
from pipeline.scoring.compare import Comparison
from pipeline.scoring.metrics import AlignedWord, aligned_words

WORST_FILES = 10


@dataclass(frozen=True)
class FileRow:
    """One scored file: this run's measures, its history and its alignment."""

    file: str
    wer: float
    cer: float | None
    ref_words: int
    substitutions: int
    deletions: int
    insertions: int
    history: list[float | None]  # earlier runs, oldest first, then this run
    change: float | None  # WER now minus WER in the previous run (None: not scored then)
    alignment: list[AlignedWord] = field(default_factory=list)

    @property
    def sparkline(self) -> Markup:
        return Markup(sparkline(self.history))


def percent(value: float | None, places: int = 2) -> str:
    return "n/a" if value is None else f"{100 * value:.{places}f}%"


def points(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.2f} pts"


def heat(value: float | None) -> str:
    """Background of a WER cell: white at 0, red from 50% up."""
    if value is None:
        return "#f6f8fa"
    strength = min(value / 0.5, 1.0)
    green_blue = round(255 - 160 * strength)
    return f"rgb(255,{green_blue},{green_blue})"


def _rows(summary: Mapping[str, Any], history: History | None, normalizer: str) -> list[FileRow]:
    earlier = history.runs if history else []
    previous = history.previous_files() if history else {}
    rows = []
    for f in summary["files"]:
        if f["status"] != "ok" or f["wer"] is None:
            continue
        before = previous.get(f["file"])
        past = history.file_wers(f["file"]) if history else []
        rows.append(
            FileRow(
                file=f["file"],
                wer=f["wer"],
                cer=f.get("cer"),
                ref_words=f["ref_words"],
                substitutions=f["substitutions"],
                deletions=f["deletions"],
                insertions=f["insertions"],
                history=[*past[-len(earlier) :], f["wer"]] if earlier else [f["wer"]],
                change=None if before is None else f["wer"] - before.errors / before.ref_words,
            )
        )
    worst = sorted(rows, key=lambda r: (-r.wer, r.file))[:WORST_FILES]
    texts = {f["file"]: f for f in summary["files"]}
    for row in worst:
        text = texts[row.file]
        if text.get("reference") is not None and text.get("hypothesis") is not None:
            row.alignment.extend(aligned_words(text["reference"], text["hypothesis"], normalizer))
    return rows


def _chart(summary: Mapping[str, Any], history: History | None, status: str) -> Markup:
    past = [
        ChartPoint(run.run_id, run.corpus_wer, run.ci_low, run.ci_high, run.status)
        for run in (history.runs if history else [])
    ]
    now = ChartPoint(
        summary["run_id"],
        summary["corpus_wer"],
        summary["ci_low"],
        summary["ci_high"],
        status,
        True,
    )
    return Markup(trend_chart([*past, now]))


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("pipeline.report", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(percent=percent, points=points, heat=heat)
    return environment


def render_report(
    summary: Mapping[str, Any],
    *,
    status: str,
    history: History | None = None,
    comparison: Comparison | None = None,
) -> str:
    """The page for one run: ``summary`` is the run's summary.json (pipeline.run), ``status`` its
    status word, ``history`` the runs before it, ``comparison`` the paired change."""
    rows = _rows(summary, history, summary.get("normalizer", "english"))
    failed = [f for f in summary["files"] if f["status"] != "ok"]
    runs: Sequence[Any] = history.runs if history else []
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            summary=summary,
            status=status,
            status_colour=STATUS_COLOURS.get(status, "#57606a"),
            comparison=comparison,
            previous=history.previous if history else None,
            chart=_chart(summary, history, status),
            runs=runs,
            by_change=sorted(rows, key=lambda r: (-(r.change or 0.0), -r.wer, r.file)),
            worst=sorted(rows, key=lambda r: (-r.wer, r.file))[:WORST_FILES],
            failed=failed,
        )
    )
