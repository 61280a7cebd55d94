"""The DynamoDB layout of the scores table, its batch writer, the queries ingest needs, and
the claim that makes a run's message go out once.

Keys answer the two questions users ask: ``pk = RUN#<run_id>`` holds every file of a run (plus
its summary and notification marker), and the ``history`` index (``gsi1pk = FILE#<file>`` or
``CORPUS``, ``gsi1sk = <run_id>``) holds one file's, or the corpus's, history in time order.
Items are a pure function of their inputs, so writing the same run twice leaves the same items.

The notification marker (``sk = NOTIFICATION``) is claimed with a conditional write *before*
the message is published, so of several deliveries of one event that overlap, exactly one
publishes (DynamoDB applies a conditional write atomically). The claim expires after
``ClaimPolicy.lease_seconds``: a publisher that dies holding it (a Lambda timeout, a crash) is
retried by Lambda, and the retry, or any delivery waiting on the claim, takes the expired claim
over and publishes. That keeps the message at-least-once, never lost; a duplicate can happen
only if a publisher outlives its lease between publishing and marking the message sent. Once
sent, the marker names the object version (ETag) it reported, so a corrected CSV uploaded
under the same key is reported again.

The starter Lambda adds notes (``pk = gsi1pk = STARTER``, ``sk = gsi1sk = <time>-<kind>-<id>``,
time-sorted like run ids): an instance it stopped, a scheduled start it skipped. Ingest puts
the notes written since the previous run into the next run's message.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from pipeline.dynamodb_limits import dynamodb_number
from pipeline.errors import PipelineError, error_code
from pipeline.scores_csv import (
    COLUMNS,
    COUNT_FIELDS,
    FILE_KEY_PREFIX,
    FLOAT_FIELDS,
    SCHEMA_VERSION,
    ScoreRow,
)

LOG = logging.getLogger(__name__)

HISTORY_INDEX = "history"
CORPUS_PK = "CORPUS"
SUMMARY_SK = "SUMMARY"
NOTIFICATION_SK = "NOTIFICATION"
FILE_PREFIX = FILE_KEY_PREFIX  # the contract bounds file names by this key's size
RUN_PREFIX = "RUN#"
STARTER_PK = "STARTER"
BATCH_SIZE = 25  # BatchWriteItem's limit

RUN_OK = "OK"
RUN_REGRESSION = "REGRESSION"
RUN_IMPROVED = "IMPROVED"
RUN_FAILED = "FAILED"
RUN_NO_CORPUS = "NO_CORPUS"  # nothing uploaded yet, on a stack that never scored a run

# The notification marker's states: a live claim (someone is publishing), or sent.
NOTIFICATION_CLAIMED = "claimed"
NOTIFICATION_SENT = "sent"

Item = dict[str, Any]


def table_definition(table_name: str) -> dict[str, Any]:
    """CreateTable arguments for the layout above: the key design in one place.

    deploy/template.yaml declares the same table (a test keeps the two equal); tests and
    benches create their tables from this.
    """
    key_attributes = ("pk", "sk", "gsi1pk", "gsi1sk")
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"} for name in key_attributes
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": HISTORY_INDEX,
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }


_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


class UnprocessedItemsError(PipelineError):
    """DynamoDB kept returning UnprocessedItems (throttling): transient, so callers re-raise."""

    def __init__(self, table: str, remaining: int, attempts: int):
        self.table, self.remaining, self.attempts = table, remaining, attempts
        super().__init__(
            f"table {table!r}: {remaining} item(s) still unprocessed after {attempts} attempts"
        )


def run_pk(run_id: str) -> str:
    return RUN_PREFIX + run_id


def _clean(attributes: Mapping[str, Any]) -> Item:
    """Drop None and empty strings (absent means "no value"); numbers become Decimal."""
    item: Item = {}
    for name, value in attributes.items():
        if value is None or value == "" or value == ():
            continue
        item[name] = dynamodb_number(value) if isinstance(value, int | float) else value
    return item


def file_item(row: ScoreRow) -> Item:
    """One CSV row's item, keyed by (run, file): a re-ingest overwrites it, never duplicates it."""
    columns = {name: getattr(row, name) for name in COLUMNS[1:]}
    return _clean(
        {
            "pk": run_pk(row.run_id),
            "sk": FILE_PREFIX + row.file,
            "gsi1pk": FILE_PREFIX + row.file,
            "gsi1sk": row.run_id,
            "schema_version": SCHEMA_VERSION,
            **columns,
        }
    )


