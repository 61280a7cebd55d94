"""Amazon Transcribe's transcript JSON and where it is written, built from an engine's words.

Shape (as AWS writes it): string times and confidences, one `pronunciation` item per word with
times, and separate `punctuation` items (no times, confidence "0.0") for the marks Whisper glues
onto words. Quote marks and brackets are dropped because Transcribe never emits them.

Times follow real outputs: milliseconds written with up to 3 decimals ("0.039", "18.0"), every
word at least 10 ms long (real outputs have no word with start = end; the shortest last 9-10 ms),
words in order without overlap, all within the media. Confidences have 3 decimals ("0.983").

`audio_segments` (id, transcript, start_time, end_time, items as ids) break at a pause, as in
real outputs; AWS does not document its rule, so the twin breaks where words are at least
`PAUSE_SECONDS` apart. With ShowSpeakerLabels the twin has no diarization (no light offline
diarizer runs here without downloading a model), so the whole file is one speaker, ``spk_0``:
items and segments carry ``speaker_label`` and ``speaker_labels`` follows the documented shape
(Example diarization output (batch), Amazon Transcribe developer guide).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from emulation.transcribe.engines import Word

PUNCTUATION = ".,?!;:"
_DROPPED = "\"'“”‘’()[]{}¿¡«»"
MIN_WORD_MS = 10
PAUSE_SECONDS = 1.0
SPEAKER = "spk_0"
CHANNEL = "ch_0"


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


def _seconds(milliseconds: int) -> str:
    """1500 -> "1.5", 18000 -> "18.0", 39 -> "0.039"."""
    return _decimal(milliseconds / 1000, 3)


def _decimal(value: float, places: int) -> str:
    text = f"{max(value, 0.0):.{places}f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def word_spans(words: Sequence[Word], media_seconds: float | None) -> list[tuple[int, int]]:
    """Each word's (start, end) in ms: ordered, no overlap, >= MIN_WORD_MS, within the media."""
    spans: list[list[int]] = []
    floor = 0
    for word in words:
        start = max(round(word.start * 1000), floor)
        end = max(round(word.end * 1000), start + MIN_WORD_MS)
        spans.append([start, end])
        floor = end
    if media_seconds is not None:
        limit = round(media_seconds * 1000)
        for span in reversed(spans):
            span[1] = min(span[1], limit)
            span[0] = max(0, min(span[0], span[1] - MIN_WORD_MS))
            limit = span[0]
    return [(start, end) for start, end in spans]


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


def transcript_items(
    words: Sequence[Word], media_seconds: float | None = None, *, speaker: str | None = None
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []

    def punctuation(mark: str) -> None:
        items.append(
            {
                "id": len(items),
                "type": "punctuation",
                "alternatives": [{"confidence": "0.0", "content": mark}],
            }
        )

    for word, (start, end) in zip(words, word_spans(words, media_seconds), strict=True):
        lead, core, trail = _split(word.text)
        if not core:  # a token made only of marks ("..."): keep the marks
            for mark in lead + trail:
                punctuation(mark)
            continue
        for mark in lead:
            punctuation(mark)
        item: dict[str, Any] = {
            "id": len(items),
            "type": "pronunciation",
            "alternatives": [
                {"confidence": _decimal(min(max(word.confidence, 0.0), 1.0), 3), "content": core}
            ],
            "start_time": _seconds(start),
            "end_time": _seconds(end),
        }
        if speaker:
            item["speaker_label"] = speaker
        items.append(item)
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


def _groups(items: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Items cut into runs at pauses; punctuation stays with the word before it."""
    groups: list[list[dict[str, Any]]] = [[]]
    last_end: float | None = None
    for item in items:
        if item["type"] == "pronunciation":
            start = float(item["start_time"])
            if last_end is not None and start - last_end >= PAUSE_SECONDS:
                groups.append([])
            last_end = float(item["end_time"])
        groups[-1].append(item)
    return [group for group in groups if any(i["type"] == "pronunciation" for i in group)]


def audio_segments(
    items: Sequence[dict[str, Any]], *, speaker: str | None = None
) -> list[dict[str, Any]]:
    segments = []
    for group in _groups(items):
        timed = [item for item in group if item["type"] == "pronunciation"]
        segment: dict[str, Any] = {
            "id": len(segments),
            "transcript": transcript_text(group),
            "start_time": timed[0]["start_time"],
            "end_time": timed[-1]["end_time"],
        }
        if speaker:
            segment["speaker_label"] = speaker
        segment["items"] = [item["id"] for item in group]
        segments.append(segment)
    return segments


def speaker_labels(items: Sequence[dict[str, Any]], speaker: str) -> dict[str, Any]:
    """The `speaker_labels` block for one speaker: a segment per run of speech."""
    segments = []
    for group in _groups(items):
        timed = [item for item in group if item["type"] == "pronunciation"]
        segments.append(
            {
                "start_time": timed[0]["start_time"],
                "speaker_label": speaker,
                "end_time": timed[-1]["end_time"],
                "items": [
                    {
                        "start_time": item["start_time"],
                        "speaker_label": speaker,
                        "end_time": item["end_time"],
                    }
                    for item in timed
                ],
            }
        )
    return {"channel_label": CHANNEL, "speakers": 1 if segments else 0, "segments": segments}


def transcript_document(
    job_name: str,
    account_id: str,
    words: Sequence[Word],
    media_seconds: float | None = None,
    *,
    show_speaker_labels: bool = False,
) -> dict[str, Any]:
    speaker = SPEAKER if show_speaker_labels else None
    items = transcript_items(words, media_seconds, speaker=speaker)
    results: dict[str, Any] = {"transcripts": [{"transcript": transcript_text(items)}]}
    if speaker:
        results["speaker_labels"] = speaker_labels(items, speaker)
    results["items"] = items
    results["audio_segments"] = audio_segments(items, speaker=speaker)
    return {"jobName": job_name, "accountId": account_id, "status": "COMPLETED", "results": results}
