"""The twin applies each DynamoDB write, its condition included, atomically, as DynamoDB does.

AWS: a conditional write is applied only if its condition holds at the moment it is applied,
so of two ``attribute_not_exists(pk)`` puts of one item exactly one succeeds (DynamoDB
Developer Guide, "Condition expressions" and "Conditional writes"). moto checks the condition
and then writes with nothing in between to stop another thread; the first test widens that
window and shows both writes pass, and fails (saying the part can go) if moto closes the gap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.table import Table

from emulation.dynamodb.atomic_writes import AtomicWrites

ITEM = {"pk": {"S": "RUN#1"}, "sk": {"S": "NOTIFICATION"}}


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName="t",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
        )
        # Widen the window between moto's condition check (it reads the item) and its write.
        original = Table.get_item

        def slow_get_item(self: Table, *args: object, **kwargs: object) -> object:
            found = original(self, *args, **kwargs)
            time.sleep(0.05)
            return found

        monkeypatch.setattr(Table, "get_item", slow_get_item)
        yield client


def claim_twice(client: object) -> list[bool]:
    """Two threads put the same item, each only if it does not exist yet."""
    barrier = threading.Barrier(2)
    outcomes: list[bool] = []

    def claim() -> None:
        barrier.wait()
        try:
            client.put_item(  # type: ignore[attr-defined]
                TableName="t", Item=ITEM, ConditionExpression="attribute_not_exists(pk)"
            )
            outcomes.append(True)
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ConditionalCheckFailedException"
            outcomes.append(False)

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_moto_alone_lets_both_conditional_writes_pass(dynamodb):
    assert claim_twice(dynamodb) == [True, True]


def test_with_the_part_exactly_one_conditional_write_passes(dynamodb):
    part = AtomicWrites()
    part.install()
    try:
        assert sorted(claim_twice(dynamodb)) == [False, True]
    finally:
        part.uninstall()
