"""Names, keys and requests for Transcribe jobs: deterministic, valid and unique within a run.

Determinism matters: a re-run with the same run_id must compute the same job names, so that
StartTranscriptionJob's ConflictException can be answered by adopting the existing job.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.errors import ConfigurationError, PipelineError
from pipeline.layout import transcripts_prefix

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pipeline.transcribe.corpus import CorpusItem

# Transcribe's own limits (botocore service model): TranscriptionJobName ^[0-9a-zA-Z._-]+, max 200;
# OutputKey [a-zA-Z0-9-_.!*'()/]{1,1024}.
JOB_NAME_MAX = 200
JOB_NAME_PATTERN = re.compile(r"^[0-9a-zA-Z._-]+$")
OUTPUT_KEY_MAX = 1024
OUTPUT_KEY_PATTERN = re.compile(r"^[a-zA-Z0-9\-_.!*'()/]{1,1024}$")
RUN_ID_MAX = 100  # leaves at least 87 characters of every job name for the file
HASH_CHARS = 12

_UNSAFE_IN_JOB_NAME = re.compile(r"[^0-9a-zA-Z._-]")
_UNSAFE_IN_OUTPUT_KEY = re.compile(r"[^a-zA-Z0-9\-_.!*'()/]")


class JobPlanError(PipelineError):
    """The inputs cannot be mapped onto distinct jobs (duplicate files, or a hash collision)."""


@dataclass(frozen=True)
class JobSpec:
    """Everything needed to start one job and find its output; ``index`` is the input position."""

    index: int
    item: CorpusItem
    job_name: str
    transcript_key: str
    media_uri: str


def check_run_id(run_id: str) -> str:
    """Run ids go verbatim into job names and S3 keys, so they must be valid in both."""
    if not run_id or len(run_id) > RUN_ID_MAX or not JOB_NAME_PATTERN.match(run_id):
        raise ConfigurationError(
            f"run_id {run_id!r} must be 1-{RUN_ID_MAX} characters of [0-9A-Za-z._-]"
        )
    return run_id


def file_hash(file: str) -> str:
    """A short, stable hash of the file: tells apart names that sanitizing made equal."""
    return hashlib.sha256(file.encode("utf-8")).hexdigest()[:HASH_CHARS]


def job_name(run_id: str, file: str) -> str:
    """``<run_id>_<file, sanitized and truncated>_<hash of file>``, at most 200 characters."""
    head = f"{check_run_id(run_id)}_{_UNSAFE_IN_JOB_NAME.sub('-', file)}"
    return f"{head[: JOB_NAME_MAX - HASH_CHARS - 1]}_{file_hash(file)}"


def _key_path(name: str) -> str:
    """``name`` as a relative path of OutputKey characters that stays inside its folder.

    S3 keys are flat and keep ``..`` literally, but a ``transcripts/<run>/../x.json`` would
    leave the run's folder for any tool that resolves paths (the CLI's sync, a browser), so
    ``.`` and ``..`` segments become ``_`` and ``__``, and empty segments (``a//b``, a leading
    ``/``) become ``_``.
    """
    segments = _UNSAFE_IN_OUTPUT_KEY.sub("_", name).split("/")
    return "/".join(
        (segment.replace(".", "_") or "_") if segment in ("", ".", "..") else segment
        for segment in segments
    )


def transcript_keys(run_id: str, items: Sequence[CorpusItem]) -> list[str]:
    """``transcripts/<run_id>/<stem>.json`` per item, made distinct and valid as an OutputKey.

    A stem shared by several audio files (``a.wav``, ``a.mp3``) uses the file name instead
    (``a.wav.json``); anything still colliding, or too long, gets the file's hash appended.
    Path segments ``.``, ``..`` and empty ones are replaced (``_key_path``).
    """
    folder = transcripts_prefix(check_run_id(run_id))
    room = OUTPUT_KEY_MAX - len(folder) - len(".json")
    stem_counts = Counter(item.stem for item in items)
    bases = [_key_path(item.stem if stem_counts[item.stem] == 1 else item.file) for item in items]
    base_counts = Counter(bases)
    keys = []
    for item, base in zip(items, bases, strict=True):
        if base_counts[base] > 1 or len(base) > room:
            base = f"{base[: room - HASH_CHARS - 1]}-{file_hash(item.file)}"
        keys.append(f"{folder}{base}.json")
    return keys


def plan_jobs(items: Sequence[CorpusItem], *, run_id: str, media_bucket: str) -> list[JobSpec]:
    """One JobSpec per item, in input order; refuses inputs that would share a job."""
    duplicates = sorted(file for file, n in Counter(i.file for i in items).items() if n > 1)
    if duplicates:
        raise JobPlanError(f"files listed more than once: {', '.join(duplicates)}")
    specs = [
        JobSpec(
            index=index,
            item=item,
            job_name=job_name(run_id, item.file),
            transcript_key=key,
            media_uri=f"s3://{media_bucket}/{item.audio_key}",
        )
        for index, (item, key) in enumerate(zip(items, transcript_keys(run_id, items), strict=True))
    ]
    for field in ("job_name", "transcript_key"):
        seen = Counter(getattr(spec, field) for spec in specs)
        clashes = [value for value, n in seen.items() if n > 1]
        if clashes:
            raise JobPlanError(f"{field} shared by several files (hash collision): {clashes}")
    return specs


def start_request(spec: JobSpec, *, output_bucket: str, language_code: str) -> dict[str, Any]:
    """The StartTranscriptionJob parameters; the output key ends in .json, so it is the file."""
    return {
        "TranscriptionJobName": spec.job_name,
        "LanguageCode": language_code,
        "MediaFormat": spec.item.media_format,
        "Media": {"MediaFileUri": spec.media_uri},
        "OutputBucketName": output_bucket,
        "OutputKey": spec.transcript_key,
    }
