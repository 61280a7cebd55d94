"""The twin checks the checksum sent with an upload and keeps it, as S3 does.

AWS: a PutObject whose ``x-amz-checksum-sha256`` does not match the body fails with 400
BadDigest, "The SHA256 you specified did not match the calculated checksum." (S3 User Guide,
"Checking object integrity"; botocore's s3 model, PutObjectRequest.ChecksumAlgorithm), and the
checksum is returned by GetObject/HeadObject with ChecksumMode ENABLED, however it was sent.
The first test pins moto's gap (it stores a wrong value unchecked and drops a value sent
without ``x-amz-sdk-checksum-algorithm``), and fails when moto closes it.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from pipeline.scores_csv import ScoreRow
from pipeline.scores_object import encode_scores, put_scores, sha256_base64

BODY = b"schema_version,run_id\r\n"
RUN = "2026-11-24T20-00-00Z-3fa9c1"


def test_moto_alone_stores_a_wrong_checksum_and_drops_a_value_only_one(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bucket")
        wrong = sha256_base64(b"something else")
        s3.put_object(
            Bucket="bucket", Key="k", Body=BODY, ChecksumAlgorithm="SHA256", ChecksumSHA256=wrong
        )
        got = s3.head_object(Bucket="bucket", Key="k", ChecksumMode="ENABLED")
        assert got["ChecksumSHA256"] == wrong
        s3.put_object(Bucket="bucket", Key="v", Body=BODY, ChecksumSHA256=sha256_base64(BODY))
        assert "ChecksumSHA256" not in s3.head_object(
            Bucket="bucket", Key="v", ChecksumMode="ENABLED"
        )


@pytest.fixture
def s3(twin):
    client = twin.client("s3")
    client.create_bucket(Bucket="bucket")
    return client


@pytest.mark.parametrize("with_algorithm", [True, False])
def test_a_body_that_does_not_match_its_checksum_is_refused_with_bad_digest(s3, with_algorithm):
    extra = {"ChecksumAlgorithm": "SHA256"} if with_algorithm else {}
    with pytest.raises(ClientError) as info:
        s3.put_object(
            Bucket="bucket", Key="k", Body=BODY[:-3], ChecksumSHA256=sha256_base64(BODY), **extra
        )
    assert info.value.response["Error"]["Code"] == "BadDigest"
    assert info.value.response["Error"]["Message"] == (
        "The SHA256 you specified did not match the calculated checksum."
    )
    assert s3.list_objects_v2(Bucket="bucket").get("KeyCount") == 0


def test_a_checksum_sent_without_the_sdk_header_is_kept_and_returned(s3):
    s3.put_object(Bucket="bucket", Key="v", Body=BODY, ChecksumSHA256=sha256_base64(BODY))
    head = s3.head_object(Bucket="bucket", Key="v", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == sha256_base64(BODY)


def test_sdk_default_checksums_still_pass(s3):
    """botocore adds a CRC32 to every upload by default; the twin checks it and it matches."""
    s3.put_object(Bucket="bucket", Key="plain", Body=BODY)
    assert s3.get_object(Bucket="bucket", Key="plain")["Body"].read() == BODY


def test_a_scores_csv_cut_after_its_proof_never_becomes_an_object(s3):
    rows = [ScoreRow.failed(run_id=RUN, file=f"{n}.wav", error="x") for n in range(13)]
    encoded = encode_scores(rows)
    arguments = encoded.put_arguments()
    arguments["Body"] = encoded.body[: len(encoded.body) // 2]
    with pytest.raises(ClientError, match="BadDigest"):
        s3.put_object(Bucket="bucket", Key=f"scores/{RUN}.csv", **arguments)
    key = put_scores(s3, "bucket", RUN, rows)
    assert s3.get_object(Bucket="bucket", Key=key, ChecksumMode="ENABLED")["Body"].read() == (
        encoded.body
    )
