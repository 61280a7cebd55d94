"""Text normalizers applied to both reference and hypothesis before alignment, chosen by name.

WER depends as much on normalization as on the recognizer, so the normalizer is a named,
configurable part of scoring rather than an implicit step. The default, "english", is the open
ASR leaderboard convention (Whisper's EnglishTextNormalizer), so our numbers are comparable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from whisper_normalizer.basic import BasicTextNormalizer
from whisper_normalizer.english import EnglishTextNormalizer

from pipeline.errors import ConfigurationError

Normalizer = Callable[[str], str]

DEFAULT_NORMALIZER = "english"


# A reference typed in a word processor has typographic quotes and dashes where a recognizer
# writes ASCII ones. Whisper's normalizers expand "don't" but split "don’t" into "don t", so
# equal text would score errors (3 of them in "I don’t know what it’s for").
_TYPOGRAPHY = str.maketrans(
    {
        "’": "'",  # right single quote, the usual typographic apostrophe
        "‘": "'",
        "‛": "'",
        "ʼ": "'",  # modifier letter apostrophe
        "′": "'",  # prime
        "“": '"',
        "”": '"',
        "„": '"',
        "″": '"',
        "‒": "-",  # figure dash
        "–": "-",  # en dash: "twenty–one" is "twenty-one"
        "—": " - ",  # em dash: a pause between words, never inside one
        "−": "-",  # minus sign
    }
)
# Whisper's number normalizer reads the "o" of "o'clock" as a zero ("ten o'clock" -> "100
# clock", "five o'clock" -> "50 clock"), which turns "ten o'clock" against "10 oclock" into
# errors; one spelling avoids it.
_O_CLOCK = re.compile(r"\bo\s*'\s*clock\b", re.IGNORECASE)
# "50¢" stays "50¢" while "fifty cents" and "50 cents" become "¢50".
_CENTS_SIGN = re.compile(r"(\d)\s*¢")
# "3 p.m." becomes "3 p m" while "3 pm" stays "3 pm".
_MERIDIEM = re.compile(r"\b([ap])\.\s?m\b\.?", re.IGNORECASE)


def fold_conventions(text: str) -> str:
    """Spellings that mean the same, made one, before Whisper's normalizer (see above)."""
    text = text.translate(_TYPOGRAPHY)
    text = _O_CLOCK.sub("oclock", text)
    text = _CENTS_SIGN.sub(r"\1 cents", text)
    return _MERIDIEM.sub(lambda match: match[1] + "m", text)


def _identity(text: str) -> str:
    return text


def _build_basic() -> Normalizer:
    basic = BasicTextNormalizer()
    return lambda text: basic(fold_conventions(text))


def _build_english() -> Normalizer:
    """Whisper's English normalizer after ``fold_conventions``, minus the lone symbols it
    sometimes leaves behind.

    Upstream turns "and then..." into "and then ." and a lone "$" or "%" survives as a word;
    such tokens are not speech and would count as errors against any recognizer. Dropping
    tokens with no letter or digit fixes that without touching "$5", "10%" or "1960s".
    """
    english = EnglishTextNormalizer()

    def normalize(text: str) -> str:
        tokens = english(fold_conventions(text)).split()
        return " ".join(t for t in tokens if any(c.isalnum() for c in t))

    return normalize


_BUILDERS: dict[str, Callable[[], Normalizer]] = {
    "none": lambda: _identity,
    "basic": _build_basic,
    "english": _build_english,
}

NORMALIZER_NAMES: tuple[str, ...] = tuple(_BUILDERS)


def get_normalizer(name: str = DEFAULT_NORMALIZER) -> Normalizer:
    """Return the normalizer called ``name``, built once and shared (construction is not free)."""
    if name not in _BUILDERS:
        valid = ", ".join(NORMALIZER_NAMES)
        raise ConfigurationError(f"unknown normalizer {name!r}; valid names: {valid}")
    return _build(name)


@cache
def _build(name: str) -> Normalizer:
    return _BUILDERS[name]()
