"""AMR and M4A through the twin's Transcribe: batch jobs accept both (botocore's Transcribe model:
MediaFormat is one of mp3, mp4, wav, flac, ogg, amr, webm, m4a), so the twin decodes them.

The clips are made here from a sample clip with PyAV's own encoders (AAC in an M4A container,
AMR-NB at 8 kHz), then transcribed by the real engine and read back from S3.
"""

from __future__ import annotations

import io
import json
import wave
from collections.abc import Iterator
from pathlib import Path

import av
import jiwer
import numpy as np
import pytest
from whisper_normalizer.english import EnglishTextNormalizer

from emulation.core.twin import Twin
from emulation.transcribe.audio import FORMAT_MISMATCH, decode_media
from emulation.transcribe.errors import JobFailure
from emulation.transcribe.service import TranscribeConfig, TranscribeService
from pipeline.transcribe import AUDIO_FORMATS

pytestmark = pytest.mark.speech

CLIP = Path(__file__).resolve().parents[3] / "corpus" / "sample" / "clip01_nightly_run.wav"
# (container, encoder, sample rate, MediaFormat)
ENCODINGS = {
    "m4a": ("ipod", "aac", 16_000, "m4a"),
    "amr": ("amr", "libopencore_amrnb", 8_000, "amr"),
}


def clip_samples() -> tuple[np.ndarray, int]:
    with wave.open(str(CLIP)) as source:
        assert source.getnchannels() == 1 and source.getsampwidth() == 2
        pcm = np.frombuffer(source.readframes(source.getnframes()), dtype=np.int16)
        return pcm.astype(np.float32) / 32768.0, source.getframerate()


def encode(extension: str) -> bytes:
    """The sample clip encoded as ``extension`` (m4a or amr) by PyAV."""
    container, codec, rate, _ = ENCODINGS[extension]
    samples, source_rate = clip_samples()
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as output:
        stream = output.add_stream(codec, rate=rate)
        stream.layout = "mono"
        sample_format = stream.codec_context.codec.audio_formats[0].name
        resampler = av.AudioResampler(format=sample_format, layout="mono", rate=rate)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = source_rate
        for converted in [*resampler.resample(frame), *resampler.resample(None)]:
            output.mux(stream.encode(converted))
        output.mux(stream.encode(None))
    return buffer.getvalue()


def test_discovery_sends_amr_and_m4a_with_their_own_media_format() -> None:
    assert AUDIO_FORMATS["amr"] == "amr"
    assert AUDIO_FORMATS["m4a"] == "m4a"


@pytest.mark.parametrize("extension", sorted(ENCODINGS))
def test_the_engine_decodes_amr_and_m4a(extension: str) -> None:
    data = encode(extension)
    _, _, rate, media_format = ENCODINGS[extension]
    samples, source_rate = clip_samples()

    media = decode_media(data, "job", expected_format=media_format)

    assert media.sample_rate == rate
    # AAC adds its encoder delay and pads the last frame: about 0.1 s.
    assert media.seconds == pytest.approx(len(samples) / source_rate, abs=0.2)
    other = "amr" if extension == "m4a" else "m4a"
    with pytest.raises(JobFailure, match=FORMAT_MISMATCH):
        decode_media(data, "job", expected_format=other)


@pytest.fixture(scope="module")
def aws() -> Iterator[Twin]:
    twin = Twin()
    twin.add_part("transcribe", TranscribeService(twin, TranscribeConfig(workers=2)))
    twin.start()
    yield twin
    twin.stop()


def test_amr_and_m4a_jobs_complete_with_a_usable_transcript(aws: Twin) -> None:
    s3, transcribe = aws.client("s3"), aws.client("transcribe")
    s3.create_bucket(Bucket="media")
    s3.create_bucket(Bucket="results")
    for extension in ENCODINGS:
        s3.put_object(Bucket="media", Key=f"clip.{extension}", Body=encode(extension))
        transcribe.start_transcription_job(
            TranscriptionJobName=f"clip-{extension}",
            LanguageCode="en-US",
            MediaFormat=ENCODINGS[extension][3],
            Media={"MediaFileUri": f"s3://media/clip.{extension}"},
            OutputBucketName="results",
            OutputKey=f"clip-{extension}.json",
        )
    service = aws.part(TranscribeService)
    assert service.wait_idle(120)
    normalize = EnglishTextNormalizer()
    reference = normalize(CLIP.with_suffix(".txt").read_text(encoding="utf-8"))
    for extension in ENCODINGS:
        job = transcribe.get_transcription_job(TranscriptionJobName=f"clip-{extension}")
        assert job["TranscriptionJob"]["TranscriptionJobStatus"] == "COMPLETED", job
        assert job["TranscriptionJob"]["MediaFormat"] == ENCODINGS[extension][3]
        body = s3.get_object(Bucket="results", Key=f"clip-{extension}.json")["Body"].read()
        text = json.loads(body)["results"]["transcripts"][0]["transcript"]
        assert jiwer.wer(reference, normalize(text)) < 0.5, (extension, text)
