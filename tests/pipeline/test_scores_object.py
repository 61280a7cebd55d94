"""The scores CSV as an S3 object: the proof its writer attaches, and the key it goes under."""

from __future__ import annotations

import base64
import hashlib

import pytest

from deploy.template import TEMPLATE_PATH, load_template
from pipeline.layout import SCORES_PREFIX, SCORES_SUFFIX, run_id_of_scores_key, scores_key
from pipeline.scores_csv import ScoreRow
from pipeline.scores_object import (
    ROWS_METADATA,
    HashingChunks,
    ScoresIntegrityError,
    ScoresProof,
    ScoresReadError,
    check_content,
    encode_scores,
)

RUN = "2026-11-24T20-00-00Z-3fa9c1"
URI = f"s3://results/scores/{RUN}.csv"


def rows(n: int) -> list[ScoreRow]:
    return [ScoreRow.failed(run_id=RUN, file=f"{i}.wav", error="x") for i in range(n)]


def test_the_proof_is_s3s_sha256_of_the_bytes_and_the_row_count():
    encoded = encode_scores(rows(3))
    assert encoded.sha256 == base64.b64encode(hashlib.sha256(encoded.body).digest()).decode()
    arguments = encoded.put_arguments()
    assert arguments["ChecksumAlgorithm"] == "SHA256"
    assert arguments["ChecksumSHA256"] == encoded.sha256
    assert arguments["Metadata"] == {ROWS_METADATA: "3"}
    assert arguments["Body"].endswith(b"\r\n")


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        ({"Metadata": {ROWS_METADATA: "3"}}, "has no SHA-256 checksum"),
        ({"ChecksumCRC32": "x", "Metadata": {ROWS_METADATA: "3"}}, "has no SHA-256 checksum"),
        ({"ChecksumSHA256": "abc=-2", "ChecksumType": "COMPOSITE"}, "COMPOSITE SHA-256"),
        ({"ChecksumSHA256": "abc="}, "no valid x-amz-meta-scores-rows row count (got None)"),
        ({"ChecksumSHA256": "abc=", "Metadata": {ROWS_METADATA: "-1"}}, "(got '-1')"),
    ],
)
def test_an_object_without_a_full_proof_is_refused(response, reason):
    with pytest.raises(ScoresIntegrityError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        ScoresProof.of(response, URI)


def read(body: bytes, chunk: int = 7) -> HashingChunks:
    chunks = HashingChunks(body[i : i + chunk] for i in range(0, len(body), chunk))
    for _ in chunks:
        pass
    return chunks


def test_content_must_hash_to_the_checksum_count_its_rows_and_end_with_a_line_break():
    encoded = encode_scores(rows(3))
    proof = ScoresProof(encoded.sha256, 3)
    check_content(proof, read(encoded.body), 3, URI)
    with pytest.raises(ScoresReadError, match="hash to"):
        check_content(proof, read(encoded.body.replace(b"0.wav", b"9.wav")), 3, URI)
    cut = encoded.body[:-2]
    with pytest.raises(ScoresIntegrityError, match="holds 2 row"):
        check_content(ScoresProof(encode_scores(rows(3)).sha256, 3), read(encoded.body), 2, URI)
    with pytest.raises(ScoresIntegrityError, match="does not end with a line break"):
        check_content(
            ScoresProof(base64.b64encode(hashlib.sha256(cut).digest()).decode(), 3),
            read(cut),
            3,
            URI,
        )


def test_the_templates_filter_and_the_code_agree_on_the_key_case_sensitively():
    """S3 matches notification filters against the key as written (it is case-sensitive, as keys
    are; S3 User Guide, "Configuring event notifications using object key name filtering"), so
    a ``.CSV`` key would never reach ingest. The writer can only make ``.csv`` keys, and
    ingest's pattern accepts exactly what the template's filter lets through."""
    bucket = load_template(TEMPLATE_PATH)["Resources"]["ResultsBucket"]["Properties"]
    (config,) = bucket["NotificationConfiguration"]["LambdaConfigurations"]
    rules = {rule["Name"]: rule["Value"] for rule in config["Filter"]["S3Key"]["Rules"]}
    assert rules == {"prefix": SCORES_PREFIX, "suffix": SCORES_SUFFIX}

    def notified(key: str) -> bool:
        return key.startswith(rules["prefix"]) and key.endswith(rules["suffix"])

    key = scores_key(RUN)
    assert notified(key) and run_id_of_scores_key(key) == RUN
    for other in (f"scores/{RUN}.CSV", f"scores/{RUN}.Csv", f"Scores/{RUN}.csv"):
        assert not notified(other) and run_id_of_scores_key(other) is None
