"""S3 checks the checksum a writer sends, and keeps it with the object; moto 5.2.5 does neither.

AWS: a PutObject (or any request with a body) carrying ``x-amz-checksum-<algorithm>`` whose
value does not match the body is refused with 400 ``BadDigest``, "The SHA256 you specified did
not match the calculated checksum." (S3 User Guide, "Checking object integrity in Amazon S3";
botocore's s3 model, PutObjectRequest.ChecksumAlgorithm: "Amazon S3 fails the request with a
BadDigest error"; the wording as AWS answers it, e.g. aws/aws-sdk-ruby#3322, "The CRC32 you
specified did not match the calculated checksum"). A checksum sent as its header alone,
without ``x-amz-sdk-checksum-algorithm`` (what boto3 sends for ``ChecksumSHA256=...`` without
``ChecksumAlgorithm``), is verified and stored the same way, and GetObject/HeadObject with
ChecksumMode ENABLED return it.

moto stores a provided value unchecked (its own TODO in ``S3Response._get_checksum``) and
drops one sent without the SDK header. Both happen where moto reads the request's checksum
headers, so this part wraps that one method: the check needs the request's headers and body,
which never reach moto's state models. Algorithms moto cannot compute faithfully here (CRC32C
without ``crc32c``, CRC64NVME without ``awscrt``: moto falls back to CRC32) are stored as sent
and not checked, rather than refused wrongly.
"""

from __future__ import annotations

from typing import Any

from emulation.core.patching import Patches

CHECKSUM_HEADER = "x-amz-checksum-"
# Request headers under x-amz-checksum- that are not checksum values.
_NOT_VALUES = {"x-amz-checksum-mode", "x-amz-checksum-type", "x-amz-checksum-algorithm"}


def _verifiable(algorithm: str) -> bool:
    from moto.core.compat import HAS_CRT

    if algorithm in ("SHA1", "SHA256", "CRC32"):
        return True
    if algorithm == "CRC64NVME":
        return HAS_CRT
    if algorithm == "CRC32C":
        try:
            import crc32c  # noqa: F401
        except ImportError:
            return False
        return True
    return False


def bad_digest(algorithm: str) -> Exception:
    from moto.s3.exceptions import S3ClientError

    return S3ClientError(
        "BadDigest", f"The {algorithm} you specified did not match the calculated checksum."
    )


def _sent_checksum(headers: Any) -> tuple[str, str] | None:
    """The (ALGORITHM, value) of the one x-amz-checksum-<algorithm> header, if any."""
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith(CHECKSUM_HEADER) and lowered not in _NOT_VALUES:
            return lowered[len(CHECKSUM_HEADER) :].upper(), value
    return None


class S3Checksums:
    """Twin part: checksums sent with a request body are verified (BadDigest) and kept."""

    def __init__(self) -> None:
        self._patches = Patches()

    def install(self) -> None:
        from moto.s3.responses import S3Response
        from moto.s3.utils import compute_checksum

        original = S3Response._get_checksum

        def _get_checksum(response: Any, response_headers: dict[str, Any]) -> Any:
            algorithm, value = original(response, response_headers)
            if not algorithm:
                sent = _sent_checksum(response.headers)
                if sent is not None:
                    algorithm, value = sent
                    response_headers[CHECKSUM_HEADER + algorithm.lower()] = value
            if algorithm and value and _verifiable(algorithm.upper()):
                body = response.body or b""
                expected = compute_checksum(body, algorithm=algorithm.upper())
                if isinstance(expected, bytes):
                    expected = expected.decode("ascii")
                if expected != value:
                    raise bad_digest(algorithm.upper())
            return algorithm, value

        self._patches.replace(S3Response, "_get_checksum", _get_checksum)

    def reset(self) -> None:
        """Nothing recorded."""

    def uninstall(self) -> None:
        self._patches.restore()
