"""Build the deploy artifacts reproducibly and upload them under content-addressed keys.

Two things are shipped:
- the Lambda zip: the ``pipeline`` package (stdlib + boto3 only), at ``<stack>/lambda/<sha>.zip``;
- the instance bundle, under ``<stack>/<sha>/`` (the template's ArtifactsPrefix), laid out as the
  OnStart script expects: ``lifecycle/on-start.sh``, ``notebooks/transcribe_and_score.ipynb``,
  ``pipeline.zip`` (the same bytes as the Lambda zip) and ``requirements-notebook.txt`` (the
  instance's lock, requirements/instance.txt: pinned for its Python 3.10, see instance_python).

Same input, same bytes: zip entries are sorted, dated 1980-01-01, mode 0644 and stored
uncompressed (deflate output differs between zlib builds, which would change the hash from one
machine to the next). So a key changes exactly when content changes, an unchanged deploy is a
CloudFormation "no changes", and an upload of an object already present is skipped.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from deploy.errors import PackagingError
from pipeline.errors import error_code

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from botocore.client import BaseClient

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # regular file, rw-r--r--
EXCLUDED_DIRS = {"__pycache__"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo"}
ON_START = "lifecycle/on-start.sh"
NOTEBOOK = "notebooks/transcribe_and_score.ipynb"
PIPELINE_ZIP = "pipeline.zip"
REQUIREMENTS = "requirements-notebook.txt"
INSTANCE_LOCK = "requirements/instance.txt"
ON_START_MAX_CHARS = 16_384  # SageMaker's cap on a lifecycle script
SHA256_METADATA = "sha256"  # x-amz-meta-sha256 on every uploaded object


@dataclass(frozen=True)
class Artifact:
    """One file to upload: its name relative to where it goes, and its bytes."""

    name: str
    body: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


@dataclass(frozen=True)
class Bundle:
    """Everything one deploy uploads, with the content-addressed keys derived from it."""

    lambda_zip: Artifact
    instance_files: tuple[Artifact, ...]

    @property
    def instance_digest(self) -> str:
        listing = "".join(f"{a.name}\0{a.sha256}\n" for a in sorted(self.instance_files, key=_name))
        return hashlib.sha256(listing.encode()).hexdigest()

    def lambda_key(self, stack_name: str) -> str:
        return f"{stack_name}/lambda/{self.lambda_zip.sha256[:16]}.zip"

    def artifacts_prefix(self, stack_name: str) -> str:
        return f"{stack_name}/{self.instance_digest[:16]}"

    def objects(self, stack_name: str) -> dict[str, Artifact]:
        """Every S3 key of this bundle with what goes there."""
        prefix = self.artifacts_prefix(stack_name)
        keys = {f"{prefix}/{artifact.name}": artifact for artifact in self.instance_files}
        keys[self.lambda_key(stack_name)] = self.lambda_zip
        return keys

    def parameters(self, stack_name: str, bucket: str) -> dict[str, str]:
        """The template parameters that point the stack at these artifacts."""
        return {
            "ArtifactsBucket": bucket,
            "ArtifactsPrefix": self.artifacts_prefix(stack_name),
            "LambdaCodeKey": self.lambda_key(stack_name),
        }


def _name(artifact: Artifact) -> str:
    return artifact.name


def reproducible_zip(files: Iterable[tuple[str, bytes]]) -> bytes:
    """A zip whose bytes depend only on the entry names and contents."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, body in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.create_system = 3  # unix, so external_attr carries the mode
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, body)
    return buffer.getvalue()


def package_files(root: Path, package: str = "pipeline") -> list[tuple[str, bytes]]:
    """The package's files as (zip name, bytes), without caches and bytecode."""
    base = root / package
    if not (base / "__init__.py").is_file():
        raise PackagingError(f"{base}: not a Python package (no __init__.py)")
    files = []
    for path in base.rglob("*"):
        relative = path.relative_to(root)
        if not path.is_file() or EXCLUDED_DIRS & set(relative.parts):
            continue
        if path.suffix in EXCLUDED_SUFFIXES or any(p.startswith(".") for p in relative.parts):
            continue
        files.append((relative.as_posix(), path.read_bytes()))
    return files


