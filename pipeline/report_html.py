"""The run report as one self-contained HTML page (no scripts, no external assets).

It is uploaded to ``reports/<run_id>/report.html`` beside the executed notebook so people can
open a run's results in a browser straight from S3, without Jupyter.
"""

from __future__ import annotations

from html import escape
from typing import Any

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1b1f23}
h1{font-size:1.4rem;margin-bottom:.2rem} .muted{color:#6a737d}
.cards{display:flex;gap:1rem;margin:1rem 0}
.card{border:1px solid #d0d7de;border-radius:6px;padding:.6rem 1rem;min-width:9rem}
.card b{display:block;font-size:1.4rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
th,td{border-bottom:1px solid #eaecef;padding:.35rem .5rem;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{background:#f6f8fa;width:120px;height:10px;border-radius:3px}
.bar span{display:block;height:10px;border-radius:3px;background:#d1242f}
.failed{color:#d1242f} pre{margin:0;font-size:12px;white-space:pre-wrap}
details summary{cursor:pointer;color:#0969da}
"""


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def card(label: str, value: str) -> str:
    return (
        f'<div class="card"><span class="muted">{escape(label)}</span><b>{escape(value)}</b></div>'
    )


def scored_table(files: list[dict[str, Any]]) -> str:
    rows = []
    for f in sorted(files, key=lambda f: -(f["wer"] or 0)):
        width = min(100.0, 100 * (f["wer"] or 0))
        detail = ""
        if f.get("alignment"):
            detail = (
                f"<details><summary>alignment</summary><pre>{escape(f['alignment'])}</pre>"
                "</details>"
            )
        rows.append(
            "<tr>"
            f"<td>{escape(f['file'])}{detail}</td>"
            f'<td class="num">{percent(f["wer"])}</td>'
            f'<td><div class="bar"><span style="width:{width:.1f}%"></span></div></td>'
            f'<td class="num">{percent(f["cer"])}</td>'
            f'<td class="num">{f["ref_words"]}</td>'
            f'<td class="num">{f["substitutions"]}</td>'
            f'<td class="num">{f["deletions"]}</td>'
            f'<td class="num">{f["insertions"]}</td>'
            "</tr>"
        )
    counts = ("CER", "ref words", "S", "D", "I")
    numeric = "".join(f'<th class="num">{name}</th>' for name in counts)
    header = f'<tr><th>file</th><th class="num">WER</th><th></th>{numeric}</tr>'
    return f"<table>{header}{''.join(rows)}</table>"


def failed_table(files: list[dict[str, Any]]) -> str:
    rows = "".join(
        f'<tr><td>{escape(f["file"])}</td><td class="failed">{escape(f["error"] or "")}</td></tr>'
        for f in files
    )
    return f"<table><tr><th>file</th><th>reason</th></tr>{rows}</table>"


def render_report(summary: dict[str, Any]) -> str:
    """Render a run's summary.json (see pipeline.run.RunOutcome.summary) as HTML."""
    files = summary["files"]
    scored = [f for f in files if f["status"] == "ok"]
    failed = [f for f in files if f["status"] != "ok"]
    interval = f"{percent(summary['ci_low'])} to {percent(summary['ci_high'])}"
    confidence = f"{round(100 * summary['confidence'])}% interval"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>ASR accuracy: {escape(summary['run_id'])}</title><style>{STYLE}</style>",
        "</head><body>",
        f"<h1>ASR accuracy run {escape(summary['run_id'])}</h1>",
        f'<div class="muted">engine {escape(summary["engine"])}, language '
        f"{escape(summary['language_code'])}, normalizer {escape(summary['normalizer'])}</div>",
        '<div class="cards">',
        card("corpus WER", percent(summary["corpus_wer"])),
        card(confidence, interval),
        card("files scored", str(summary["files_scored"])),
        card("files failed", str(summary["files_failed"])),
        "</div>",
        "<h2>Scored files, worst first</h2>",
        scored_table(scored) if scored else "<p>No file was scored.</p>",
    ]
    if failed:
        parts += ["<h2>Failed files</h2>", failed_table(failed)]
    if summary.get("orphan_references"):
        items = "".join(f"<li>{escape(k)}</li>" for k in summary["orphan_references"])
        parts += ["<h2>References without audio</h2>", f"<ul>{items}</ul>"]
    parts.append("</body></html>")
    return "\n".join(parts)
