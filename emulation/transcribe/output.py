"""Amazon Transcribe's transcript JSON and where it is written, built from an engine's words.

Shape (as AWS writes it): string times and confidences, one `pronunciation` item per word with
times, and separate `punctuation` items (no times, confidence "0.0") for the marks Whisper glues
onto words. `id`s and `audio_segments` follow the current AWS output. Quote marks and brackets are
dropped because Transcribe never emits them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from emulation.transcribe.engines import Word

PUNCTUATION = ".,?!;:"
_DROPPED = "\"'“”‘’()[]{}¿¡«»"


@dataclass(frozen=True)
class OutputLocation:
    bucket: str
    key: str

    def uri(self, region: str) -> str:
        """TranscriptFileUri as GetTranscriptionJob shows it for a customer bucket."""
        return f"https://s3.{region}.amazonaws.com/{self.bucket}/{self.key}"


def customer_output_location(bucket: str, output_key: str | None, job_name: str) -> OutputLocation:
    """AWS's rule: a key ending in .json is the file; any other key is a folder; none -> root."""
    if not output_key:
        return OutputLocation(bucket, f"{job_name}.json")
    if output_key.endswith(".json"):
        return OutputLocation(bucket, output_key)
    return OutputLocation(bucket, f"{output_key.rstrip('/')}/{job_name}.json")


def service_output_location(
    account_id: str, region: str, job_name: str, run: str
) -> OutputLocation:
    """The twin's stand-in for Transcribe's service-managed bucket (same path moto reports)."""
    return OutputLocation(
        f"aws-transcribe-{region}-prod", f"{account_id}/{job_name}/{run}/asrOutput.json"
    )


def _seconds(value: float) -> str:
    return _decimal(value, 3)


def _decimal(value: float, places: int) -> str:
    text = f"{max(value, 0.0):.{places}f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _split(text: str) -> tuple[list[str], str, list[str]]:
    """'"Hello,' -> ([], 'Hello', [',']): leading and trailing marks apart from the word."""
    core = text.strip(_DROPPED)
    lead: list[str] = []
    while core and core[0] in PUNCTUATION + _DROPPED:
        if core[0] in PUNCTUATION:
            lead.append(core[0])
        core = core[1:]
    trail: list[str] = []
    while core and core[-1] in PUNCTUATION + _DROPPED:
        if core[-1] in PUNCTUATION:
            trail.insert(0, core[-1])
        core = core[:-1]
    return lead, core, trail


def transcript_items(words: Sequence[Word]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []

    def punctuation(mark: str) -> None:
        items.append(
            {
                "id": len(items),
                "type": "punctuation",
                "alternatives": [{"confidence": "0.0", "content": mark}],
            }
        )

    for word in words:
        lead, core, trail = _split(word.text)
        if not core:  # a token made only of marks ("..."): keep the marks
            for mark in lead + trail:
                punctuation(mark)
            continue
        for mark in lead:
            punctuation(mark)
        confidence = _decimal(min(max(word.confidence, 0.0), 1.0), 4)
        items.append(
            {
                "id": len(items),
                "type": "pronunciation",
                "alternatives": [{"confidence": confidence, "content": core}],
                "start_time": _seconds(word.start),
                "end_time": _seconds(max(word.end, word.start)),
            }
        )
        for mark in trail:
            punctuation(mark)
    return items


def transcript_text(items: Sequence[dict[str, Any]]) -> str:
    """Words joined by spaces, punctuation attached to the word before it, as AWS prints it."""
    text = ""
    for item in items:
        content = item["alternatives"][0]["content"]
        if item["type"] == "punctuation" or not text:
            text += content
        else:
            text += " " + content
    return text


def transcript_document(job_name: str, account_id: str, words: Sequence[Word]) -> dict[str, Any]:
    items = transcript_items(words)
    text = transcript_text(items)
    timed = [item for item in items if item["type"] == "pronunciation"]
    segments = []
    if timed:
        segments.append(
            {
                "id": 0,
                "transcript": text,
                "start_time": timed[0]["start_time"],
                "end_time": timed[-1]["end_time"],
                "items": [item["id"] for item in items],
            }
        )
    return {
        "jobName": job_name,
        "accountId": account_id,
        "status": "COMPLETED",
        "results": {
            "transcripts": [{"transcript": text}],
            "items": items,
            "audio_segments": segments,
        },
    }
