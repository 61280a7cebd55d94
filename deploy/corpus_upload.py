"""``python -m deploy upload-corpus``: check a local corpus folder, then upload it to a stack.

A run scores each audio file against its same-stem ``.txt`` reference, so the pairs are checked
here, on the user's machine, before anything is uploaded: every audio file in a format batch
Transcribe accepts (MediaFormat: amr, flac, m4a, mp3, mp4, ogg, wav, webm; at most 2 GB) with a
non-empty UTF-8 reference, and every reference with its audio. All problems are reported at once,
each naming its file. The files go to the stack's media bucket under its CorpusPrefix (both read
from the deployed stack), keeping the folder's layout; a file already there with the same bytes
(its MD5 is the ETag of a single-part upload) is skipped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from deploy.errors import DeployError
from deploy.stack import stack_outputs, stack_parameters
from pipeline.errors import error_code
from pipeline.transcribe.corpus import AUDIO_FORMATS, REFERENCE_EXTENSION, split_extension

if TYPE_CHECKING:
    from botocore.client import BaseClient

    from deploy.progress import Reporter
    from pipeline.aws import Clients

MAX_MEDIA_BYTES = 2 * 1024**3  # Transcribe batch: "2 GB"
DEFAULT_CORPUS_PREFIX = "corpus/"
# Single-part uploads up to S3's 5 GB PutObject limit, so every ETag is the file's MD5.
SINGLE_PART = TransferConfig(multipart_threshold=5 * 1024**3)


class CorpusCheckError(DeployError):
    """The local corpus would not score as intended; ``problems`` names each file."""

    def __init__(self, folder: Path, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(
            f"corpus {folder}: {len(problems)} problem(s), nothing uploaded:\n{listing}"
        )


@dataclass(frozen=True)
class LocalCorpus:
    """A checked corpus: the files to upload (audio and references), by relative path."""

    folder: Path
    files: tuple[str, ...]
    audio: int
    skipped: tuple[str, ...]  # hidden files (.DS_Store...), not uploaded


def check_corpus(folder: Path) -> LocalCorpus:
    """Pair audio with references and check both; raise CorpusCheckError with every problem."""
    if not folder.is_dir():
        raise CorpusCheckError(folder, [f"{folder} is not a folder"])
    files = sorted(
        path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()
    )
    skipped = [f for f in files if any(part.startswith(".") for part in f.split("/"))]
    audio: dict[str, list[str]] = {}  # stem -> audio files
    references: dict[str, str] = {}  # stem -> reference file
    problems: list[str] = []
    formats = ", ".join(sorted(AUDIO_FORMATS))
    for file in sorted(set(files) - set(skipped)):
        stem, extension = split_extension(file)
        if extension in AUDIO_FORMATS:
            audio.setdefault(stem, []).append(file)
        elif extension == REFERENCE_EXTENSION:
            if stem in references:
                problems.append(f"{file}: a second reference for {stem} ({references[stem]})")
            references[stem] = file
        else:
            problems.append(
                f"{file}: not a format batch Transcribe accepts ({formats}) nor a .txt reference"
            )
    for stem, audio_files in sorted(audio.items()):
        for file in audio_files:
            if stem not in references:
                problems.append(f"{file}: no reference {stem}.txt beside it")
            if (folder / file).stat().st_size > MAX_MEDIA_BYTES:
                problems.append(f"{file}: over Transcribe's 2 GB limit")
    for stem, file in sorted(references.items()):
        if stem not in audio:
            problems.append(f"{file}: no audio file with the stem {stem} ({formats})")
        problems += _reference_problems(folder, file)
    if not audio and not problems:
        problems.append(f"no audio files ({formats}) in {folder}")
    if problems:
        raise CorpusCheckError(folder, problems)
    uploads = tuple(f for f in files if f not in skipped)
    count = sum(len(found) for found in audio.values())
    return LocalCorpus(folder, uploads, count, tuple(skipped))


def _reference_problems(folder: Path, file: str) -> list[str]:
    try:
        text = (folder / file).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [f"{file}: not UTF-8 (byte {exc.start}): {exc.reason}"]
    if not text.strip():
        return [f"{file}: empty (WER is undefined without reference words)"]
    return []


@dataclass(frozen=True)
class Upload:
    bucket: str
    prefix: str
    uploaded: tuple[str, ...]
    unchanged: tuple[str, ...]
    extra: tuple[str, ...]  # keys under the prefix that are not in the folder
    deleted: tuple[str, ...]


def upload_corpus(
    clients: Clients,
    stack_name: str,
    folder: Path,
    *,
    delete_extra: bool = False,
    reporter: Reporter,
) -> Upload:
    """Check ``folder``, then upload it to the stack's media bucket under its CorpusPrefix."""
    corpus = check_corpus(folder)
    cfn = clients("cloudformation")
    bucket = stack_outputs(cfn, stack_name)["MediaBucketName"]
    prefix = stack_parameters(cfn, stack_name).get("CorpusPrefix") or DEFAULT_CORPUS_PREFIX
    s3 = clients("s3")
    reporter.step(
        f"Uploading {corpus.audio} audio file(s) and their references to s3://{bucket}/{prefix}"
    )
    for hidden in corpus.skipped:
        reporter.info(f"skipped {hidden} (hidden file)")
    stored = _stored_etags(s3, bucket, prefix)
    uploaded, unchanged = [], []
    for file in corpus.files:
        key = prefix + file
        path = folder / file
        if stored.get(key) == f'"{_md5(path)}"':
            unchanged.append(file)
            continue
        s3.upload_file(str(path), bucket, key, Config=SINGLE_PART)
        uploaded.append(file)
        reporter.info(f"uploaded s3://{bucket}/{key}")
    wanted = {prefix + file for file in corpus.files}
    extra = sorted(key for key in stored if key not in wanted)
    deleted: list[str] = []
    if extra and delete_extra:
        for start in range(0, len(extra), 1000):
            batch = [{"Key": key} for key in extra[start : start + 1000]]
            s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        deleted = extra
        reporter.info(f"deleted {len(extra)} object(s) under the prefix that are not in {folder}")
    elif extra:
        reporter.info(
            f"{len(extra)} object(s) under s3://{bucket}/{prefix} are not in {folder} and will be"
            f" scored too, e.g. {extra[0]} (--delete-extra removes them)"
        )
    reporter.info(f"{len(uploaded)} uploaded, {len(unchanged)} unchanged")
    return Upload(bucket, prefix, tuple(uploaded), tuple(unchanged), tuple(extra), tuple(deleted))


def _stored_etags(s3: BaseClient, bucket: str, prefix: str) -> dict[str, str]:
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return {obj["Key"]: obj["ETag"] for page in pages for obj in page.get("Contents", [])}
    except ClientError as exc:
        if error_code(exc) == "NoSuchBucket":
            raise DeployError(f"s3://{bucket}: the stack's media bucket does not exist") from exc
        raise


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()
