"""Text normalizers applied to both reference and hypothesis before alignment, chosen by name.

WER depends as much on normalization as on the recognizer, so the normalizer is a named,
configurable part of scoring rather than an implicit step. The default, "english", is the open
ASR leaderboard convention (Whisper's EnglishTextNormalizer), so our numbers are comparable.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from whisper_normalizer.basic import BasicTextNormalizer
from whisper_normalizer.english import EnglishTextNormalizer

from pipeline.errors import ConfigurationError

Normalizer = Callable[[str], str]

DEFAULT_NORMALIZER = "english"


def _identity(text: str) -> str:
    return text


def _build_english() -> Normalizer:
    """Whisper's English normalizer, minus the lone symbols it sometimes leaves behind.

    Upstream turns "and then..." into "and then ." and a lone "$" or "%" survives as a word;
    such tokens are not speech and would count as errors against any recognizer. Dropping
    tokens with no letter or digit fixes that without touching "$5", "10%" or "1960s".
    """
    english = EnglishTextNormalizer()

    def normalize(text: str) -> str:
        return " ".join(t for t in english(text).split() if any(c.isalnum() for c in t))

    return normalize


_BUILDERS: dict[str, Callable[[], Normalizer]] = {
    "none": lambda: _identity,
    "basic": BasicTextNormalizer,
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
