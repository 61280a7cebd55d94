"""Transcribe's S3 side: read the media a job names, write its transcript where AWS would.

It goes through an S3 endpoint with boto3 (the twin's, or the backend's that holds the buckets),
as Transcribe reads and writes your buckets, so bucket and key semantics (and failures) are
S3's own. Failures become `JobFailure`s with
Transcribe's FailureReason.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from emulation.iam.authorizer import IamEnforcement
from emulation.transcribe.audio import TOO_LARGE
from emulation.transcribe.errors import JobFailure
from emulation.transcribe.exceptions import BadRequestException
from emulation.transcribe.output import OutputLocation

if TYPE_CHECKING:
    from emulation.core.twin import Twin

MEDIA_NOT_FOUND = (
    "The URI that you provided doesn't point to an S3 object that you have access to. "
    "Make sure that the object exists and try your request again."
)
# What StartTranscriptionJob answers (BadRequestException) when the caller may not read the
# media: AWS's text as public projects quote it; Transcribe's guide documents no error text.
MEDIA_UNREADABLE = (
    "The S3 URI that you provided can't be accessed. Make sure that you have read permission "
    "and try your request again."
)
# Twin wording, in the same shape: AWS's text for an output location the caller may not
# write is not documented.
OUTPUT_UNWRITABLE = (
    "The S3 output location that you provided can't be written to. Make sure that you have "
    "write permission and try your request again."
)
# Twin wording: AWS's text for an unwritable output bucket is not documented.
OUTPUT_NOT_WRITABLE = (
    "The S3 bucket that you specified for output doesn't exist or Amazon Transcribe "
    "can't write to it."
)


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str


def parse_media_uri(uri: str) -> S3Location | None:
    """s3://b/k and the https forms Transcribe accepts (path-style and virtual-hosted)."""
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme == "s3":
        key = parsed.path.lstrip("/")
        return S3Location(parsed.netloc, key) if parsed.netloc and key else None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return None
    host, path = parsed.hostname, urllib.parse.unquote(parsed.path.lstrip("/"))
    if host.startswith(("s3.", "s3-")) and host.endswith(".amazonaws.com"):
        bucket, _, key = path.partition("/")
    elif ".s3." in host or ".s3-" in host:
        bucket, key = host.split(".s3", 1)[0], path
    else:
        return None
    return S3Location(bucket, key) if bucket and key else None


def check_caller_access(
    twin: Twin, media_uri: str, output: OutputLocation, output_bucket: str | None
) -> None:
    """Transcribe reads the media and writes the transcript with the caller's permissions
    (Transcribe developer guide, "Permissions required for IAM roles": s3:GetObject on the
    input, s3:PutObject on the output) and checks them when the job is started: the caller
    gets BadRequestException at once, no job is created (twin: refused by the IAM part)."""
    iam = twin.find_part(IamEnforcement)
    caller = iam.current_caller() if iam is not None else None
    if iam is None or caller is None:
        return
    media = parse_media_uri(media_uri)
    if media is not None:
        arn = f"arn:{caller.partition}:s3:::{media.bucket}/{media.key}"
        if iam.check(caller, "s3:GetObject", [arn], via="Transcribe reading the media"):
            raise BadRequestException(MEDIA_UNREADABLE)
    if output_bucket:
        arn = f"arn:{caller.partition}:s3:::{output.bucket}/{output.key}"
        if iam.check(caller, "s3:PutObject", [arn], via="Transcribe writing the transcript"):
            raise BadRequestException(OUTPUT_UNWRITABLE)


class Storage:
    def __init__(self, s3: Any, max_media_bytes: int) -> None:
        self._s3 = s3
        self.max_media_bytes = max_media_bytes

    def read_media(self, uri: str, job_name: str) -> bytes:
        location = parse_media_uri(uri)
        if location is None:
            raise JobFailure(job_name, MEDIA_NOT_FOUND)
        try:
            response = self._s3.get_object(Bucket=location.bucket, Key=location.key)
        except (ClientError, BotoCoreError) as exc:
            raise JobFailure(job_name, MEDIA_NOT_FOUND) from exc
        if response["ContentLength"] > self.max_media_bytes:
            response["Body"].close()
            raise JobFailure(job_name, TOO_LARGE)
        return response["Body"].read()

    def write_transcript(
        self, location: OutputLocation, document: dict[str, Any], *, service_bucket: bool
    ) -> None:
        """Write the JSON; the service-managed bucket is created on first use."""
        body = json.dumps(document, ensure_ascii=False).encode("utf-8")
        try:
            if service_bucket:
                self._ensure_bucket(location.bucket)
            self._s3.put_object(
                Bucket=location.bucket, Key=location.key, Body=body, ContentType="application/json"
            )
        except (ClientError, BotoCoreError) as exc:
            raise JobFailure(document["jobName"], OUTPUT_NOT_WRITABLE) from exc

    def presigned_url(self, location: OutputLocation, expires_seconds: int) -> str:
        """A GET URL anyone holding it can use until it expires, signed for this S3 endpoint."""
        return self._s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": location.bucket, "Key": location.key},
            ExpiresIn=expires_seconds,
        )

    def _ensure_bucket(self, bucket: str) -> None:
        try:
            self._s3.head_bucket(Bucket=bucket)
        except ClientError:
            self._s3.create_bucket(Bucket=bucket)
