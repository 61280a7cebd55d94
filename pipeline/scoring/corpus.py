"""Corpus-level WER with a bootstrap confidence interval, in the standard library only.

Shared by the notebook (run report) and the ingest Lambda (run summary), so both report the
same number. Corpus WER is micro-averaged: total errors over total reference words, never a
mean of per-file WERs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DEFAULT_RESAMPLES = 1000
# Bounds the bootstrap's cost (files x resamples draws) so a 100k-row run stays cheap in Lambda.
MAX_BOOTSTRAP_DRAWS = 20_000_000
MIN_RESAMPLES = 200


@dataclass(frozen=True)
class CorpusWer:
    """Micro-averaged WER over the scored files and its bootstrap interval (None if undefined)."""

    wer: float | None
    ci_low: float | None
    ci_high: float | None
    files: int
    errors: int
    ref_words: int
    resamples: int
    confidence: float


def corpus_wer(
    file_counts: Iterable[tuple[int, int]],
    *,
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> CorpusWer:
    """Score a corpus from ``(errors, ref_words)`` per file, errors being S + D + I.

    The interval resamples files with replacement (a seeded RNG keeps it reproducible) and
    takes the percentile interval of the resampled micro-averaged WERs, rounding both ends
    outwards so it is never narrower than the requested confidence.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    errors, refs = [], []
    for file_errors, file_ref_words in file_counts:
        if file_errors < 0 or file_ref_words < 0:
            raise ValueError(f"negative count in ({file_errors}, {file_ref_words})")
        errors.append(file_errors)
        refs.append(file_ref_words)
    total_errors, total_refs = sum(errors), sum(refs)
    n = len(errors)
    if n == 0 or total_refs == 0:
        return CorpusWer(None, None, None, n, total_errors, total_refs, 0, confidence)
    point = total_errors / total_refs
    if n == 1:
        return CorpusWer(point, point, point, 1, total_errors, total_refs, 0, confidence)

    low, high, resamples = bootstrap_ratio(errors, refs, confidence, resamples, seed)
    return CorpusWer(point, low, high, n, total_errors, total_refs, resamples, confidence)


def bootstrap_ratio(
    numerators: Sequence[float],
    denominators: Sequence[float],
    confidence: float,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float, int]:
    """Percentile interval of ``sum(numerators) / sum(denominators)`` over files resampled with
    replacement; returns (low, high, resamples used).

    One statistic serves both questions asked of a run: corpus WER (errors over reference
    words) and the paired change between two runs on the same files (error differences over
    reference words). A seeded RNG keeps it reproducible, so the notebook and the ingest Lambda
    give the same interval; both ends are rounded outwards so it is never narrower than asked.
    """
    n = len(numerators)
    resamples = max(MIN_RESAMPLES, min(resamples, MAX_BOOTSTRAP_DRAWS // max(n, 1)))
    rng = random.Random(seed)
    indices = range(n)
    estimates = []
    for _ in range(resamples):
        sample = rng.choices(indices, k=n)
        sample_denominator = sum(map(denominators.__getitem__, sample))
        if sample_denominator:
            estimates.append(sum(map(numerators.__getitem__, sample)) / sample_denominator)
    estimates.sort()
    tail = (1 - confidence) / 2
    last = len(estimates) - 1
    return estimates[math.floor(tail * last)], estimates[math.ceil((1 - tail) * last)], resamples
