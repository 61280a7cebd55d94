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
    delta_ci_low=0.004,
    delta_ci_high=0.038,
    common_files=3,
    files_added=1,
    files_removed=0,
    references_changed=1,
    regression_threshold=0.02,
    regression_confidence=0.95,
)


def scored(file: str, s: int, d: int, i: int, ref: int) -> ScoreRow:
    return ScoreRow.from_counts(
        run_id=RUN, file=file, ref_words=ref, substitutions=s, deletions=d, insertions=i, cer=0.1
    )


WORST = [scored("loud.wav", 3, 2, 4, 20), scored("sub/quiet.mp3", 1, 2, 0, 10)]
FAILURES = [ScoreRow(RUN, "gone.wav", "failed", "missing reference")]


def test_subject_carries_status_failed_files_wer_change_and_run():
    clean = dataclasses.replace(REGRESSED, failed=0)
    assert notify.subject(clean) == (
        f"ASR monitor REGRESSION: corpus WER 12.34% (+2.10 pts), run {RUN}"
    )
    first = dataclasses.replace(clean, status="OK", delta_wer=None, previous_run_id=None)
    assert notify.subject(first) == f"ASR monitor OK: corpus WER 12.34%, run {RUN}"
    failed = RunSummary(RUN, "FAILED", "s3://b/k", error="boom")
    assert notify.subject(failed) == f"ASR monitor FAILED: corpus WER n/a, run {RUN}"


def test_the_subject_says_when_files_failed():
    """An OK run with failed files is still OK (statuses stay three), but says so up front."""
    ok = dataclasses.replace(REGRESSED, status="OK", files=12, failed=1, delta_wer=None)
    assert (
        notify.subject(ok) == f"ASR monitor OK (1 of 12 files failed): corpus WER 12.34%, run {RUN}"
    )
    # Too long with the run id (it is in the attributes and the body): the counts win.
    regressed = dataclasses.replace(REGRESSED, files=36, failed=7)
    assert notify.subject(regressed) == (
        "ASR monitor REGRESSION (7 of 36 files failed): corpus WER 12.34% (+2.10 pts)"
    )
    assert notify.attributes(regressed)["files_failed"] == {
        "DataType": "Number",
        "StringValue": "7",
    }


@given(
    run_id=st.text(min_size=1, max_size=300),
    wer=st.none() | st.floats(0, 1e6),
    files=st.integers(0, 10**6),
    failed=st.integers(0, 10**6),
)
def test_subject_always_obeys_sns_rules(run_id, wer, files, failed):
    summary = dataclasses.replace(REGRESSED, run_id=run_id, corpus_wer=wer, files=files + failed)
    summary = dataclasses.replace(summary, failed=failed)
    subject = notify.subject(summary)
    assert len(subject) <= 99 and subject.isascii() and subject.isprintable()
    assert subject.startswith("ASR monitor REGRESSION")
    assert (f"({failed} of {files + failed} files failed)" in subject) == bool(failed)


def test_body_has_corpus_wer_with_ci_change_worst_files_and_failures():
    body = notify.body(REGRESSED, WORST, FAILURES, "eu-west-1")
    lines = body.splitlines()
    assert lines[0] == f"ASR accuracy monitor, run {RUN}: REGRESSION"
    assert (
        "Corpus WER   12.34%  (95% CI 10.10% to 14.50%)  1234 errors / 10000 reference words"
        in lines
    )
    assert f"Previous     10.24%  (run {PREVIOUS})" in lines
    assert (
        "Change       +2.10 pts on the 3 file(s) both runs scored (95% CI +0.40 pts to +3.80 pts)"
        in lines
    )
    assert "Corpus       files 1 added, 1 with a changed reference: not part of the change" in lines
    report = f"reports/{RUN}/report.html"
    assert (
        "Report       https://eu-west-1.console.aws.amazon.com/s3/object/results"
        f"?region=eu-west-1&prefix={report}" in lines
    )
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
    body = notify.body(summary, [], [], "eu-west-1")
    assert "Why          s3://b/k: scores CSV line 7, ..." in body
    assert "Corpus WER   n/a (no file was scored)" in body
    assert "Worst" not in body and "Failures" not in body and "Files " not in body
    assert "Report " not in body  # no report when nothing was scored


def test_no_common_file_says_so_instead_of_a_change():
    summary = dataclasses.replace(REGRESSED, status="OK", delta_wer=None, common_files=0)
    lines = notify.body(summary, [], []).splitlines()
    assert "Change       n/a: no file was scored in both runs against the same reference" in lines


def test_control_characters_in_errors_cannot_break_the_table():
    row = ScoreRow(RUN, "evil\\x0aname.wav", "failed", "line one\nline two")
    body = notify.body(dataclasses.replace(REGRESSED, failed=1), [], [row])
    assert "  evil\\x0aname.wav: line one?line two" in body.splitlines()


def test_spreadsheet_formulas_in_names_are_neutralized_in_the_body():
    """OWASP "CSV Injection": the email's table cells get the CSV's leading quote."""
    row = ScoreRow(RUN, '=HYPERLINK("http://evil","x").wav', "failed", "@SUM(1)")
    body = notify.body(dataclasses.replace(REGRESSED, failed=1), [], [row])
    assert """  '=HYPERLINK("http://evil","x").wav: '@SUM(1)""" in body.splitlines()


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
        "files_failed": {"DataType": "Number", "StringValue": "2"},
        "delta_wer": {"DataType": "Number", "StringValue": "0.021000"},
    }
    failed = RunSummary(RUN, "FAILED", "s3://b/k", error="boom")
    assert set(notify.attributes(failed)) == {"status", "run_id"}
