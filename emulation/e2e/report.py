"""What `make e2e` shows and keeps: the creation run, the per-file table, the corpus WER, the
notification and any AccessDenied (with the stage that hit it) on the console; the run summary,
the report, the executed notebook and the instance log under ``runs/<run_id>/``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def print_report(summary: dict[str, Any], out: Any) -> None:
    """The creation run, the per-file scores table, the corpus WER with its interval and the
    notification text."""
    from rich.table import Table

    creation = summary.get("creation_run")
    if creation:
        out.print(
            f"creation run (OnStart at the instance's creation, during the deploy): "
            f"{creation['status']} run {creation['run_id']}, instance "
            f"{creation['instance_status']}; message: {creation['subject']}",
            markup=False,
            soft_wrap=True,
        )

    table = Table(title=f"run {summary.get('run_id')}")
    for column in ("file", "status", "error"):
        table.add_column(column, overflow="fold")
    for column in ("WER", "ref words", "S", "D", "I"):
        table.add_column(column, justify="right")
    for f in summary.get("files", []):
        wer = "" if f["wer"] is None else f"{100 * f['wer']:.1f}%"
        counts = ("ref_words", "substitutions", "deletions", "insertions")
        table.add_row(
            f["file"],
            f["status"],
            f["error"] or "",
            wer,
            *("" if f[k] is None else str(f[k]) for k in counts),
        )
    out.print(table)
    wer = summary.get("corpus_wer")
    if wer is not None:
        out.print(
            f"corpus WER {100 * wer:.2f}% "
            f"(95% CI {100 * summary['ci_low']:.2f}% to {100 * summary['ci_high']:.2f}%)"
        )
    if summary.get("delta_wer") is not None:
        out.print(
            f"change from the previous run {summary.get('previous_run_id')}: "
            f"{100 * summary['delta_wer']:+.2f} pts",
            markup=False,
        )
    if len(summary.get("runs", [])) > 1:
        history = Table(title="runs on this stack, oldest first")
        for column in ("run", "status", "corpus WER", "95% CI", "change"):
            history.add_column(column, justify="left" if column in ("run", "status") else "right")
        for run in summary["runs"]:
            history.add_row(
                run["run_id"] or "",
                run["status"] or "",
                _percent(run["corpus_wer"]),
                f"{_percent(run['ci_low'])} to {_percent(run['ci_high'])}",
                "" if run["delta_wer"] is None else f"{100 * run['delta_wer']:+.2f} pts",
            )
        out.print(history)
    for note in summary.get("notifications", []):
        out.print(
            f"\nnotification: {note['subject']}\n{note['message']}", markup=False, soft_wrap=True
        )
    for denial in summary.get("access_denials", []):
        out.print(
            f"AccessDenied in stage {denial['stage']} ({denial['via']}): {denial['message']}",
            markup=False,
            soft_wrap=True,
        )
    if summary.get("error"):
        out.print(f"[bold red]e2e failed:[/] {summary['error']}")


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def write_summary(summary: dict[str, Any], runs_dir: Path) -> Path:
    """``runs/<run_id>/summary.json`` plus the instance log and the report files beside it."""
    name = summary.get("run_id") or time.strftime("failed-%Y%m%dT%H%M%SZ", time.gmtime())
    path = runs_dir / name / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = dict(summary)
    (path.parent / "instance.log").write_text(summary.pop("instance_log", ""), encoding="utf-8")
    for file_name, body in summary.pop("report_files", {}).items():
        (path.parent / file_name).write_bytes(body)
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def succeeded(summary: dict[str, Any]) -> bool:
    stages_ok = all(s["status"] == "ok" for s in summary["stages"].values())
    creation = summary.get("creation_run") or {}
    return (
        stages_ok
        and not summary.get("error")
        and not summary.get("access_denials")
        and summary.get("status") != "FAILED"
        and creation.get("status") != "FAILED"
    )
