"""The notification text: SNS-safe subjects, a readable body, filterable attributes."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from pipeline import notify
from pipeline.results_table import RunSummary
from pipeline.scores_csv import ScoreRow

RUN = "2026-11-24T20-00-00Z-3fa9c1"
PREVIOUS = "2026-11-23T20-00-00Z-000000"

REGRESSED = RunSummary(
    run_id=RUN,
    status="REGRESSION",
    scores_uri=f"s3://results/scores/{RUN}.csv",
    files=5,
    failed=2,
    corpus_wer=0.1234,
    ci_low=0.101,
    ci_high=0.145,
    confidence=0.95,
    errors=1234,
    ref_words=10000,
    previous_run_id=PREVIOUS,
    previous_corpus_wer=0.1024,
    delta_wer=0.021,
    regression_threshold=0.02,
)


def scored(file: str, wer: float, s: int, d: int, i: int, ref: int) -> ScoreRow:
    return ScoreRow(RUN, file, "ok", "", wer, wer, wer, wer, 1 - wer, ref, ref, s, d, i)


WORST = [scored("loud.wav", 0.45, 3, 2, 4, 20), scored("sub/quiet.mp3", 0.3, 1, 2, 0, 10)]
FAILURES = [ScoreRow(RUN, "gone.wav", "failed", "missing reference")]


def test_subject_carries_status_wer_change_and_run():
    assert notify.subject(REGRESSED) == (
        f"ASR monitor REGRESSION: corpus WER 12.34% (+2.10 pts), run {RUN}"
    )
    first = dataclasses.replace(REGRESSED, status="OK", delta_wer=None, previous_run_id=None)
    assert notify.subject(first) == f"ASR monitor OK: corpus WER 12.34%, run {RUN}"
    failed = RunSummary(RUN, "FAILED", "s3://b/k", error="boom")
    assert notify.subject(failed) == f"ASR monitor FAILED: corpus WER n/a, run {RUN}"


@given(run_id=st.text(min_size=1, max_size=300), wer=st.none() | st.floats(0, 1e6))
def test_subject_always_obeys_sns_rules(run_id, wer):
    summary = dataclasses.replace(REGRESSED, run_id=run_id, corpus_wer=wer)
    subject = notify.subject(summary)
    assert len(subject) <= 99 and subject.isascii() and subject.isprintable()
    assert subject.startswith("ASR monitor REGRESSION: corpus WER ")


def test_body_has_corpus_wer_with_ci_change_worst_files_and_failures():
    body = notify.body(REGRESSED, WORST, FAILURES)
    lines = body.splitlines()
    assert lines[0] == f"ASR accuracy monitor, run {RUN}: REGRESSION"
    assert (
        "Corpus WER   12.34%  (95% CI 10.10% to 14.50%)  1234 errors / 10000 reference words"
        in lines
    )
    assert f"Previous     10.24%  (run {PREVIOUS})" in lines
    assert "Change       +2.10 pts  (alert above +2.00 pts)" in lines
    assert "Files        5 in the CSV: 3 scored, 2 failed" in lines
    header = lines.index("Worst 2 file(s) by WER")
    assert lines[header + 1].split() == ["WER", "S", "D", "I", "ref", "file"]
    assert lines[header + 2].split() == ["45.00%", "3", "2", "4", "20", "loud.wav"]
    assert lines[header + 3].split() == ["30.00%", "1", "2", "0", "10", "sub/quiet.mp3"]
    failures = lines.index("Failures (2)")
    assert lines[failures + 1] == "  gone.wav: missing reference"
    assert lines[failures + 2] == "  ... and 1 more (see the scores CSV)"


def test_failed_run_body_says_why_and_skips_empty_sections():
    summary = RunSummary(RUN, "FAILED", "s3://b/k", error="s3://b/k: scores CSV line 7, ...")
    body = notify.body(summary, [], [])
    assert "Why          s3://b/k: scores CSV line 7, ..." in body
    assert "Corpus WER   n/a (no file was scored)" in body
    assert "Worst" not in body and "Failures" not in body and "Files " not in body


def test_control_characters_in_names_cannot_break_the_table():
    row = ScoreRow(RUN, "evil\nname.wav", "failed", "line one\nline two")
    body = notify.body(dataclasses.replace(REGRESSED, failed=1), [], [row])
    assert "  evil?name.wav: line one?line two" in body.splitlines()


def test_body_is_cut_to_fit_sns():
    many = [ScoreRow(RUN, f"{n}" + "x" * 110, "failed", "e" * 500) for n in range(2000)]
    summary = dataclasses.replace(REGRESSED, failed=2000)
    body = notify.body(summary, [], many)
    assert len(body.encode("utf-8")) <= notify.MAX_BODY_BYTES + 100
    assert body.endswith("... (message cut to fit SNS; see the scores CSV)\n")


def test_attributes_let_subscribers_filter():
    assert notify.attributes(REGRESSED) == {
        "status": {"DataType": "String", "StringValue": "REGRESSION"},
        "run_id": {"DataType": "String", "StringValue": RUN},
        "corpus_wer": {"DataType": "Number", "StringValue": "0.123400"},
    }
    failed = RunSummary(RUN, "FAILED", "s3://b/k", error="boom")
    assert set(notify.attributes(failed)) == {"status", "run_id"}
