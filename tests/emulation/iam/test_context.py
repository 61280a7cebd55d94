"""Service-specific condition keys read from a request, as the services define them."""

from __future__ import annotations

from emulation.iam.context import service_context

KEYS = {("scores", None): "pk", ("scores", "history"): "gsi1pk"}


def hash_key(table: str, index: str | None) -> str | None:
    return KEYS.get((table, index))


def test_leading_keys_of_writes_reads_and_queries() -> None:
    """DynamoDB Developer Guide, "Using IAM policy conditions for fine-grained access control"."""
    put = {"TableName": "scores", "Item": {"pk": {"S": "STARTER"}, "sk": {"S": "x"}}}
    assert service_context("dynamodb", "PutItem", put, hash_key) == {
        "dynamodb:leadingkeys": ("STARTER",)
    }
    get = {"TableName": "scores", "Key": {"pk": {"S": "RUN#1"}, "sk": {"S": "SUMMARY"}}}
    assert service_context("dynamodb", "GetItem", get, hash_key)["dynamodb:leadingkeys"] == (
        "RUN#1",
    )
    batch = {
        "RequestItems": {
            "scores": [
                {"PutRequest": {"Item": {"pk": {"S": "RUN#1"}}}},
                {"PutRequest": {"Item": {"pk": {"S": "RUN#2"}}}},
                {"DeleteRequest": {"Key": {"pk": {"S": "RUN#1"}}}},
            ]
        }
    }
    assert service_context("dynamodb", "BatchWriteItem", batch, hash_key) == {
        "dynamodb:leadingkeys": ("RUN#1", "RUN#2")
    }
    query = {
        "TableName": "scores",
        "IndexName": "history",
        "KeyConditionExpression": "#k = :corpus AND gsi1sk < :run",
        "ExpressionAttributeNames": {"#k": "gsi1pk"},
        "ExpressionAttributeValues": {":corpus": {"S": "CORPUS"}, ":run": {"S": "2026"}},
    }
    assert service_context("dynamodb", "Query", query, hash_key) == {
        "dynamodb:leadingkeys": ("CORPUS",)
    }
    assert service_context("dynamodb", "Scan", {"TableName": "scores"}, hash_key) == {}


def test_transcribe_output_keys_only_when_given() -> None:
    request = {"OutputBucketName": "results", "OutputKey": "transcripts/r/a.json"}
    assert service_context("transcribe", "StartTranscriptionJob", request, hash_key) == {
        "transcribe:outputbucketname": "results",
        "transcribe:outputkey": "transcripts/r/a.json",
    }
    assert service_context("transcribe", "StartTranscriptionJob", {}, hash_key) == {}
