"""The Transcribe twin driven over boto3, shared by this folder's test modules (``aws``).

One twin per module (only one may be installed per process); the Whisper model is loaded once
per process by the engine registry. Each test starts from an empty AWS (twin.reset()). Test
modules reach the helpers through the fixture only (conftest modules are not importable).
"""

from __future__ import annotations

import io
import json
import time
import urllib.parse
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from emulation.core.twin import Twin
from emulation.transcribe.service import TranscribeConfig, TranscribeService

MEDIA, OUT = "media", "results"


@dataclass
class TranscribeAws:
    twin: Twin
    service: TranscribeService
    s3: Any
    transcribe: Any
    media_bucket: str = MEDIA
    output_bucket: str = OUT

    def upload(self, path: Path, key: str | None = None) -> str:
        key = key or path.name
        self.s3.put_object(Bucket=MEDIA, Key=key, Body=path.read_bytes())
        return key

    def start(self, name: str, key: str, **kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("LanguageCode", "en-US")
        kwargs.setdefault("OutputBucketName", OUT)
        return self.transcribe.start_transcription_job(
            TranscriptionJobName=name, Media={"MediaFileUri": f"s3://{MEDIA}/{key}"}, **kwargs
        )["TranscriptionJob"]

    def get(self, name: str) -> dict[str, Any]:
        return self.transcribe.get_transcription_job(TranscriptionJobName=name)["TranscriptionJob"]

    def wait(self, name: str, timeout: float = 60.0) -> tuple[dict[str, Any], list[str]]:
        """Poll like a client does; return the final job and the distinct statuses seen."""
        jobs, histories = self.watch([name], timeout)
        return jobs[name], histories[name]

    def watch(
        self, names: list[str], timeout: float = 60.0
    ) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
        """Poll several jobs in turn until all have ended; final jobs and statuses seen."""
        histories: dict[str, list[str]] = {name: [] for name in names}
        jobs: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while len(jobs) < len(names):
            if time.monotonic() > deadline:
                raise AssertionError(f"jobs still running after {timeout} s: {histories}")
            for name in names:
                if name in jobs:
                    continue
                job = self.get(name)
                status = job["TranscriptionJobStatus"]
                if not histories[name] or histories[name][-1] != status:
                    histories[name].append(status)
                if status in ("COMPLETED", "FAILED"):
                    jobs[name] = job
            time.sleep(0.02)
        return jobs, histories

    def transcript(self, job: dict[str, Any]) -> dict[str, Any]:
        """The transcript a COMPLETED job points to, read from the twin's S3."""
        uri = urllib.parse.urlsplit(job["Transcript"]["TranscriptFileUri"])
        bucket, _, key = uri.path.lstrip("/").partition("/")
        return json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def output_keys(self) -> list[str]:
        return sorted(o["Key"] for o in self.s3.list_objects_v2(Bucket=OUT).get("Contents", []))

    def put_wav(self, key: str, pcm: bytes, rate: int = 16000) -> str:
        """Upload 16-bit mono PCM samples as a WAV file; its key."""
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(pcm)
        self.s3.put_object(Bucket=MEDIA, Key=key, Body=buffer.getvalue())
        return key

    @staticmethod
    def error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
        """The code and message of the ClientError a call raised."""
        error = excinfo.value.response["Error"]
        return error["Code"], error["Message"]


@pytest.fixture(scope="module")
def twin_and_service() -> Iterator[tuple[Twin, TranscribeService]]:
    twin = Twin()
    service = TranscribeService(twin, TranscribeConfig(workers=2))
    twin.add_part("transcribe", service)
    twin.start()
    yield twin, service
    twin.stop()


@pytest.fixture
def aws(twin_and_service: tuple[Twin, TranscribeService]) -> Iterator[TranscribeAws]:
    twin, service = twin_and_service
    s3 = twin.client("s3")
    s3.create_bucket(Bucket=MEDIA)
    s3.create_bucket(Bucket=OUT)
    # No retries: a throttled call must surface as the error a client sees, not be retried away.
    client = twin.client("transcribe", retries={"total_max_attempts": 1})
    yield TranscribeAws(twin, service, s3, client)
    assert service.wait_idle(60), "jobs still running at the end of the test"
    twin.reset()
