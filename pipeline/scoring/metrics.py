"""Per-file scores of one transcript against its reference, aligned by jiwer.

All measures come from one word alignment (jiwer.process_words) plus one character alignment
(jiwer.process_characters) of the *normalized* texts, so WER, MER, WIL and the S/D/I counts
always agree with each other and with the alignment shown to a reader.
"""

from __future__ import annotations

from dataclasses import dataclass

import jiwer

from pipeline.errors import ScoringError
from pipeline.scoring.normalize import DEFAULT_NORMALIZER, get_normalizer

# Wrap the REF/HYP/marks block so long files stay readable in a notebook.
ALIGNMENT_LINE_WIDTH = 100
_SENTENCE_HEADER = "=== SENTENCE 1 ===\n\n"


class EmptyReferenceError(ScoringError):
    """The reference has no words after normalization, so WER (errors / ref words) is undefined."""


@dataclass(frozen=True)
class FileScore:
    """The measures of one file; ``reference`` and ``hypothesis`` are the normalized texts."""

    wer: float
    mer: float
    wil: float
    cer: float
    accuracy: float
    ref_words: int
    hyp_words: int
    substitutions: int
    deletions: int
    insertions: int
    hits: int
    alignment: str
    reference: str
    hypothesis: str

    @property
    def errors(self) -> int:
        """S + D + I: the numerator that corpus WER sums across files (micro-average)."""
        return self.substitutions + self.deletions + self.insertions


def _normalized(text: str, normalizer: str) -> str:
    # Words are whitespace-separated for every normalizer; jiwer splits on " " only, so tabs
    # and newlines from reference files must become single spaces first.
    return " ".join(get_normalizer(normalizer)(text).split())


def _alignment(words: jiwer.WordOutput) -> str:
    text = jiwer.visualize_alignment(
        words, show_measures=False, skip_correct=False, line_width=ALIGNMENT_LINE_WIDTH
    )
    body = text.removeprefix(_SENTENCE_HEADER)
    return "\n".join(line.rstrip() for line in body.splitlines()).rstrip("\n")


# One aligned position: the operation (equal, substitute, delete, insert) and the two words
# ("" where a side has none).
AlignedWord = tuple[str, str, str]
_MARKS = {"equal": "equal", "substitute": "S", "delete": "D", "insert": "I"}


def aligned_words(
    reference: str, hypothesis: str, normalizer: str = DEFAULT_NORMALIZER
) -> list[AlignedWord]:
    """The word alignment as positions, for a report that lays it out in columns: the same
    normalization and alignment as ``score_file``."""
    ref = _normalized(reference, normalizer)
    hyp = _normalized(hypothesis, normalizer)
    if not ref:
        return [("I", "", word) for word in hyp.split()]
    words = jiwer.process_words(ref, hyp)
    refs, hyps = words.references[0], words.hypotheses[0]
    positions: list[AlignedWord] = []
    for chunk in words.alignments[0]:
        mark = _MARKS[chunk.type]
        ref_part = refs[chunk.ref_start_idx : chunk.ref_end_idx]
        hyp_part = hyps[chunk.hyp_start_idx : chunk.hyp_end_idx]
        for index in range(max(len(ref_part), len(hyp_part))):
            ref_word = ref_part[index] if index < len(ref_part) else ""
            hyp_word = hyp_part[index] if index < len(hyp_part) else ""
            positions.append((mark, ref_word, hyp_word))
    return positions


def score_file(reference: str, hypothesis: str, normalizer: str = DEFAULT_NORMALIZER) -> FileScore:
    """Normalize both texts with ``normalizer`` and score ``hypothesis`` against ``reference``.

    An empty hypothesis is a valid, maximally wrong transcript (every reference word deleted:
    WER 1, CER 1). An empty reference is not scoreable and raises EmptyReferenceError.
    """
    ref = _normalized(reference, normalizer)
    hyp = _normalized(hypothesis, normalizer)
    if not ref:
        shown = reference if len(reference) <= 60 else reference[:57] + "..."
        raise EmptyReferenceError(
            "reference is empty after normalization: WER is undefined "
            f"(normalizer {normalizer!r}, reference {shown!r})"
        )
    words = jiwer.process_words(ref, hyp)
    chars = jiwer.process_characters(ref, hyp)
    return FileScore(
        wer=float(words.wer),
        mer=float(words.mer),
        wil=float(words.wil),
        cer=float(chars.cer),
        accuracy=max(0.0, 1.0 - words.wer),
        ref_words=len(words.references[0]),
        hyp_words=len(words.hypotheses[0]),
        substitutions=words.substitutions,
        deletions=words.deletions,
        insertions=words.insertions,
        hits=words.hits,
        alignment=_alignment(words),
        reference=ref,
        hypothesis=hyp,
    )
