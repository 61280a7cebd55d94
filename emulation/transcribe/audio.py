"""Media bytes -> 16 kHz mono float32, with the checks Amazon Transcribe makes before transcribing.

PyAV (FFmpeg, shipped in its wheel) opens every container Transcribe accepts, so one path serves
wav, flac, mp3, ogg, webm, mp4, amr and m4a. Problems become `JobFailure`s with Transcribe's
FailureReason.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np

from emulation.transcribe.engines import SAMPLE_RATE
from emulation.transcribe.errors import JobFailure

# FFmpeg's demuxer names -> Transcribe's MediaFormat values.
_FORMATS = {
    "wav": "wav",
    "flac": "flac",
    "mp3": "mp3",
    "ogg": "ogg",
    "mov,mp4,m4a,3gp,3g2,mj2": "mp4",
    "matroska,webm": "webm",
    "amr": "amr",
}
# MediaFormat values that name the same container.
_ALIASES = {"m4a": "mp4"}

UNPARSEABLE = "Failed to parse audio file."
UNSUPPORTED = "Unsupported media format."
FORMAT_MISMATCH = "The media format provided does not match the detected media format."
RATE_MISMATCH = "The sample rate provided does not match the detected sample rate."
TOO_LARGE = "Invalid file size: file size too large."  # also for too long, as AWS


def too_short_reason(min_seconds: float) -> str:
    """Twin wording: Transcribe documents a 500 ms minimum but not the reason text it gives."""
    return f"The media is shorter than the minimum duration of {min_seconds:g} seconds."


@dataclass(frozen=True)
class DecodedMedia:
    samples: np.ndarray  # float32, mono, SAMPLE_RATE
    media_format: str  # Transcribe's name for the detected container
    sample_rate: int  # the source's own rate (reported as MediaSampleRateHertz)

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def decode_media(
    data: bytes,
    job_name: str,
    *,
    expected_format: str | None = None,
    expected_rate: int | None = None,
    min_seconds: float = 0.5,
    max_seconds: float = 4 * 3600,
) -> DecodedMedia:
    """Decode and validate like Transcribe: detected format and rate must match what was given."""
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.error.FFmpegError, ValueError) as exc:
        raise JobFailure(job_name, UNPARSEABLE) from exc
    with container:
        if not container.streams.audio:
            raise JobFailure(job_name, UNPARSEABLE)
        detected = _FORMATS.get(container.format.name)
        if detected is None:
            raise JobFailure(job_name, UNSUPPORTED)
        if expected_format and _ALIASES.get(expected_format, expected_format) != detected:
            raise JobFailure(job_name, FORMAT_MISMATCH)
        stream = container.streams.audio[0]
        rate = int(stream.rate or 0)
        if expected_rate and expected_rate != rate:
            raise JobFailure(job_name, RATE_MISMATCH)
        try:
            samples = _resample(container, stream)
        except (av.error.FFmpegError, ValueError) as exc:
            raise JobFailure(job_name, UNPARSEABLE) from exc
    media = DecodedMedia(samples, detected, rate)
    if media.seconds < min_seconds:
        raise JobFailure(job_name, too_short_reason(min_seconds))
    if media.seconds > max_seconds:
        raise JobFailure(job_name, TOO_LARGE)
    return media


def _resample(container: av.container.InputContainer, stream: av.AudioStream) -> np.ndarray:
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    chunks = []
    for frame in container.decode(stream):
        frame.pts = None  # timestamps of some mp3/ogg frames confuse the resampler; order suffices
        chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
    chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)
