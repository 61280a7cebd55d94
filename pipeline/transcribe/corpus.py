"""Find the corpus in S3: pair each audio object with its same-stem ``.txt`` reference.

Pairing happens once, up front, so that every audio file yields exactly one result later, even
when its reference is missing (the caller scores it as ``failed: missing reference``).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipeline.errors import EmptyCorpusError

if TYPE_CHECKING:
    from botocore.client import BaseClient

# Extension (lower case, no dot) -> Transcribe MediaFormat: every value batch jobs accept
# (botocore's Transcribe model, MediaFormat: mp3, mp4, wav, flac, ogg, amr, webm, m4a).
AUDIO_FORMATS: dict[str, str] = {
    "wav": "wav",
    "flac": "flac",
    "mp3": "mp3",
    "ogg": "ogg",
    "webm": "webm",
    "mp4": "mp4",
    "amr": "amr",
    "m4a": "m4a",
}
REFERENCE_EXTENSION = "txt"


@dataclass(frozen=True)
class CorpusItem:
    """One audio object. ``file`` and ``stem`` are relative to the corpus prefix; ``size`` is
    its length in bytes (None: not known), which orders the jobs (longest first)."""

    file: str
    stem: str
    audio_key: str
    reference_key: str | None
    media_format: str
    size: int | None = None


@dataclass(frozen=True)
class Corpus:
    """What lies under a prefix: paired audio, references without audio, everything else.

    ``prefix`` is the normalized folder (``"corpus/"``); the lists hold keys relative to it.
    """

    bucket: str
    prefix: str
    items: list[CorpusItem]
    orphan_references: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def split_extension(file: str) -> tuple[str, str]:
    """``"sub/a.MP3"`` -> ``("sub/a", "mp3")``; a file without an extension gives ``(file, "")``."""
    stem, dot_ext = posixpath.splitext(file)
    return stem, dot_ext[1:].lower()


def normalize_prefix(prefix: str) -> str:
    """Treat the prefix as a folder, so ``corpus`` never matches ``corpus-old/``."""
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""


def _prefer_reference(current: str | None, candidate: str) -> str:
    """Of two references for one stem (``a.TXT``, ``a.txt``), keep the lower-case ``.txt``."""
    if current is None or (candidate.endswith(".txt") and not current.endswith(".txt")):
        return candidate
    return current


def list_keys(s3: BaseClient, bucket: str, prefix: str) -> dict[str, int]:
    """Every object key under ``prefix`` (all pages), without folder markers, with its size."""
    keys: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if not obj["Key"].endswith("/"):
                keys[obj["Key"]] = int(obj.get("Size", 0))
    return keys


def discover_corpus(s3: BaseClient, bucket: str, prefix: str) -> Corpus:
    """List ``s3://bucket/prefix/`` and pair audio with references.

    Two audio files with one stem (``a.wav``, ``a.mp3``) both pair with ``a.txt``. Raises
    EmptyCorpusError (a CorpusError) when nothing (or no audio at all) lies under the prefix,
    since a run over an empty corpus would otherwise report a meaningless "OK".
    """
    folder = normalize_prefix(prefix)
    keys = list_keys(s3, bucket, folder)
    if not keys:
        raise EmptyCorpusError(
            f"no objects under s3://{bucket}/{folder} (bucket {bucket!r}, prefix {prefix!r})",
            bucket=bucket,
            prefix=folder,
        )

    audio: list[tuple[str, str, str]] = []  # (file, stem, ext)
    references: dict[str, str] = {}  # stem -> file
    ignored: list[str] = []
    for key in sorted(keys):
        file = key[len(folder) :]
        stem, ext = split_extension(file)
        if ext in AUDIO_FORMATS:
            audio.append((file, stem, ext))
        elif ext == REFERENCE_EXTENSION:
            current = references.get(stem)
            references[stem] = _prefer_reference(current, file)
            if current is not None:  # the loser of the two is listed, not silently dropped
                ignored.append(file if references[stem] == current else current)
        else:
            ignored.append(file)

    if not audio:
        raise EmptyCorpusError(
            f"no audio ({', '.join(AUDIO_FORMATS)}) under s3://{bucket}/{folder}: "
            f"{len(references)} references and {len(ignored)} other files only",
            bucket=bucket,
            prefix=folder,
        )

    items = [
        CorpusItem(
            file=file,
            stem=stem,
            audio_key=folder + file,
            reference_key=folder + references[stem] if stem in references else None,
            media_format=AUDIO_FORMATS[ext],
            size=keys[folder + file],
        )
        for file, stem, ext in audio
    ]
    audio_stems = {stem for _, stem, _ in audio}
    orphans = sorted(file for stem, file in references.items() if stem not in audio_stems)
    return Corpus(bucket, folder, items, orphans, sorted(ignored))
