"""The report page: status, change, trend, per-file history and alignments, from its HTML."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from pipeline.report.page import render_report
from pipeline.scoring.compare import REGRESSION, STEADY
from pipeline.scoring.metrics import aligned_words


class Elements(HTMLParser):
    """Start tags with their attributes, and the text inside elements that have an id."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.by_id: dict[str, str] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        self.tags.append((tag, found))
        if tag not in ("br", "meta", "img", "line", "polygon", "polyline", "path", "circle"):
            self._open.append(found.get("id"))
            if found.get("id"):
                self.by_id[found["id"]] = ""

    def handle_endtag(self, tag: str) -> None:
        if self._open and tag not in ("circle", "line", "path", "polygon", "polyline"):
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for element_id in filter(None, self._open):
            self.by_id[element_id] += data

    def having(self, tag: str, css_class: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag and css_class in a.get("class", "").split()]


def parse(html: str) -> Elements:
    elements = Elements()
    elements.feed(html)
    return elements


def test_status_change_and_interval_head_the_page(build_report) -> None:
    summary, history, comparison = build_report(every=3)
    assert comparison.verdict == REGRESSION
    page = parse(render_report(summary, status=comparison.verdict, history=history,
                               comparison=comparison))  # fmt: skip
    assert page.by_id["status"] == "REGRESSION"
    assert page.by_id["delta"] == f"{100 * comparison.delta:+.2f} pts"
    assert page.by_id["corpus-wer"] == f"{100 * summary['corpus_wer']:.2f}%"


def test_the_chart_has_one_point_per_run_the_current_one_marked(build_report) -> None:
    summary, history, comparison = build_report()
    html = render_report(summary, status=comparison.verdict, history=history, comparison=comparison)
    points = parse(html).having("circle", "point")
    assert len(points) == len(history.runs) + 1
    assert [("current" in p["class"]) for p in points] == [False, False, False, True]


def test_each_file_shows_its_earlier_runs_and_its_change(build_report) -> None:
    summary, history, comparison = build_report(every=4)
    html = render_report(summary, status=comparison.verdict, history=history, comparison=comparison)
    table = html[
        html.index('id="file-history"') : html.index("</table>", html.index("file-history"))
    ]
    rows = re.findall(r"<tr><td class=\"file\">(.*?)</td>", table)
    assert sorted(rows) == sorted(f["file"] for f in summary["files"] if f["status"] == "ok")
    # every file lost words since the last run: each row shows a rise, worst first
    changes = [float(c) for c in re.findall(r'class="num worse">\+([0-9.]+) pts', table)]
    assert len(changes) == 4 and changes == sorted(changes, reverse=True)
    assert table.count('class="num cell"') == 4 * (len(history.runs) + 1)


def test_a_long_alignment_keeps_its_columns(build_report) -> None:
    summary, history, comparison = build_report()
    html = render_report(summary, status=STEADY, history=history, comparison=comparison)
    long = next(f for f in summary["files"] if f["file"] == "long.wav")
    positions = aligned_words(long["reference"], long["hypothesis"])
    block = html[html.index(">long.wav</div>") :]
    table = block[block.index('<table class="align">') : block.index("</table>")]
    ref_row = table[: table.index("</tr>")]
    assert ref_row.count("<td") == len(positions) >= 360  # one column per aligned word
    assert ".align td{border:0;padding:.1rem .35rem;white-space:nowrap" in html
    assert '<div class="scroll"><table class="align">' in html  # scrolls, never wraps


def test_failures_and_names_are_escaped_and_listed(build_report) -> None:
    summary, history, comparison = build_report()
    html = render_report(summary, status=STEADY, history=history, comparison=comparison)
    assert "broken &lt;b&gt;.wav" in html and "broken <b>.wav" not in html
    assert "transcription failed: &lt;no audio&gt;" in html
    assert "orphan.txt" in html


def test_a_first_run_renders_without_history() -> None:
    summary = {
        "run_id": "2026-11-30T06-00-00Z-cccccc", "corpus_wer": None, "ci_low": None,
        "ci_high": None, "confidence": 0.95, "files_scored": 0, "files_failed": 0,
        "engine": "e", "language_code": "en-US", "normalizer": "english",
        "orphan_references": [], "ignored": [], "files": [],
    }  # fmt: skip
    page = parse(render_report(summary, status="FAILED"))
    assert page.by_id["status"] == "FAILED"
    assert page.by_id["delta"] == "n/a"
    assert page.having("circle", "point") == []  # no WER: a cross, not a point
    assert len(page.having("path", "no-wer")) == 1


def test_the_page_is_self_contained(build_report) -> None:
    summary, history, comparison = build_report()
    html = render_report(summary, status=STEADY, history=history, comparison=comparison)
    tags = {tag for tag, _ in parse(html).tags}
    assert not tags & {"script", "link", "img", "iframe"}
    assert not re.search(r"(src|href)=\"?https?:", html)
