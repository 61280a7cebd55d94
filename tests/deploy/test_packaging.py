"""Packaging: reproducible bytes, content-addressed keys, the instance bundle, uploads."""

from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

import pytest

from deploy.errors import PackagingError
from deploy.package import (
    INSTANCE_LOCK,
    NOTEBOOK,
    ON_START,
    build_bundle,
    check_on_start,
    ensure_artifacts_bucket,
    lambda_zip,
    notebook_requirements,
    reproducible_zip,
    upload_bundle,
)
from emulation.core.twin import Twin

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")


def test_same_input_gives_the_same_bytes_whatever_the_timestamps_and_modes(
    fresh_project: Path,
) -> None:
    first = lambda_zip(fresh_project)
    module = fresh_project / "pipeline" / "errors.py"
    old = time.time() - 86_400 * 365
    os.utime(module, (old, old))
    module.chmod(0o600)
    cache = fresh_project / "pipeline" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "errors.cpython-311.pyc").write_bytes(b"\x00bytecode")
    (fresh_project / "pipeline" / "stray.pyc").write_bytes(b"\x00")
    assert lambda_zip(fresh_project) == first


def test_zip_entries_are_sorted_dated_1980_and_mode_0644(fresh_project: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(lambda_zip(fresh_project))) as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]
    assert names == sorted(names)
    assert "pipeline/__init__.py" in names
    assert all(name.startswith("pipeline/") for name in names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.external_attr >> 16 for info in infos} == {0o100644}


def test_reproducible_zip_ignores_input_order() -> None:
    files = [("b.py", b"b"), ("a/x.py", b"x"), ("a.py", b"a")]
    assert reproducible_zip(files) == reproducible_zip(list(reversed(files)))


def test_keys_change_exactly_when_content_changes(fresh_project: Path) -> None:
    before = build_bundle(fresh_project)
    assert build_bundle(fresh_project).objects("st").keys() == before.objects("st").keys()

    (fresh_project / NOTEBOOK).write_bytes(b'{"cells": [1]}')
    notebook_changed = build_bundle(fresh_project)
    assert notebook_changed.artifacts_prefix("st") != before.artifacts_prefix("st")
    assert notebook_changed.lambda_key("st") == before.lambda_key("st")  # code untouched

    (fresh_project / "pipeline" / "run_id.py").write_text("# changed\n")
    code_changed = build_bundle(fresh_project)
    assert code_changed.lambda_key("st") != notebook_changed.lambda_key("st")


def test_bundle_is_laid_out_as_the_on_start_script_expects(fresh_project: Path) -> None:
    bundle = build_bundle(fresh_project)
    prefix = bundle.artifacts_prefix("st")
    assert prefix.startswith("st/")
    objects = bundle.objects("st")
    assert sorted(objects) == sorted(
        [
            f"{prefix}/lifecycle/on-start.sh",
            f"{prefix}/notebooks/transcribe_and_score.ipynb",
            f"{prefix}/pipeline.zip",
            f"{prefix}/requirements-notebook.txt",
            bundle.lambda_key("st"),
        ]
    )
    assert objects[f"{prefix}/pipeline.zip"].body == bundle.lambda_zip.body
    assert (
        objects[f"{prefix}/lifecycle/on-start.sh"].body == (fresh_project / ON_START).read_bytes()
    )
    assert bundle.parameters("st", "bkt") == {
        "ArtifactsBucket": "bkt",
        "ArtifactsPrefix": prefix,
        "LambdaCodeKey": bundle.lambda_key("st"),
    }


def test_notebook_requirements_are_the_instance_lock_not_the_dev_pins(
    fresh_project: Path,
) -> None:
    shipped = notebook_requirements(fresh_project)
    assert shipped == (fresh_project / INSTANCE_LOCK).read_bytes()
    pins = [line for line in shipped.decode().splitlines() if not line.startswith("#")]
    assert "papermill==2.7.0" in pins
    assert "jiwer==4.0.0" in pins
    assert all("==" in pin for pin in pins)
    # ipykernel 7 needs Python 3.11; the instance runs 3.10.
    assert [pin for pin in pins if pin.startswith("ipykernel==")] == ["ipykernel==6.31.0"]


def test_a_missing_instance_lock_is_named(fresh_project: Path) -> None:
    (fresh_project / INSTANCE_LOCK).unlink()
    with pytest.raises(PackagingError, match=r"instance\.txt: missing"):
        build_bundle(fresh_project)


def test_crlf_on_start_script_is_refused_with_its_line() -> None:
    with pytest.raises(PackagingError, match=r"on-start.sh:2: CRLF"):
        check_on_start(b"#!/bin/bash\necho hi\r\n")
    with pytest.raises(PackagingError, match="over the 16384"):
        check_on_start(b"#!/bin/bash\n" + b"#" * 16_400)
    check_on_start(b"#!/bin/bash\necho fine\n")


def test_missing_notebook_is_named(fresh_project: Path) -> None:
    (fresh_project / NOTEBOOK).unlink()
    with pytest.raises(PackagingError, match=r"transcribe_and_score\.ipynb: missing"):
        build_bundle(fresh_project)


def test_artifacts_bucket_is_private_and_encrypted(fresh_twin: Twin) -> None:
    s3 = fresh_twin.client("s3")
    assert ensure_artifacts_bucket(s3, "art-bucket", "us-east-1") is True
    block = s3.get_public_access_block(Bucket="art-bucket")["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    rules = s3.get_bucket_encryption(Bucket="art-bucket")["ServerSideEncryptionConfiguration"]
    assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert ensure_artifacts_bucket(s3, "art-bucket", "us-east-1") is False


def test_upload_skips_what_is_already_there_and_repairs_what_differs(
    fresh_twin: Twin, fresh_project: Path
) -> None:
    s3 = fresh_twin.client("s3")
    ensure_artifacts_bucket(s3, "art-bucket", "us-east-1")
    bundle = build_bundle(fresh_project)
    assert upload_bundle(s3, "art-bucket", "st", bundle) == (5, 0)
    assert upload_bundle(s3, "art-bucket", "st", bundle) == (0, 5)

    key = bundle.lambda_key("st")
    s3.put_object(Bucket="art-bucket", Key=key, Body=b"corrupt")
    assert upload_bundle(s3, "art-bucket", "st", bundle) == (1, 4)
    stored = s3.get_object(Bucket="art-bucket", Key=key)
    assert stored["Body"].read() == bundle.lambda_zip.body
    assert stored["Metadata"]["sha256"] == bundle.lambda_zip.sha256
