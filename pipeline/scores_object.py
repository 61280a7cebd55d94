"""The scores CSV as an S3 object, with the proof that ingest got all of it, unchanged.

The writer uploads the CSV with S3's own integrity check, ``ChecksumSHA256`` (the base64
SHA-256 of the bytes it serialized), plus one user-metadata entry, ``scores-rows``: the number
of rows it wrote. S3 verifies the checksum on arrival and refuses a body that does not match it
(400 BadDigest), stores it with the object, and returns it on GetObject with ``ChecksumMode``
ENABLED (S3 User Guide, "Checking object integrity"; botocore's s3 model, PutObjectRequest
ChecksumSHA256 and GetObjectRequest ChecksumMode). Ingest then

* refuses an object without a full-object SHA-256 (a hand upload, a copy without it, a
  multipart upload's composite checksum) or without the row count;
* hashes the bytes it parses and compares them with the checksum (botocore validates the same
  on the way in; this check does not depend on the runtime's botocore doing so);
* counts the rows it parsed against ``scores-rows``, and requires the final line break the
  writer always writes, which together catch a CSV cut before it was hashed (at a row
  boundary, or inside the last field), something no checksum of the cut bytes could.

So a truncated or altered CSV is either refused by S3 at upload or refused by ingest with a
FAILED message naming why; nothing is written from it. S3-native checksums were chosen over a
hash in metadata because S3 itself then refuses a corrupted upload, and every AWS SDK and the
CLI can produce and check them (``--checksum-algorithm SHA256``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.errors import PipelineError
from pipeline.layout import run_id_of_scores_key, scores_key
from pipeline.scores_csv import ScoreRow, write_rows

ROWS_METADATA = "scores-rows"  # x-amz-meta-scores-rows
CHECKSUM_ALGORITHM = "SHA256"
_ROWS_RE = re.compile(r"[0-9]{1,9}")


class ScoresIntegrityError(PipelineError):
    """The object lacks the writer's proof, or its content disagrees with it."""


class ScoresReadError(PipelineError):
    """The bytes read differ from the stored object (transport): transient, retry the read."""


@dataclass(frozen=True)
class EncodedScores:
    """A scores CSV ready to upload: its bytes and the proof that goes with them."""

    body: bytes
    rows: int
    sha256: str  # base64 of the SHA-256 digest, as S3 spells ChecksumSHA256

    def put_arguments(self) -> dict[str, Any]:
        """The PutObject parameters that carry the body and its proof."""
        return {
            "Body": self.body,
            "ContentType": "text/csv; charset=utf-8",
            "ChecksumAlgorithm": CHECKSUM_ALGORITHM,
            "ChecksumSHA256": self.sha256,
            "Metadata": {ROWS_METADATA: str(self.rows)},
        }


def sha256_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def encode_scores(rows: Iterable[ScoreRow]) -> EncodedScores:
    """Serialize ``rows`` (the header first) and compute the proof of exactly these bytes."""
    buffer = io.StringIO(newline="")
    count = write_rows(buffer, rows)
    body = buffer.getvalue().encode("utf-8")
    return EncodedScores(body, count, sha256_base64(body))


def put_scores(s3: Any, bucket: str, run_id: str, rows: Iterable[ScoreRow]) -> str:
    """Upload ``rows`` as ``scores/<run_id>.csv`` with its proof; return the key.

    The key comes from ``layout.scores_key`` only: S3 notification filters are case-sensitive,
    so the template's ``.csv`` suffix filter and ingest's key pattern expect exactly that
    spelling, and a ``.CSV`` key would never reach ingest.
    """
    key = scores_key(run_id)
    if run_id_of_scores_key(key) != run_id:
        raise ScoresIntegrityError(f"run id {run_id!r} does not make a scores key")
    s3.put_object(Bucket=bucket, Key=key, **encode_scores(rows).put_arguments())
    return key


@dataclass(frozen=True)
class ScoresProof:
    """What the writer vouched for, read from a GetObject/HeadObject response."""

    sha256: str
    rows: int

    @classmethod
    def of(cls, response: Mapping[str, Any], uri: str) -> ScoresProof:
        """The proof carried by ``response`` (requested with ChecksumMode=ENABLED), or
        ScoresIntegrityError naming what is missing."""
        sha256 = response.get("ChecksumSHA256")
        kind = response.get("ChecksumType", "FULL_OBJECT")
        upload = "upload it with pipeline.scores_object.put_scores or --checksum-algorithm SHA256"
        if not sha256:
            raise ScoresIntegrityError(
                f"{uri} has no SHA-256 checksum, so its completeness cannot be proven ({upload})"
            )
        if kind != "FULL_OBJECT" or "-" in sha256:
            raise ScoresIntegrityError(
                f"{uri} has a {kind} SHA-256 (a multipart upload), not the whole object's"
                f" ({upload})"
            )
        rows = (response.get("Metadata") or {}).get(ROWS_METADATA)
        if rows is None or not _ROWS_RE.fullmatch(rows):
            raise ScoresIntegrityError(
                f"{uri} has no valid x-amz-meta-{ROWS_METADATA} row count (got {rows!r}): {upload}"
            )
        return cls(sha256, int(rows))


class HashingChunks:
    """Passes chunks through while hashing them, to compare with the proof at the end."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = chunks
        self._hash = hashlib.sha256()
        self.size = 0
        self.ends_with_newline = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self._hash.update(chunk)
            self.size += len(chunk)
            if chunk:
                self.ends_with_newline = chunk.endswith(b"\n")
            yield chunk

    def sha256(self) -> str:
        return base64.b64encode(self._hash.digest()).decode("ascii")


def check_content(proof: ScoresProof, read: HashingChunks, rows: int, uri: str) -> None:
    """After a full read: the bytes hash to the checksum and the rows number what was written.

    A hash mismatch means the bytes changed on the way in (S3 stores the checksum of what it
    stored), which a retry can fix, so it raises ``ScoresReadError``; a row count mismatch
    means the CSV itself is not what its writer wrote, and raises ScoresIntegrityError.
    """
    if read.sha256() != proof.sha256:
        raise ScoresReadError(
            f"{uri}: the {read.size} bytes read hash to {read.sha256()}, not to the stored"
            f" ChecksumSHA256 {proof.sha256}"
        )
    if rows != proof.rows:
        raise ScoresIntegrityError(
            f"{uri} holds {rows} row(s) but its writer wrote {proof.rows}: the CSV was cut or"
            " altered before upload"
        )
    if not read.ends_with_newline:
        raise ScoresIntegrityError(
            f"{uri} does not end with a line break, as its writer ends every row: it was cut"
        )