def row_from_item(item: Mapping[str, Any]) -> ScoreRow:
    """The inverse of file_item."""
    values: dict[str, Any] = {}
    for name in COLUMNS[1:]:
        value = item.get(name)
        if name in FLOAT_FIELDS:
            values[name] = None if value is None else float(value)
        elif name in COUNT_FIELDS:
            values[name] = None if value is None else int(value)
        else:
            values[name] = "" if value is None else str(value)
    return ScoreRow(**values)


@dataclass(frozen=True)
class RunSummary:
    """What one run came to: the summary item's content and the notification's input."""

    run_id: str
    status: str  # RUN_OK | RUN_REGRESSION | RUN_IMPROVED | RUN_FAILED | RUN_NO_CORPUS
    scores_uri: str
    files: int = 0  # rows in the CSV
    failed: int = 0  # rows with status "failed"
    corpus_wer: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float | None = None
    errors: int | None = None
    ref_words: int | None = None
    previous_run_id: str | None = None
    previous_corpus_wer: float | None = None
    # The change against the previous run, on the files both scored against the same reference
    # (pipeline.scoring.compare): its value, its paired bootstrap interval and how many files.
    delta_wer: float | None = None
    delta_ci_low: float | None = None
    delta_ci_high: float | None = None
    common_files: int | None = None
    files_added: int | None = None
    files_removed: int | None = None
    references_changed: int | None = None
    regression_threshold: float | None = None
    regression_confidence: float | None = None
    error: str = ""  # why the run FAILED as a whole (unreadable CSV, nothing scored)
    notes: tuple[str, ...] = ()  # the starter's notes since the previous run

    @property
    def scored(self) -> int:
        return self.files - self.failed


def summary_item(summary: RunSummary) -> Item:
    attributes = {field.name: getattr(summary, field.name) for field in fields(RunSummary)}
    return _clean(
        {
            "pk": run_pk(summary.run_id),
            "sk": SUMMARY_SK,
            "gsi1pk": CORPUS_PK,
            "gsi1sk": summary.run_id,
            **attributes,
        }
    )


def notification_item(
    run_id: str, *, etag: str, status: str, subject: str, message_id: str
) -> Item:
    """Marks that the run's message went out for the object version ``etag``."""
    return _clean(
        {
            "pk": run_pk(run_id),
            "sk": NOTIFICATION_SK,
            "run_id": run_id,
            "state": NOTIFICATION_SENT,
            "etag": etag,
            "status": status,
            "subject": subject,
            "message_id": message_id,
        }
    )


def is_notification_sent(marker: Mapping[str, Any]) -> bool:
    """A marker that records a sent message (markers from before claims have no state)."""
    return marker.get("state", NOTIFICATION_SENT) == NOTIFICATION_SENT


def starter_note_item(at: datetime, kind: str, text: str, instance: str) -> Item:
    """A note of the starter Lambda, sorted by time among the notes (and against run ids)."""
    sort_key = f"{at.astimezone(timezone.utc):%Y-%m-%dT%H-%M-%SZ}-{kind}-{secrets.token_hex(3)}"
    return _clean(
        {
            "pk": STARTER_PK,
            "sk": sort_key,
            "gsi1pk": STARTER_PK,
            "gsi1sk": sort_key,
            "kind": kind,
            "text": text,
            "instance": instance,
        }
    )


def _serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _SERIALIZER.serialize(value) for name, value in item.items()}


