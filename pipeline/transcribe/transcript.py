"""Read Amazon Transcribe's output JSON, as real AWS writes it and as emulators approximate it.

Real AWS writes times and confidences as strings ("4.87"); emulators often write numbers. Both
are accepted. Anything else that breaks the documented shape raises TranscriptError naming the
object, because a half-parsed transcript would silently skew the word error rate.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.errors import PipelineError
from pipeline.transcribe.pacing import describe_error

if TYPE_CHECKING:
    from botocore.client import BaseClient


class TranscriptError(PipelineError):
    """A transcript object is missing, unreadable or not in Transcribe's shape."""

    def __init__(self, key: str | None, problem: str) -> None:
        super().__init__(f"transcript {key or '<unnamed>'}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class TranscriptItem:
    """One entry of ``results.items``: a word (pronunciation) or a punctuation mark."""

    type: str
    content: str
    confidence: float | None
    start_time: float | None
    end_time: float | None


@dataclass(frozen=True)
class Transcript:
    text: str
    items: tuple[TranscriptItem, ...]
    job_name: str | None = None

    @property
    def speech_seconds(self) -> float | None:
        """End time of the last pronunciation item, or None when no word has a time.

        Used as the run's ``audio_seconds``: the output carries no media duration, so this is
        where speech ends, which under-counts trailing silence.
        """
        ends = [
            i.end_time for i in self.items if i.type == "pronunciation" and i.end_time is not None
        ]
        return max(ends) if ends else None


def _number(value: Any, where: str, key: str | None) -> float | None:
    """A time or confidence: number or numeric string (AWS's form); absent gives None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TranscriptError(key, f"{where} {value!r} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise TranscriptError(key, f"{where} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise TranscriptError(key, f"{where} {value!r} is not finite")
    return number


def _item(raw: Any, index: int, key: str | None) -> TranscriptItem:
    where = f"results.items[{index}]"
    if not isinstance(raw, dict):
        raise TranscriptError(key, f"{where} is not an object")
    kind = raw.get("type")
    alternatives = raw.get("alternatives")
    if not isinstance(kind, str):
        raise TranscriptError(key, f"{where}.type is missing")
    if (
        not isinstance(alternatives, list)
        or not alternatives
        or not isinstance(alternatives[0], dict)
    ):
        raise TranscriptError(key, f"{where}.alternatives is missing or empty")
    best = alternatives[0]
    if not isinstance(best.get("content"), str):
        raise TranscriptError(key, f"{where}.alternatives[0].content is missing")
    return TranscriptItem(
        type=kind,
        content=best["content"],
        confidence=_number(best.get("confidence"), f"{where} confidence", key),
        start_time=_number(raw.get("start_time"), f"{where} start_time", key),
        end_time=_number(raw.get("end_time"), f"{where} end_time", key),
    )


def _load(raw: bytes | str | dict[str, Any], key: str | None) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TranscriptError(key, f"not valid JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise TranscriptError(key, "top level is not a JSON object")
    return document


def parse_transcript(raw: bytes | str | dict[str, Any], key: str | None = None) -> Transcript:
    """Parse Transcribe's output; ``key`` (e.g. ``s3://bucket/path.json``) names it in errors."""
    document = _load(raw, key)
    results = document.get("results")
    if not isinstance(results, dict):
        raise TranscriptError(key, "results is missing")
    transcripts = results.get("transcripts")
    if not isinstance(transcripts, list) or not transcripts or not isinstance(transcripts[0], dict):
        raise TranscriptError(key, "results.transcripts is missing or empty")
    text = transcripts[0].get("transcript")
    if not isinstance(text, str):
        raise TranscriptError(key, "results.transcripts[0].transcript is not a string")
    raw_items = results.get("items", [])
    if not isinstance(raw_items, list):
        raise TranscriptError(key, "results.items is not a list")
    items = tuple(_item(raw_item, n, key) for n, raw_item in enumerate(raw_items))
    job_name = document.get("jobName")
    return Transcript(text, items, job_name if isinstance(job_name, str) else None)


def read_transcript(s3: BaseClient, bucket: str, key: str) -> Transcript:
    """Fetch and parse ``s3://bucket/key``; every failure is a TranscriptError naming it."""
    uri = f"s3://{bucket}/{key}"
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise TranscriptError(uri, f"cannot read: {describe_error(exc)}") from exc
    return parse_transcript(body, uri)
