"""The Transcribe engine's S3 when the twin serves beside another backend (TWIN=localstack).

Beside LocalStack the media and the results buckets are LocalStack's, so the engine must read
and write there, not in the twin's own moto. A moto server in its own process plays the other
backend (its state is not the twin's); a real speech engine (PocketSphinx, light) runs the job.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulation.core.backends import EmbeddedBackend, EnvClients
from emulation.core.twin import Twin
from emulation.transcribe.service import TranscribeConfig, TranscribeService
from emulation.transcribe.storage import MEDIA_NOT_FOUND

pytestmark = pytest.mark.speech

CLIP = Path(__file__).resolve().parents[2] / "corpus" / "sample" / "clip01_nightly_run.wav"


@pytest.fixture(scope="module")
def twin(standalone_moto: str) -> Iterator[Twin]:
    twin = Twin()
    config = TranscribeConfig(
        engine="pocketsphinx", workers=1, aws_env=EmbeddedBackend().client_env(standalone_moto)
    )
    twin.add_part("transcribe", TranscribeService(twin, config))
    twin.start()
    yield twin
    twin.stop()


@pytest.fixture
def backend_s3(twin: Twin, other_aws: dict[str, str]) -> Any:
    twin.reset()
    s3 = EnvClients(other_aws).client("s3")
    for bucket in ("media", "results"):
        s3.create_bucket(Bucket=bucket)
    return s3


def wait_for_end(twin: Twin, name: str, timeout: float = 60.0) -> dict[str, Any]:
    transcribe = twin.client("transcribe")
    deadline = time.monotonic() + timeout
    while True:
        job = transcribe.get_transcription_job(TranscriptionJobName=name)["TranscriptionJob"]
        if job["TranscriptionJobStatus"] in ("COMPLETED", "FAILED"):
            return job
        assert time.monotonic() < deadline, f"job {name} still {job['TranscriptionJobStatus']}"
        time.sleep(0.1)


def start(twin: Twin, name: str) -> None:
    twin.client("transcribe").start_transcription_job(
        TranscriptionJobName=name,
        LanguageCode="en-US",
        Media={"MediaFileUri": "s3://media/clip01.wav"},
        OutputBucketName="results",
        OutputKey=f"transcripts/{name}.json",
    )


def test_media_is_read_and_the_transcript_written_in_the_backends_s3(
    twin: Twin, backend_s3: Any
) -> None:
    backend_s3.put_object(Bucket="media", Key="clip01.wav", Body=CLIP.read_bytes())

    start(twin, "routed")
    job = wait_for_end(twin, "routed")

    assert job["TranscriptionJobStatus"] == "COMPLETED", job.get("FailureReason")
    body = backend_s3.get_object(Bucket="results", Key="transcripts/routed.json")["Body"].read()
    transcript = json.loads(body)
    assert transcript["jobName"] == "routed"
    assert transcript["results"]["transcripts"][0]["transcript"].strip()
    assert twin.client("s3").list_buckets()["Buckets"] == []  # nothing in the twin's own S3


def test_media_only_in_the_twins_own_s3_is_not_found(twin: Twin, backend_s3: Any) -> None:
    own = twin.client("s3")
    own.create_bucket(Bucket="media")
    own.put_object(Bucket="media", Key="clip01.wav", Body=CLIP.read_bytes())

    start(twin, "not-routed")
    job = wait_for_end(twin, "not-routed")

    assert job["TranscriptionJobStatus"] == "FAILED"
    assert job["FailureReason"] == MEDIA_NOT_FOUND