def deserialize_item(item: Mapping[str, Any]) -> Item:
    """A low-level client's item (``{"S": ...}`` values) as plain Python values."""
    return {name: _DESERIALIZER.deserialize(value) for name, value in item.items()}


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry UnprocessedItems: exponential backoff with full jitter, bounded."""

    max_attempts: int = 8
    base_delay: float = 0.05
    max_delay: float = 5.0
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def write_items(
    table_name: str,
    items: Iterable[Item],
    dynamodb_client: Any,
    *,
    retry: RetryPolicy = RetryPolicy(),
    concurrency: int = 1,
) -> int:
    """Write ``items`` with BatchWriteItem, 25 at a time; return how many were written.

    Throttled writes come back as UnprocessedItems rather than as an error; those are resent
    with backoff, up to ``retry.max_attempts`` calls per batch, then UnprocessedItemsError.
    With ``concurrency`` > 1, up to that many calls are in flight at once (boto3 clients are
    thread-safe), so the write is bounded by the table rather than by round trips; a
    ``WriteWindow`` narrows when the table throttles. Items are read from ``items`` only as
    calls free up, so memory stays flat however many there are. Items in one call must have
    distinct keys (DynamoDB's rule).
    """
    batches = _batches(items)
    if concurrency <= 1:
        return sum(_write_batch(table_name, batch, dynamodb_client, retry) for batch in batches)
    window = WriteWindow(concurrency)
    with ThreadPoolExecutor(concurrency, thread_name_prefix="batch-write") as pool:
        for batch in batches:
            if not window.acquire():
                break  # a call failed: send no more, report it below
            pool.submit(_write_batch, table_name, batch, dynamodb_client, retry, window)
    return window.result()


def _batches(items: Iterable[Item]) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) == BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


class WriteWindow:
    """How many BatchWriteItem calls may be in flight, and what they wrote.

    AIMD, TCP's rule for an unknown capacity: a call answered with UnprocessedItems (DynamoDB
    throttling a partition; one run's items share one partition key, which takes about 1,000
    writes per second, DynamoDB Developer Guide, "Partitions and data distribution") halves
    the window; each window's worth of clean calls widens it by one, up to the maximum.
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = self.limit = maximum
        self._in_flight = self._clean = self.written = 0
        self._error: BaseException | None = None
        self._changed = threading.Condition()

    def acquire(self) -> bool:
        """Wait for a free slot; False once a call has failed."""
        with self._changed:
            while self._in_flight >= self.limit and self._error is None:
                self._changed.wait()
            if self._error is not None:
                return False
            self._in_flight += 1
            return True

    def throttled(self) -> None:
        with self._changed:
            self.limit = max(1, self.limit // 2)
            self._clean = 0

    def resend(self) -> None:
        """A refused call waits for room in the narrowed window before it is sent again, so
        resent calls too stay within it."""
        with self._changed:
            self._in_flight -= 1
            self._changed.notify_all()
            while self._in_flight >= self.limit:
                self._changed.wait()
            self._in_flight += 1

    def release(self, written: int = 0, error: BaseException | None = None) -> None:
        with self._changed:
            self._in_flight -= 1
            self.written += written
            if error is not None and self._error is None:
                self._error = error
            self._clean += 1
            if self._clean >= self.limit and self.limit < self.maximum:
                self.limit += 1
                self._clean = 0
            self._changed.notify_all()

    def result(self) -> int:
        """Items written, once every call is done; the first call's error, if one failed."""
        if self._error is not None:
            raise self._error
        return self.written


def _write_batch(
    table_name: str,
    batch: list[Item],
    client: Any,
    retry: RetryPolicy,
    window: WriteWindow | None = None,
) -> int:
    try:
        written = _send_batch(table_name, batch, client, retry, window)
    except BaseException as exc:
        if window is None:
            raise
        window.release(error=exc)
        return 0
    if window is not None:
        window.release(written)
    return written


def _send_batch(
    table_name: str, batch: list[Item], client: Any, retry: RetryPolicy, window: WriteWindow | None
) -> int:
    requests = [{"PutRequest": {"Item": _serialize(item)}} for item in batch]
    for attempt in range(1, retry.max_attempts + 1):
        response = client.batch_write_item(RequestItems={table_name: requests})
        requests = response.get("UnprocessedItems", {}).get(table_name, [])
        if not requests:
            return len(batch)
        if window is not None:
            window.throttled()
        if attempt < retry.max_attempts:
            delay = retry.delay(attempt)
            LOG.warning(
                "table %s: %d of %d items unprocessed (attempt %d/%d), retrying in %.3fs",
                table_name,
                len(requests),
                len(batch),
                attempt,
                retry.max_attempts,
                delay,
            )
            retry.sleep(delay)
            if window is not None:
                window.resend()
    raise UnprocessedItemsError(table_name, len(requests), retry.max_attempts)


def put_item(table_name: str, item: Item, dynamodb_client: Any) -> None:
    dynamodb_client.put_item(TableName=table_name, Item=_serialize(item))


def get_item(table_name: str, pk: str, sk: str, dynamodb_client: Any) -> Item | None:
    """Strongly consistent read, so a marker written a moment ago is seen."""
    response = dynamodb_client.get_item(
        TableName=table_name,
        Key={"pk": {"S": pk}, "sk": {"S": sk}},
        ConsistentRead=True,
    )
    item = response.get("Item")
    return None if item is None else deserialize_item(item)


def query_items(dynamodb_client: Any, **kwargs: Any) -> Iterator[Item]:
    """Every item a Query returns (all pages), decoded; ``kwargs`` are Query's parameters."""
    paginator = dynamodb_client.get_paginator("query")
    for page in paginator.paginate(**kwargs):
        for item in page.get("Items", []):
            yield deserialize_item(item)


def previous_summary(table_name: str, run_id: str, dynamodb_client: Any) -> Item | None:
    """The latest summary before ``run_id`` that has a corpus WER (runs that FAILED have none).

    Run ids sort by time, so "before" is ``gsi1sk < run_id`` on the CORPUS history.
    """
    summaries = query_items(
        dynamodb_client,
        TableName=table_name,
        IndexName=HISTORY_INDEX,
        KeyConditionExpression="gsi1pk = :corpus AND gsi1sk < :run",
        ExpressionAttributeValues={":corpus": {"S": CORPUS_PK}, ":run": {"S": run_id}},
        ScanIndexForward=False,
        PaginationConfig={"PageSize": 10},
    )
    return next((item for item in summaries if "corpus_wer" in item), None)


def run_items(table_name: str, run_id: str, dynamodb_client: Any) -> Iterator[Item]:
    """Every item of one run: its files, its summary and its notification marker."""
    return query_items(
        dynamodb_client,
        TableName=table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": run_pk(run_id)}},
        ConsistentRead=True,
    )


def run_file_items(table_name: str, run_id: str, dynamodb_client: Any) -> Iterator[Item]:
    """Every file item of one run, in file order."""
    return query_items(
        dynamodb_client,
        TableName=table_name,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :file)",
        ExpressionAttributeValues={":pk": {"S": run_pk(run_id)}, ":file": {"S": FILE_PREFIX}},
        ConsistentRead=True,
    )


