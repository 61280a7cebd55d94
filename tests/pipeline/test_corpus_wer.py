"""Corpus WER: micro-averaged point estimate and its seeded bootstrap interval."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.scoring import corpus
from pipeline.scoring.corpus import MAX_BOOTSTRAP_DRAWS, MIN_RESAMPLES, CorpusWer, corpus_wer
from pipeline.scoring.metrics import score_file


def test_micro_average_weights_files_by_reference_words():
    result = corpus_wer([(1, 1), (0, 99)])  # per-file WERs 1.0 and 0.0: their mean would be 0.5
    assert result.wer == pytest.approx(0.01)
    assert (result.files, result.errors, result.ref_words) == (2, 1, 100)


def test_counts_from_file_scores_give_the_pooled_wer():
    scores = [
        score_file("the cat sat on the mat", "the dog sat the mat today"),  # 3 errors / 6
        score_file("hello world", "hello world"),  # 0 / 2
        score_file("a b", ""),  # 2 / 2
    ]
    result = corpus_wer((s.errors, s.ref_words) for s in scores)
    assert result.wer == pytest.approx(5 / 10)


def test_interval_contains_the_point_and_has_the_requested_shape():
    counts = [(e % 7, 20 + e) for e in range(40)]
    result = corpus_wer(counts, confidence=0.9, resamples=500, seed=3)
    assert result.ci_low < result.wer < result.ci_high
    assert (result.resamples, result.confidence) == (500, 0.9)


def test_known_two_file_bootstrap_distribution():
    # Resamples are {A,A}=1.0 (25%), {A,B}=0.5 (50%), {B,B}=0.0 (25%).
    counts = [(1, 1), (0, 1)]
    assert (corpus_wer(counts).ci_low, corpus_wer(counts).ci_high) == (0.0, 1.0)
    narrow = corpus_wer(counts, confidence=0.4)  # 30th and 70th percentiles
    assert (narrow.ci_low, narrow.wer, narrow.ci_high) == (0.5, 0.5, 0.5)


def test_identical_files_give_a_zero_width_interval():
    result = corpus_wer([(2, 10)] * 5)
    assert (result.ci_low, result.wer, result.ci_high) == (0.2, 0.2, 0.2)


def test_same_seed_reproduces_the_interval():
    counts = [(i % 5, 10 + i) for i in range(30)]
    assert corpus_wer(counts, seed=7) == corpus_wer(counts, seed=7)
    assert corpus_wer(iter(counts), seed=7) == corpus_wer(counts, seed=7)  # any iterable


def test_no_files_gives_no_wer():
    assert corpus_wer([]) == CorpusWer(None, None, None, 0, 0, 0, 0, 0.95)


def test_zero_reference_words_gives_no_wer():
    result = corpus_wer([(0, 0), (3, 0)])
    assert (result.wer, result.ci_low, result.ci_high) == (None, None, None)
    assert (result.files, result.errors, result.ref_words, result.resamples) == (2, 3, 0, 0)


def test_one_file_has_a_degenerate_interval():
    result = corpus_wer([(3, 12)])
    assert (result.wer, result.ci_low, result.ci_high) == (0.25, 0.25, 0.25)
    assert (result.files, result.resamples) == (1, 0)


def test_resamples_are_bounded_for_cost(monkeypatch):
    assert corpus_wer([(1, 10), (2, 10)], resamples=10).resamples == MIN_RESAMPLES
    assert MAX_BOOTSTRAP_DRAWS == 20_000_000
    monkeypatch.setattr(corpus, "MAX_BOOTSTRAP_DRAWS", 5_000)  # files x resamples budget
    assert corpus_wer([(1, 10)] * 10).resamples == 500
    assert corpus_wer([(1, 10)] * 100).resamples == MIN_RESAMPLES  # floor wins over budget


@pytest.mark.parametrize("confidence", [0, 1, 1.5, -0.1])
def test_confidence_must_be_a_proper_fraction(confidence):
    with pytest.raises(ValueError, match="confidence"):
        corpus_wer([(1, 2)], confidence=confidence)


def test_negative_counts_are_rejected():
    with pytest.raises(ValueError, match=r"\(-1, 5\)"):
        corpus_wer([(1, 2), (-1, 5)])


@settings(max_examples=100, deadline=None)
@given(
    counts=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 300)), min_size=1, max_size=15),
    seed=st.integers(0, 2**32),
    confidence=st.sampled_from([0.5, 0.9, 0.95, 0.99]),
)
def test_interval_brackets_the_micro_average(counts, seed, confidence):
    result = corpus_wer(counts, confidence=confidence, resamples=MIN_RESAMPLES, seed=seed)
    total_refs = sum(r for _, r in counts)
    if total_refs == 0:
        assert result.wer is None
        return
    assert result.wer == pytest.approx(sum(e for e, _ in counts) / total_refs)
    assert result.ci_low <= result.wer <= result.ci_high
