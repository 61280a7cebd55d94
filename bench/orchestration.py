"""Transcribe orchestration at Amazon's quotas: the makespan of a large corpus against its bound.

A discrete-event simulation: the real orchestrator (``pipeline.transcribe.transcribe_corpus``)
runs unchanged against a fake Transcribe that keeps AWS's quotas on a virtual clock (250
concurrent jobs per account, StartTranscriptionJob 25/s, GetTranscriptionJob 30/s,
ListTranscriptionJobs 5/s, each refused with AWS's error past its limit), with job durations
drawn from a log-normal distribution of mean 56 s. Virtual time makes 5,000 files of real
durations take seconds to simulate, and the same seed gives the same run.

The bound is what no orchestrator can beat: every job's duration spread over the free slots,
or the starts at 25 per second plus the shortest job, or the longest job, whichever is larger.
Printed for the shipped defaults (RunConfig, the template's MaxJobsInFlight), alone in the
account and with another tenant holding 100 of its 250 slots.

    .venv/bin/python bench/orchestration.py [--files 5000] [--seed 7]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
import sys
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.run_inputs import RunConfig  # noqa: E402
from pipeline.transcribe.corpus import CorpusItem  # noqa: E402
from pipeline.transcribe.orchestrator import transcribe_corpus  # noqa: E402
from pipeline.transcribe.pacing import TokenBucket  # noqa: E402

QUOTA = 250  # concurrent jobs per account and region (AWS default)
START_TPS, GET_TPS, LIST_TPS = 25.0, 30.0, 5.0
MEAN_SECONDS = 56.0
TRANSCRIPT = json.dumps(
    {
        "jobName": "x",
        "results": {
            "transcripts": [{"transcript": "hello"}],
            "items": [
                {
                    "type": "pronunciation",
                    "start_time": "0.1",
                    "end_time": "0.5",
                    "alternatives": [{"confidence": "0.9", "content": "hello"}],
                }
            ],
        },
    }
).encode()


class Clock:
    """Virtual time: sleeping moves it on at once."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


