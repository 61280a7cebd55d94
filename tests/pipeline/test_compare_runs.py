"""Run-to-run comparison on constructed histories: what is, and is not, a regression."""

from __future__ import annotations

import pytest

from pipeline.scoring.compare import (
    IMPROVED,
    REGRESSION,
    STEADY,
    CorpusChanges,
    FileResult,
    compare_runs,
)

# The sample corpus's shape: 12 files of 7-34 reference words, 49 errors in all.
COUNTS = [(3, 14), (3, 13), (6, 15), (3, 12), (6, 34), (5, 14), (1, 7), (2, 15), (6, 11)]
COUNTS += [(8, 14), (2, 14), (4, 14)]
BASE = {
    f"clip{i:02d}.wav": FileResult(errors, refs, f"sha-{i}")
    for i, (errors, refs) in enumerate(COUNTS, start=1)
}


def with_errors(run: dict[str, FileResult], **errors: int) -> dict[str, FileResult]:
    changed = dict(run)
    for key, value in errors.items():
        file = f"{key}.wav"
        changed[file] = FileResult(value, run[file].ref_words, run[file].reference_sha256)
    return changed


def test_removing_a_perfect_file_is_a_corpus_change_not_a_regression() -> None:
    previous = {**BASE, "perfect.wav": FileResult(0, 40, "sha-p")}
    result = compare_runs(BASE, previous, threshold=0.02)
    # The corpus WER of the two runs differs by 4.8 points; on the same files nothing moved.
    assert result.verdict == STEADY
    assert (result.delta, result.common_files) == (0.0, 12)
    assert result.changes == CorpusChanges(removed=("perfect.wav",))
    assert result.changes.describe() == "1 removed"


def test_a_real_rise_on_the_same_files_is_a_regression() -> None:
    worse = {f: FileResult(r.errors + 3, r.ref_words, r.reference_sha256) for f, r in BASE.items()}
    result = compare_runs(worse, BASE, threshold=0.02)
    assert result.verdict == REGRESSION
    assert result.delta == pytest.approx(36 / 177)
    assert 0 < result.ci_low <= result.delta <= result.ci_high
    assert result.current_wer == pytest.approx(85 / 177)


def test_one_noisy_file_above_the_threshold_is_not_a_regression() -> None:
    # +6 errors on one file: +3.4 points overall, above the 2-point threshold, but the
    # paired interval spans zero: most files did not move at all.
    noisy = with_errors(BASE, clip09=12)
    result = compare_runs(noisy, BASE, threshold=0.02)
    assert result.delta == pytest.approx(6 / 177)
    assert result.delta > result.threshold
    assert result.ci_low <= 0 < result.ci_high
    assert result.verdict == STEADY


def test_a_real_drop_is_an_improvement() -> None:
    better = {
        f: FileResult(max(0, r.errors - 2), r.ref_words, r.reference_sha256)
        for f, r in BASE.items()
    }
    assert compare_runs(better, BASE, threshold=0.02).verdict == IMPROVED


def test_a_changed_reference_is_left_out_and_reported() -> None:
    edited = dict(BASE)
    edited["clip03.wav"] = FileResult(0, 15, "sha-new")
    result = compare_runs(edited, BASE, threshold=0.02)
    assert result.changes.reference_changed == ("clip03.wav",)
    assert result.common_files == 11
    assert result.delta == 0.0 and result.verdict == STEADY
    added = {**edited, "new.wav": FileResult(1, 10, "x")}
    assert compare_runs(added, BASE, threshold=0.02).changes.describe() == (
        "1 file added, 1 reference changed"
    )


def test_no_common_file_gives_no_delta() -> None:
    result = compare_runs({"a.wav": FileResult(1, 10)}, {"b.wav": FileResult(1, 10)}, threshold=0)
    assert (result.verdict, result.delta, result.common_files) == (STEADY, None, 0)


def test_the_interval_is_reproducible_and_follows_the_confidence() -> None:
    noisy = with_errors(BASE, clip09=12, clip02=0)
    first = compare_runs(noisy, BASE, threshold=0.02, confidence=0.9)
    assert compare_runs(noisy, BASE, threshold=0.02, confidence=0.9) == first
    wider = compare_runs(noisy, BASE, threshold=0.02, confidence=0.99)
    assert wider.ci_low <= first.ci_low and wider.ci_high >= first.ci_high