def lambda_zip(root: Path = PROJECT_ROOT) -> bytes:
    return reproducible_zip(package_files(root))


def notebook_requirements(root: Path = PROJECT_ROOT) -> bytes:
    """The instance's lock: every package pinned for its Python (not the development pins)."""
    return _read_required(root, INSTANCE_LOCK)


def _read_required(root: Path, relative: str) -> bytes:
    path = root / relative
    if not path.is_file():
        raise PackagingError(f"{path}: missing (it is uploaded with every deploy)")
    return path.read_bytes()


def check_on_start(body: bytes, path: str = ON_START) -> None:
    """Fail here, not on the instance: CRLF line endings and oversized scripts break the hook."""
    text = body.decode("utf-8", errors="replace")
    for number, line in enumerate(text.split("\n"), start=1):
        if line.endswith("\r"):
            raise PackagingError(f"{path}:{number}: CRLF line ending (the hook would fail)")
    if not text.startswith("#!"):
        raise PackagingError(f"{path}:1: no #! line")
    if len(text) > ON_START_MAX_CHARS:
        raise PackagingError(f"{path}: {len(text)} characters, over the {ON_START_MAX_CHARS} cap")


def build_bundle(root: Path = PROJECT_ROOT) -> Bundle:
    """Package the Lambda code and the instance files found under ``root``."""
    code = Artifact("lambda.zip", lambda_zip(root))
    on_start = _read_required(root, ON_START)
    check_on_start(on_start, str(root / ON_START))
    instance = (
        Artifact(ON_START, on_start),
        Artifact(NOTEBOOK, _read_required(root, NOTEBOOK)),
        Artifact(PIPELINE_ZIP, code.body),
        Artifact(REQUIREMENTS, notebook_requirements(root)),
    )
    return Bundle(lambda_zip=code, instance_files=instance)


def ensure_artifacts_bucket(s3: BaseClient, bucket: str, region: str) -> bool:
    """Create the artifacts bucket if missing: private, encrypted, TLS only. True if created.

    The bucket lives outside the stack: the stack's Lambda code must exist before the stack.
    """
    try:
        s3.head_bucket(Bucket=bucket)
        return False
    except ClientError as exc:  # 404 means "create it"
        if error_code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
            raise PackagingError(
                f"s3://{bucket}: cannot use it as artifacts bucket: {exc}"
            ) from exc
    options = (
        {}
        if region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    s3.create_bucket(Bucket=bucket, **options)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    # A TLS-only policy on a bucket reached over plain http (a local endpoint) would lock the
    # deploy out of its own bucket; AWS endpoints are https.
    if uses_tls(s3):
        partition = s3.meta.partition
        s3.put_bucket_policy(
            Bucket=bucket, Policy=tls_only_policy(f"arn:{partition}:s3:::{bucket}")
        )
    return True


def uses_tls(client: BaseClient) -> bool:
    return str(client.meta.endpoint_url).startswith("https://")


def tls_only_policy(bucket_arn: str) -> str:
    """A bucket policy denying every request that does not use TLS."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


def upload_bundle(
    s3: BaseClient,
    bucket: str,
    stack_name: str,
    bundle: Bundle,
    log: Callable[[str], None] = lambda _message: None,
) -> tuple[int, int]:
    """Upload what is not already there with the same hash. Returns (uploaded, skipped)."""
    uploaded = skipped = 0
    for key, artifact in sorted(bundle.objects(stack_name).items()):
        if _stored_sha256(s3, bucket, key) == artifact.sha256:
            skipped += 1
            continue
        s3.put_object(
            Bucket=bucket, Key=key, Body=artifact.body, Metadata={SHA256_METADATA: artifact.sha256}
        )
        log(f"uploaded s3://{bucket}/{key} ({len(artifact.body)} bytes)")
        uploaded += 1
    return uploaded, skipped


def _stored_sha256(s3: BaseClient, bucket: str, key: str) -> str | None:
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise
    return head.get("Metadata", {}).get(SHA256_METADATA)