def _refused(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@dataclass
class FakeTranscribe:
    """Transcribe's batch API with its quotas; another tenant may hold some of the slots."""

    clock: Clock
    durations: dict[str, float]  # media URI -> how long its job takes
    other_tenant: int = 0
    jobs: dict[str, tuple[float, float, str]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._start = TokenBucket(START_TPS, burst=START_TPS, clock=self.clock)
        self._get = TokenBucket(GET_TPS, burst=GET_TPS, clock=self.clock)
        self._list = TokenBucket(LIST_TPS, burst=LIST_TPS, clock=self.clock)

    def running(self) -> int:
        now = self.clock()
        return sum(1 for start, end, _ in self.jobs.values() if end > now) + self.other_tenant

    def start_transcription_job(self, **request: Any) -> dict[str, Any]:
        self.calls["StartTranscriptionJob"] += 1
        if not self._start.take():
            raise _refused("ThrottlingException", "Rate exceeded", "StartTranscriptionJob")
        name = request["TranscriptionJobName"]
        if name in self.jobs:
            raise _refused("ConflictException", "job exists", "StartTranscriptionJob")
        if self.running() >= QUOTA:
            raise _refused(
                "LimitExceededException",
                "You have too many jobs running at the same time.",
                "StartTranscriptionJob",
            )
        now, uri = self.clock(), request["Media"]["MediaFileUri"]
        self.jobs[name] = (now, now + self.durations[uri], uri)
        return {"TranscriptionJob": {"TranscriptionJobStatus": "IN_PROGRESS"}}

    def get_transcription_job(self, TranscriptionJobName: str) -> dict[str, Any]:
        self.calls["GetTranscriptionJob"] += 1
        if not self._get.take():
            raise _refused("ThrottlingException", "Rate exceeded", "GetTranscriptionJob")
        _start, end, uri = self.jobs[TranscriptionJobName]
        status = "COMPLETED" if self.clock() >= end else "IN_PROGRESS"
        return {
            "TranscriptionJob": {
                "TranscriptionJobName": TranscriptionJobName,
                "TranscriptionJobStatus": status,
                "Media": {"MediaFileUri": uri},
            }
        }

    def list_transcription_jobs(self, **request: Any) -> dict[str, Any]:
        """Newest first (AWS: by creation date), 100 a page at most, token = an offset."""
        self.calls["ListTranscriptionJobs"] += 1
        if not self._list.take():
            raise _refused("ThrottlingException", "Rate exceeded", "ListTranscriptionJobs")
        now, wanted = self.clock(), request.get("Status")
        needle = request.get("JobNameContains", "").lower()
        names = [
            name
            for name, (start, end, _) in sorted(self.jobs.items(), key=lambda j: -j[1][0])
            if needle in name.lower()
            and (wanted is None or wanted == ("IN_PROGRESS" if end > now else "COMPLETED"))
        ]
        offset = int(request.get("NextToken") or 0)
        size = request.get("MaxResults", 5)
        page = names[offset : offset + size]
        response: dict[str, Any] = {
            "TranscriptionJobSummaries": [
                {"TranscriptionJobName": n, "TranscriptionJobStatus": wanted} for n in page
            ]
        }
        if offset + size < len(names):
            response["NextToken"] = str(offset + size)
        return response


class FakeS3:
    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        return {"Body": io.BytesIO(TRANSCRIPT)}


def durations(files: int, seed: int) -> list[float]:
    """Log-normal job durations of mean MEAN_SECONDS (sigma 0.6: most 20 s to 2 min)."""
    rng = random.Random(seed)
    sigma = 0.6
    mu = math.log(MEAN_SECONDS) - sigma**2 / 2
    return [rng.lognormvariate(mu, sigma) for _ in range(files)]


def sizes(times: list[float], seed: int) -> list[int]:
    """Media sizes that follow the job durations only roughly (bitrates and speech differ):
    a 32 kB/s file, off by up to 30% either way."""
    rng = random.Random(seed + 1)
    return [int(t * 32_000 * rng.uniform(0.7, 1.3)) for t in times]


def bound(times: list[float], slots: int) -> float:
    return max(sum(times) / slots, len(times) / START_TPS + min(times), max(times))


@dataclass(frozen=True)
class Outcome:
    label: str
    makespan: float
    bound: float
    calls_per_job: float
    ok: int
    files: int


def simulate(label: str, files: int, seed: int, other_tenant: int, **settings: Any) -> Outcome:
    clock = Clock()
    times = durations(files, seed)
    items = [
        CorpusItem(f"f{n:05d}.wav", f"f{n:05d}", f"corpus/f{n:05d}.wav", None, "wav", size)
        for n, size in enumerate(sizes(times, seed))
    ]
    by_uri = {f"s3://media/{item.audio_key}": t for item, t in zip(items, times, strict=True)}
    transcribe = FakeTranscribe(clock, by_uri, other_tenant)
    results = transcribe_corpus(
        items,
        transcribe=transcribe,  # type: ignore[arg-type]
        s3=FakeS3(),  # type: ignore[arg-type]
        media_bucket="media",
        output_bucket="results",
        run_id="2026-11-24T20-00-00Z-3fa9c1",
        clock=clock,
        sleep=clock.sleep,
        **settings,
    )
    ok = sum(1 for r in results if r.status == "ok")
    calls = sum(transcribe.calls.values()) / files
    return Outcome(label, clock.now, bound(times, QUOTA - other_tenant), calls, ok, files)


def shipped_settings() -> dict[str, Any]:
    """What a deployed stack runs with: RunConfig's defaults and the template's MaxJobsInFlight."""
    from deploy.template import load_template

    defaults = {f.name: f.default for f in fields(RunConfig)}
    max_in_flight = int(load_template()["Parameters"]["MaxJobsInFlight"]["Default"])
    return {"max_in_flight": max_in_flight, "poll_interval": float(defaults["poll_interval"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    settings = shipped_settings()
    print(f"shipped defaults: {settings}; quotas: {QUOTA} jobs, Start {START_TPS:g}/s, "
          f"Get {GET_TPS:g}/s; {args.files} files, mean job {MEAN_SECONDS:g} s")  # fmt: skip
    outcomes = [
        simulate("alone in the account", args.files, args.seed, 0, **settings),
        simulate("another tenant holds 100 slots", args.files, args.seed, 100, **settings),
    ]
    print(
        f"{'scenario':<32} {'makespan':>9} {'bound':>8} {'ratio':>6} {'calls/job':>9} {'lost':>5}"
    )
    for o in outcomes:
        print(
            f"{o.label:<32} {o.makespan:8.0f}s {o.bound:7.0f}s {o.makespan / o.bound:6.2f}"
            f" {o.calls_per_job:9.2f} {o.files - o.ok:5d}"
        )


if __name__ == "__main__":
    main()
