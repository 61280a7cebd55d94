"""The HTML run report: what people open from S3, so it must show every file, safely."""

from __future__ import annotations

from html.parser import HTMLParser

from pipeline.report_html import render_report


def file_entry(file: str, wer: float | None, status: str = "ok", error: str = "") -> dict:
    counts = None if wer is None else 1
    return {
        "file": file,
        "status": status,
        "error": error,
        "wer": wer,
        "cer": wer,
        "ref_words": counts,
        "substitutions": counts,
        "deletions": 0 if counts else None,
        "insertions": 0 if counts else None,
        "alignment": "REF: a b\nHYP: a c\n        S" if wer is not None else None,
    }


def summary(files: list[dict], **overrides: object) -> dict:
    return {
        "run_id": "2026-11-24T20-00-00Z-abcdef",
        "corpus_wer": 0.125,
        "ci_low": 0.05,
        "ci_high": 0.2,
        "confidence": 0.95,
        "files_scored": sum(f["status"] == "ok" for f in files),
        "files_failed": sum(f["status"] != "ok" for f in files),
        "engine": "amazon-transcribe",
        "language_code": "en-US",
        "normalizer": "english",
        "orphan_references": [],
        "files": files,
        **overrides,
    }


class TextAndTags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> TextAndTags:
    parser = TextAndTags()
    parser.feed(html)
    return parser


def test_scored_files_are_listed_worst_first_with_the_corpus_figures():
    files = [file_entry("good.wav", 0.0), file_entry("bad.wav", 0.5), file_entry("mid.wav", 0.2)]
    text = "".join(parse(render_report(summary(files))).text)
    assert text.index("bad.wav") < text.index("mid.wav") < text.index("good.wav")
    assert "12.50%" in text and "5.00% to 20.00%" in text
    assert "50.00%" in text


def test_failures_and_orphan_references_have_their_own_sections():
    files = [
        file_entry("ok.wav", 0.1),
        file_entry("broken.wav", None, status="failed", error="transcription failed: bad media"),
    ]
    html = render_report(summary(files, orphan_references=["lonely.txt"]))
    text = "".join(parse(html).text)
    assert "Failed files" in text and "transcription failed: bad media" in text
    assert "References without audio" in text and "lonely.txt" in text


def test_no_scored_file_and_undefined_wer_render_without_numbers():
    files = [file_entry("x.wav", None, status="failed", error="run failed: CorpusError")]
    html = render_report(summary(files, corpus_wer=None, ci_low=None, ci_high=None))
    text = "".join(parse(html).text)
    assert "No file was scored." in text and "n/a" in text


def test_file_names_and_errors_are_escaped():
    files = [
        file_entry("<script>alert(1)</script>.wav", 0.1),
        file_entry("a&b.wav", None, status="failed", error="<img src=x onerror=alert(1)>"),
    ]
    parsed = parse(render_report(summary(files)))
    assert "script" not in parsed.tags and "img" not in parsed.tags
    assert "<script>alert(1)</script>.wav" in "".join(parsed.text)
