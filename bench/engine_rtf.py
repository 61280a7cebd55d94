"""Accuracy, speed and memory of the twin's speech engines, on the sample corpus and human speech.

For each engine: corpus WER (micro-averaged: total errors / total reference words, after Whisper's
English normalizer on both sides), real-time factor (processing seconds / audio seconds) and the
resident memory the loaded model adds. Speed is also shown relative to a baseline measured in the
same run on the same machine, decoding the audio (PyAV), so numbers from a busy or a faster machine
stay comparable. Last, the worker layouts the Transcribe service can use on this machine are timed
on the whole corpus, which is how TranscribeConfig's default was chosen.

Human speech comes from Debian's pocketsphinx-testdata (LibriVox and "cards" clips) when installed.

    .venv/bin/python bench/engine_rtf.py [--engine NAME ...] [--corpus DIR] [--no-layouts]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import jiwer
from whisper_normalizer.english import EnglishTextNormalizer

from emulation.transcribe.audio import decode_media
from emulation.transcribe.engines import EngineOptions, engine_names, get_engine
from emulation.transcribe.service import TranscribeConfig, available_cores

ROOT = Path(__file__).resolve().parent.parent
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".webm", ".mp4"}
TESTDATA = Path("/usr/share/pocketsphinx/test/data")
_normalize = EnglishTextNormalizer()


@dataclass
class Clip:
    name: str
    data: bytes
    reference: str


@dataclass
class Score:
    errors: int = 0
    words: int = 0
    audio_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def wer(self) -> float:
        return self.errors / self.words if self.words else 0.0

    @property
    def rtf(self) -> float:
        return self.seconds / self.audio_seconds if self.audio_seconds else 0.0


def sample_corpus(folder: Path) -> list[Clip]:
    clips = []
    for audio in sorted(folder.iterdir()):
        if audio.suffix in AUDIO_SUFFIXES and audio.with_suffix(".txt").exists():
            reference = audio.with_suffix(".txt").read_text(encoding="utf-8")
            clips.append(Clip(audio.name, audio.read_bytes(), reference))
    return clips


def human_corpus() -> list[Clip]:
    """LibriVox and cards clips with their Sphinx-style transcripts ("<s> text </s> (id)")."""
    clips = []
    for folder, transcripts in (("librivox", "transcription"), ("cards", "cards.transcription")):
        listing = TESTDATA / folder / transcripts
        if not listing.exists():
            continue
        for line in listing.read_text().splitlines():
            match = re.match(r"\s*<s>(.*)</s>\s*\((.+)\)\s*$", line)
            if match:
                audio = TESTDATA / folder / f"{match.group(2)}.wav"
                clips.append(Clip(f"{folder}/{audio.name}", audio.read_bytes(), match.group(1)))
    return clips


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def decode_all(clips: list[Clip]) -> tuple[list, Score]:
    """Decode every clip once; the time it takes is the run's speed baseline."""
    baseline = Score()
    decoded = []
    for clip in clips:
        start = time.perf_counter()
        media = decode_media(clip.data, clip.name)
        baseline.seconds += time.perf_counter() - start
        baseline.audio_seconds += media.seconds
        decoded.append(media)
    return decoded, baseline


def score(engine, clips: list[Clip], decoded: list, verbose: bool) -> Score:
    total = Score()
    for clip, media in zip(clips, decoded, strict=True):
        start = time.perf_counter()
        words = engine.transcribe(media.samples)
        total.seconds += time.perf_counter() - start
        total.audio_seconds += media.seconds
        reference = _normalize(clip.reference)
        hypothesis = _normalize(" ".join(word.text for word in words))
        result = jiwer.process_words(reference, hypothesis)
        errors = result.substitutions + result.deletions + result.insertions
        total.errors += errors
        total.words += len(reference.split())
        if verbose:
            print(f"    {clip.name:34} {errors:2}/{len(reference.split()):2}  {hypothesis}")
    return total


def layouts(clips_decoded: list, cores: int) -> None:
    """Throughput of `workers` concurrent single-engine calls with `threads` each."""
    print(f"\nworker layouts for faster-whisper on {cores} cores (whole sample corpus, twice):")
    audio = [media.samples for media in clips_decoded] * 2
    seconds = sum(media.seconds for media in clips_decoded) * 2
    candidates = sorted({(1, cores), (cores, 1), (max(1, cores // 2), 2 if cores > 1 else 1)})
    for workers, threads in candidates:
        engine = get_engine("faster-whisper", EngineOptions(threads, workers, beam_size=5))
        engine.transcribe(audio[0])
        start = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(engine.transcribe, audio))
        elapsed = time.perf_counter() - start
        print(
            f"  workers={workers} threads={threads}: {elapsed:6.1f} s  RTF {elapsed / seconds:.3f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", action="append", choices=engine_names())
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus" / "sample")
    parser.add_argument("--no-layouts", action="store_true", help="skip the worker-layout timing")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every hypothesis")
    args = parser.parse_args()

    datasets = {"sample corpus (espeak-ng)": sample_corpus(args.corpus)}
    human = human_corpus()
    if human:
        datasets["human speech (pocketsphinx-testdata)"] = human
    else:
        print("pocketsphinx-testdata not installed: human speech skipped (apt-get install it)")
    decoded = {name: decode_all(clips) for name, clips in datasets.items()}

    config = TranscribeConfig()
    options = config.engine_options()
    print(
        f"cores={available_cores()}  service default: workers={config.workers} "
        f"threads={options.threads} beam={options.beam_size}"
    )
    for name, (_media, baseline) in decoded.items():
        print(
            f"{name}: {len(datasets[name])} clips, {baseline.audio_seconds:.1f} s audio; "
            f"baseline decode RTF {baseline.rtf:.4f}"
        )

    for engine_name in args.engine or [config.engine, "pocketsphinx"]:
        before = rss_mb()
        start = time.perf_counter()
        engine = get_engine(engine_name, EngineOptions(threads=available_cores(), beam_size=5))
        first = next(iter(decoded.values()))[0][0]
        engine.transcribe(first.samples)  # some engines allocate on first use
        load = time.perf_counter() - start
        print(f"\n{engine_name}: loaded + first call {load:.1f} s, RSS +{rss_mb() - before:.0f} MB")
        for name, clips in datasets.items():
            media, baseline = decoded[name]
            result = score(engine, clips, media, args.verbose)
            print(
                f"  {name}: WER {result.wer:6.1%} ({result.errors}/{result.words})  "
                f"RTF {result.rtf:.3f}  = {result.rtf / baseline.rtf:.0f}x decode time"
            )
    if not args.no_layouts:
        layouts(next(iter(decoded.values()))[0], available_cores())
    return 0


if __name__ == "__main__":
    sys.exit(main())
