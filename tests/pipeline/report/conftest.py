"""A report with history: three earlier runs of a four-file corpus and the run being reported."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pipeline.history import History, RunPoint
from pipeline.scoring.compare import FileResult, compare_runs
from pipeline.scoring.corpus import corpus_wer
from pipeline.scoring.metrics import score_file

REFERENCES = {
    "clip01.wav": "every night the monitor sends the corpus to amazon transcribe",
    "clip02.wav": "the numbers are one two three and four hundred",
    "clip03.wav": "priya raman asked tomasz kowalski to check the bucket in frankfurt",
    "long.wav": " ".join(f"word{i} is here" for i in range(120)),  # 360 words on one line
}
RUN_IDS = [f"2026-11-{day}T06-00-00Z-aaaa{day}" for day in (27, 28, 29)]
CURRENT = "2026-11-30T06-00-00Z-bbbbbb"


def drop_words(text: str, every: int) -> str:
    """Delete every ``every``-th word: a hypothesis with known errors."""
    return " ".join(w for i, w in enumerate(text.split(), 1) if every == 0 or i % every)


def file_entry(file: str, hypothesis: str | None, error: str = "") -> dict[str, Any]:
    if hypothesis is None:
        return {"file": file, "status": "failed", "error": error, "wer": None, "cer": None,
                "ref_words": None, "substitutions": None, "deletions": None,
                "insertions": None, "reference": None, "hypothesis": None}  # fmt: skip
    score = score_file(REFERENCES[file], hypothesis)
    return {"file": file, "status": "ok", "error": "", "wer": score.wer, "cer": score.cer,
            "ref_words": score.ref_words, "substitutions": score.substitutions,
            "deletions": score.deletions, "insertions": score.insertions,
            "reference": REFERENCES[file], "hypothesis": hypothesis}  # fmt: skip


def results(entries: list[dict[str, Any]]) -> dict[str, FileResult]:
    return {
        e["file"]: FileResult(
            e["substitutions"] + e["deletions"] + e["insertions"], e["ref_words"], e["file"]
        )
        for e in entries
        if e["status"] == "ok"
    }


@pytest.fixture
def build_report() -> Callable[..., tuple[dict[str, Any], History, Any]]:
    """``build_report(every)`` -> (summary, history, comparison): earlier runs drop every 8th
    word of each file; this run drops every ``every``-th (0: none), and one file failed."""

    def build(every: int = 8, threshold: float = 0.02):
        runs, files = [], {}
        for run_id in RUN_IDS:
            entries = [file_entry(f, drop_words(t, 8)) for f, t in REFERENCES.items()]
            scored = results(entries)
            c = corpus_wer([(r.errors, r.ref_words) for r in scored.values()])
            runs.append(RunPoint(run_id, "OK", c.wer, c.ci_low, c.ci_high, len(entries), 0))
            files[run_id] = scored
        history = History(runs, files)
        entries = [file_entry(f, drop_words(t, every)) for f, t in REFERENCES.items()]
        entries.append(file_entry("broken <b>.wav", None, "transcription failed: <no audio>"))
        scored = results(entries)
        c = corpus_wer([(r.errors, r.ref_words) for r in scored.values()])
        summary = {
            "run_id": CURRENT, "corpus_wer": c.wer, "ci_low": c.ci_low, "ci_high": c.ci_high,
            "confidence": 0.95, "files_scored": len(scored), "files_failed": 1,
            "engine": "amazon-transcribe", "language_code": "en-US", "normalizer": "english",
            "orphan_references": ["orphan.txt"], "ignored": [], "files": entries,
        }  # fmt: skip
        comparison = compare_runs(scored, history.previous_files(), threshold=threshold)
        return summary, history, comparison

    return build