# ----------------------------------------------------------------------- notification claims


@dataclass(frozen=True)
class ClaimPolicy:
    """How long a claim lives and how a delivery waits on someone else's.

    The lease must outlast a publish (one SNS call, normally well under a second). A delivery
    that finds a live claim waits for it to be sent or to expire, at most one lease, which the
    ingest function's 300-second timeout leaves room for; Lambda's retry of the dead
    publisher's invocation (about a minute later) finds it expired or about to be.
    """

    lease_seconds: float = 60.0
    poll_seconds: float = 0.5
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming: ``token`` when this caller must publish, else ``sent``, the
    marker of the message that already went out."""

    token: str | None = None
    sent: Item | None = None


class ClaimPendingError(PipelineError):
    """Another delivery held the claim for longer than a lease: transient, so callers re-raise
    and Lambda retries the event (by then the claim is sent or expired)."""


_STATE_NAMES = {"#state": "state"}


def claim_notification(
    table_name: str,
    run_id: str,
    etag: str | None,
    dynamodb_client: Any,
    policy: ClaimPolicy = ClaimPolicy(),
) -> Claim:
    """Claim the right to publish run ``run_id``'s message for object version ``etag``.

    Returns ``Claim(token=...)`` to the one caller that must publish (then
    ``mark_notification_sent`` or, if publishing failed, ``release_notification``), or
    ``Claim(sent=marker)`` when the message already went out: for this ETag, or for any
    version when ``etag`` is None (the object is missing, so any message about the run will
    do). A live claim of another delivery is waited on until it is sent or expires.
    """
    deadline = policy.clock() + policy.lease_seconds + policy.poll_seconds
    while True:
        now = policy.clock()
        token = secrets.token_hex(16)
        if _try_claim(table_name, run_id, etag, token, now, policy, dynamodb_client):
            return Claim(token=token)
        marker = get_item(table_name, run_pk(run_id), NOTIFICATION_SK, dynamodb_client)
        if marker is None:
            continue  # released between the write and the read: try again at once
        if is_notification_sent(marker) and (etag is None or marker.get("etag") == etag):
            return Claim(sent=marker)
        if policy.clock() >= deadline:
            raise ClaimPendingError(
                f"run {run_id}: the notification marker stayed {marker.get('state')!r} (ETag"
                f" {marker.get('etag')}) for more than {policy.lease_seconds:g} s"
            )
        # A live claim of another delivery: wait for it to be sent or to expire. (A marker
        # that changed between the write and the read is retried after the same short wait.)
        policy.sleep(policy.poll_seconds)


def _try_claim(
    table_name: str,
    run_id: str,
    etag: str | None,
    token: str,
    now: float,
    policy: ClaimPolicy,
    client: Any,
) -> bool:
    item = _clean(
        {
            "pk": run_pk(run_id),
            "sk": NOTIFICATION_SK,
            "run_id": run_id,
            "state": NOTIFICATION_CLAIMED,
            "etag": etag,
            "claim_token": token,
            "claim_expires": round(now + policy.lease_seconds, 3),
        }
    )
    # Free to claim: no marker; an expired claim; or (with an object) a message sent for
    # another version of it. Markers written before claims existed have no state: sent.
    condition = "attribute_not_exists(pk) OR (#state = :claimed AND claim_expires < :now)"
    values: dict[str, Any] = {":claimed": NOTIFICATION_CLAIMED, ":now": round(now, 3)}
    if etag is not None:
        condition += (
            " OR ((attribute_not_exists(#state) OR #state = :sent)"
            " AND (attribute_not_exists(etag) OR etag <> :etag))"
        )
        values.update({":sent": NOTIFICATION_SENT, ":etag": etag})
    try:
        client.put_item(
            TableName=table_name,
            Item=_serialize(item),
            ConditionExpression=condition,
            ExpressionAttributeNames=_STATE_NAMES,
            ExpressionAttributeValues=_serialize(_clean(values)),
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def mark_notification_sent(table_name: str, marker: Item, token: str, dynamodb_client: Any) -> bool:
    """Replace our claim by the sent ``marker`` (from ``notification_item``).

    False if the claim was no longer ours (it expired and another delivery took it over, and
    will publish too): the message then goes out twice, never zero times.
    """
    try:
        dynamodb_client.put_item(
            TableName=table_name,
            Item=_serialize(marker),
            ConditionExpression="claim_token = :token",
            ExpressionAttributeValues={":token": {"S": token}},
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            LOG.warning(
                "run %s: the notification claim expired before it was marked sent",
                marker.get("run_id"),
            )
            return False
        raise
    return True


def release_notification(table_name: str, run_id: str, token: str, dynamodb_client: Any) -> None:
    """Let our claim expire now (publishing failed), so the retry need not wait a lease.

    A conditional PutItem of the same claim with an expiry in the past: the role already may
    PutItem, so releasing needs no UpdateItem grant. Best effort: if this fails too, the claim
    simply expires when its lease ends.
    """
    expired = {
        "pk": run_pk(run_id),
        "sk": NOTIFICATION_SK,
        "run_id": run_id,
        "state": NOTIFICATION_CLAIMED,
        "claim_token": token,
        "claim_expires": 0,
    }
    try:
        dynamodb_client.put_item(
            TableName=table_name,
            Item=_serialize(expired),
            ConditionExpression="claim_token = :token AND #state = :claimed",
            ExpressionAttributeNames=_STATE_NAMES,
            ExpressionAttributeValues={
                ":token": {"S": token},
                ":claimed": {"S": NOTIFICATION_CLAIMED},
            },
        )
    except (ClientError, BotoCoreError) as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            LOG.warning(
                "run %s: could not release the notification claim (%s); it expires with its lease",
                run_id,
                error_code(exc),
            )


def latest_run_before(table_name: str, run_id: str, dynamodb_client: Any) -> str | None:
    """The newest run before ``run_id`` with a summary, whatever its status."""
    response = dynamodb_client.query(
        TableName=table_name,
        IndexName=HISTORY_INDEX,
        KeyConditionExpression="gsi1pk = :corpus AND gsi1sk < :run",
        ExpressionAttributeValues={":corpus": {"S": CORPUS_PK}, ":run": {"S": run_id}},
        ScanIndexForward=False,
        Limit=1,
    )
    items = response.get("Items", [])
    return items[0]["gsi1sk"]["S"] if items else None


def starter_notes(table_name: str, after: str, until: str, dynamodb_client: Any) -> list[str]:
    """The texts of the starter's notes written after run ``after`` ("" for all) and before
    run ``until``, oldest first."""
    values = {":starter": {"S": STARTER_PK}, ":until": {"S": until}}
    if after:  # DynamoDB refuses an empty key value
        values[":after"] = {"S": after}
    notes = query_items(
        dynamodb_client,
        TableName=table_name,
        IndexName=HISTORY_INDEX,
        KeyConditionExpression="gsi1pk = :starter AND "
        + ("gsi1sk BETWEEN :after AND :until" if after else "gsi1sk <= :until"),
        ExpressionAttributeValues=values,
    )
    return [str(note["text"]) for note in notes if note["gsi1sk"] != after]
