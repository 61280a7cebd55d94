"""Is this run worse than the last one? A paired comparison on the files both runs scored.

Comparing corpus WERs of two runs mixes a change of the recognizer with a change of the corpus:
removing one perfect file from a 12-file corpus raised the corpus WER by 17.8 points. So the
two runs are compared on the files both scored against the same reference text (same file
name, same reference hash); files added, removed, newly failing or with a changed reference
are reported apart, never counted as a change of accuracy.

The change is ``(errors now - errors before) / reference words`` over those files, with a
seeded paired bootstrap interval (files resampled together, so per-file difficulty cancels
out). The verdict:

    REGRESSION  the change is above ``threshold`` and its interval lies above zero
    IMPROVED    the change is below ``-threshold`` and its interval lies below zero
    OK          anything else: within the threshold, or not distinguishable from noise

Standard library only: the ingest Lambda and the notebook decide with the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline.scoring.corpus import DEFAULT_RESAMPLES, bootstrap_ratio

REGRESSION = "REGRESSION"
IMPROVED = "IMPROVED"
STEADY = "OK"


@dataclass(frozen=True, slots=True)  # one per scored file: ingest holds 100,000 of them
class FileResult:
    """What the comparison needs of one scored file."""

    errors: int  # S + D + I
    ref_words: int
    reference_sha256: str | None = None  # None: not recorded (rows written before it was)


@dataclass(frozen=True)
class CorpusChanges:
    """How the set of compared files differs between two runs, by file name."""

    added: tuple[str, ...] = ()  # scored now, not before
    removed: tuple[str, ...] = ()  # scored before, not now (gone or failed now)
    reference_changed: tuple[str, ...] = ()  # scored in both, against different references

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed or self.reference_changed)

    def describe(self) -> str:
        """E.g. "2 files added, 1 removed, 1 reference changed" ("" when nothing changed)."""
        parts = []
        if self.added:
            parts.append(f"{len(self.added)} file{'s' if len(self.added) != 1 else ''} added")
        if self.removed:
            parts.append(f"{len(self.removed)} removed")
        if self.reference_changed:
            parts.append(
                f"{len(self.reference_changed)} reference"
                f"{'s' if len(self.reference_changed) != 1 else ''} changed"
            )
        return ", ".join(parts)


@dataclass(frozen=True)
class Comparison:
    """This run against the previous one, on the files both scored."""

    verdict: str  # REGRESSION | IMPROVED | OK
    common_files: int
    current_wer: float | None  # on the common files
    previous_wer: float | None
    delta: float | None  # current_wer - previous_wer
    ci_low: float | None  # interval of delta
    ci_high: float | None
    confidence: float
    threshold: float
    changes: CorpusChanges = field(default_factory=CorpusChanges)


def _same_reference(now: FileResult, before: FileResult) -> bool:
    if now.reference_sha256 is None or before.reference_sha256 is None:
        return now.ref_words == before.ref_words  # older rows carry no hash: the best we know
    return now.reference_sha256 == before.reference_sha256


def compare_runs(
    current: Mapping[str, FileResult],
    previous: Mapping[str, FileResult],
    *,
    threshold: float,
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Comparison:
    """Compare two runs' scored files (file name -> result) and decide the verdict."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    both = sorted(set(current) & set(previous))
    changed = tuple(f for f in both if not _same_reference(current[f], previous[f]))
    common = [f for f in both if f not in set(changed)]
    changes = CorpusChanges(
        added=tuple(sorted(set(current) - set(previous))),
        removed=tuple(sorted(set(previous) - set(current))),
        reference_changed=changed,
    )
    refs = [current[f].ref_words for f in common]
    total_refs = sum(refs)
    if not common or total_refs == 0:
        return Comparison(
            STEADY, len(common), None, None, None, None, None, confidence, threshold, changes
        )
    differences = [current[f].errors - previous[f].errors for f in common]
    now = sum(current[f].errors for f in common) / total_refs
    before = sum(previous[f].errors for f in common) / total_refs
    delta = sum(differences) / total_refs
    if len(common) == 1:
        low = high = delta
    else:
        low, high, _ = bootstrap_ratio(differences, refs, confidence, resamples, seed)
    return Comparison(
        verdict_of(delta, low, high, threshold),
        len(common),
        now,
        before,
        delta,
        low,
        high,
        confidence,
        threshold,
        changes,
    )


# A rise of exactly the threshold (0.12 - 0.10 in floating point) is not above it.
_EPSILON = 1e-12


def verdict_of(delta: float, low: float, high: float, threshold: float) -> str:
    if delta > threshold + _EPSILON and low > 0:
        return REGRESSION
    if delta < -threshold - _EPSILON and high < 0:
        return IMPROVED
    return STEADY
