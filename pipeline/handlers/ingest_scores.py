"""S3-triggered Lambda: ingest ``scores/<run_id>.csv`` into DynamoDB and send the run's message.

Two passes over the object keep memory flat and writes all-or-nothing with respect to bad
input: pass 1 streams the CSV through the strict reader and keeps only what the summary needs
(per-file error and reference-word counts, a bounded heap of the worst files, the first
failures, one digest per batch of rows); pass 2 streams the same object version again
(``IfMatch`` on the ETag) and writes the file items in batches, each batch only after its rows
proved equal to the ones pass 1 validated. A malformed CSV therefore writes no score items.

Integrity (``pipeline.scores_object``). The object must carry its writer's proof, S3's own
ChecksumSHA256 plus the row count in its metadata; pass 1 hashes what it parses and counts the
rows. An object without the proof, or whose rows disagree with it, is refused with a FAILED
message. Bytes that disagree with S3's stored checksum are a transport fault: that raises, and
Lambda's retry reads the object again.

Idempotence. S3 delivers events at least once, so everything here may run twice, or at once:

* Items are keyed by (run, file) and are a pure function of the CSV, and the previous run is
  found by key order (``gsi1sk < run_id``), so a second ingest rewrites identical items.
* The message is guarded by the notification marker ``pk=RUN#<run_id>, sk=NOTIFICATION``,
  claimed with a conditional write before publishing (``results_table.claim_notification``):
  of overlapping deliveries exactly one publishes, the others wait for its claim to resolve.
  The claim expires, so a publisher that dies holding it is replaced (at-least-once: a FAILED
  or REGRESSION alert is never lost). The sent marker names the object version's ETag, so a
  corrected CSV uploaded under the same key is reported again.

Bad input (a key that is not ``scores/<run_id>.csv``, a missing object, a malformed CSV, a CSV
without its proof) is reported in the result, and all but the first in a FAILED message; it
never raises, because a retry cannot fix it. Anything else (throttling that outlasted the
retries, a missing table, a corrupted read, a claim held too long) raises after every record
was tried, so Lambda's retry and DLQ take over.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import boto3
from botocore.exceptions import ClientError

from pipeline import notify
from pipeline.aws import Clients
from pipeline.dynamodb_limits import NumberNotStorable, dynamodb_number
from pipeline.empty_corpus import instructions, no_corpus_row
from pipeline.errors import ConfigurationError, error_code
from pipeline.handlers import configure_logging
from pipeline.history import scored_files
from pipeline.layout import run_id_of_scores_key
from pipeline.results_table import (
    BATCH_SIZE,
    RUN_FAILED,
    RUN_NO_CORPUS,
    RUN_OK,
    ClaimPolicy,
    Item,
    RetryPolicy,
    RunSummary,
    claim_notification,
    file_item,
    latest_run_before,
    mark_notification_sent,
    notification_item,
    previous_summary,
    put_item,
    release_notification,
    run_file_items,
    starter_notes,
    summary_item,
    write_items,
)
from pipeline.run_id import is_run_id
from pipeline.scores_csv import (
    RUN_FAILURE_PREFIX,
    RUN_ROW_FILE,
    STATUS_OK,
    ScoreRow,
    ScoresCsvError,
    ScoresCsvReader,
    read_rows_from_bytes,
)
from pipeline.scores_object import (
    HashingChunks,
    ScoresIntegrityError,
    ScoresProof,
    ScoresReadError,
    check_content,
)
from pipeline.scoring.compare import FileResult, compare_runs
from pipeline.scoring.corpus import corpus_wer

LOG = logging.getLogger(__name__)

CHUNK_BYTES = 256 * 1024
MAX_LISTED_FAILURES = 50  # the body lists this many failed files, then counts the rest
WRITE_RETRY = RetryPolicy()  # module settings, so tests can make retries and waits instant
# BatchWriteItem calls in flight at most (boto3's connection pool holds 10); the writer's window
# narrows to what the table accepts (bench/ingest.py measures it).
WRITE_CONCURRENCY = 4
CLAIM_POLICY = ClaimPolicy()


@dataclass(frozen=True)
class Config:
    table: str
    topic_arn: str
    regression_threshold: float
    worst_files: int
    confidence: float = 0.95  # of the paired interval a regression's rise must clear

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Config:
        missing = [name for name in ("SCORES_TABLE", "ALERT_TOPIC_ARN") if not env.get(name)]
        if missing:
            raise ConfigurationError(f"environment variable(s) not set: {', '.join(missing)}")
        raw_threshold = env.get("REGRESSION_THRESHOLD", "0.02")
        try:
            threshold = float(raw_threshold)
        except ValueError:
            threshold = math.nan
        if not math.isfinite(threshold) or threshold < 0 or not _storable(threshold):
            raise ConfigurationError(
                f"REGRESSION_THRESHOLD must be a WER rise >= 0 such as 0.02, got {raw_threshold!r}"
            )
        raw_worst = env.get("WORST_FILES", "10")
        if not re.fullmatch(r"[0-9]{1,6}", raw_worst.strip()):
            raise ConfigurationError(f"WORST_FILES must be a whole number, got {raw_worst!r}")
        raw_confidence = env.get("REGRESSION_CONFIDENCE", "0.95")
        try:
            confidence = float(raw_confidence)
        except ValueError:
            confidence = math.nan
        if not 0.5 <= confidence < 1 or not _storable(confidence):
            raise ConfigurationError(
                f"REGRESSION_CONFIDENCE must be in [0.5, 1) such as 0.95, got {raw_confidence!r}"
            )
        return cls(
            env["SCORES_TABLE"], env["ALERT_TOPIC_ARN"], threshold, int(raw_worst), confidence
        )


def _storable(number: float) -> bool:
    """The summary item stores the threshold: it must be a number DynamoDB can hold."""
    try:
        dynamodb_number(number)
    except NumberNotStorable:
        return False
    return True


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    configure_logging()
    config = Config.from_env()
    clients = Clients(boto3.Session())
    return ingest_event(event, config, clients)


def ingest_event(event: Mapping[str, Any], config: Config, clients: Clients) -> dict[str, Any]:
    """Ingest every record; re-raise the first unexpected failure once all were tried."""
    results: list[dict[str, Any]] = []
    first_failure: Exception | None = None
    for record in event.get("Records") or []:
        try:
            results.append(ingest_record(record, config, clients))
        except Exception as exc:  # re-raised below, after the other records had their turn
            LOG.exception("ingest failed for record %s; Lambda will retry the event", record)
            first_failure = first_failure or exc
    if first_failure is not None:
        raise first_failure
    if not results:
        LOG.warning("event has no S3 records: %s", event)
    return {"records": results}


def _result(bucket: str, key: str, outcome: str, **fields: Any) -> dict[str, Any]:
    return {"bucket": bucket, "key": key, "outcome": outcome, **fields}


def ingest_record(record: Mapping[str, Any], config: Config, clients: Clients) -> dict[str, Any]:
    """Ingest one S3 record and return a JSON-serializable account of what happened."""
    try:
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
    except (KeyError, TypeError):
        LOG.error("not an S3 event record, ignored: %s", record)
        return _result("", "", "rejected", error="not an S3 event record")
    event_name = record.get("eventName", "ObjectCreated:Put")
    if not event_name.startswith("ObjectCreated"):
        LOG.info("ignoring %s for s3://%s/%s", event_name, bucket, key)
        return _result(bucket, key, "ignored", error=f"event {event_name} is not an upload")
    run_id = run_id_of_scores_key(key)
    if run_id is None or not is_run_id(run_id):
        reason = f"key {key!r} is not scores/<run_id>.csv (run id like 2026-11-24T20-00-00Z-3fa9c1)"
        LOG.error("rejected s3://%s/%s: %s", bucket, key, reason)
        return _result(bucket, key, "rejected", error=reason)
    return _ingest_scores(bucket, key, run_id, config, clients)


# ----------------------------------------------------------------------------------- pass 1


class _Ranked:
    """Heap entry whose minimum is the first to drop: lowest WER, then the later file name."""

    __slots__ = ("row",)

    def __init__(self, row: ScoreRow):
        self.row = row

    def __lt__(self, other: _Ranked) -> bool:
        return (self.row.wer, other.row.file) < (other.row.wer, self.row.file)


class _Tally:
    """What pass 1 keeps: O(files) small tuples plus bounded lists, never the rows themselves."""

    def __init__(self, run_id: str, worst_files: int):
        self.run_id = run_id
        self.worst_files = worst_files
        self.rows = 0
        self.counts: list[tuple[int, int]] = []
        self.results: dict[str, FileResult] = {}  # ok files, for the paired comparison
        self.lines: dict[str, int] = {}
        self.failed = 0
        self.failures: list[ScoreRow] = []
        self.run_failure: str | None = None  # why the run stopped, when it did not complete
        self.run_rows = 0  # rows about the run, not a file (it could not list its corpus)
        self.batches = _BatchDigests()
        self._heap: list[_Ranked] = []

    def add(self, row: ScoreRow, line: int) -> None:
        if row.run_id != self.run_id:
            raise ScoresCsvError(
                f"run id {row.run_id!r} does not match the key's run id {self.run_id!r}",
                line=line,
                field="run_id",
            )
        first = self.lines.setdefault(row.file, line)
        if first != line:
            raise ScoresCsvError(
                f"duplicate file {row.file!r} (first on line {first})", line=line, field="file"
            )
        self.rows += 1
        self.batches.add(row)
        if row.status != STATUS_OK:
            self.failed += 1
            if self.run_failure is None and row.error.startswith(RUN_FAILURE_PREFIX):
                self.run_failure = row.error.removeprefix(RUN_FAILURE_PREFIX)
            self.run_rows += row.file == RUN_ROW_FILE
            if len(self.failures) < MAX_LISTED_FAILURES:
                self.failures.append(row)
            return
        self.counts.append((row.errors, row.ref_words or 0))
        self.results[row.file] = FileResult(
            row.errors, row.ref_words or 0, row.reference_sha256 or None
        )
        if self.worst_files <= 0:
            return
        entry = _Ranked(row)
        if len(self._heap) < self.worst_files:
            heapq.heappush(self._heap, entry)
        elif self._heap[0] < entry:
            heapq.heapreplace(self._heap, entry)

    @property
    def files(self) -> int:
        return len(self.lines)

    def worst(self) -> list[ScoreRow]:
        return [entry.row for entry in sorted(self._heap, reverse=True)]


class _BatchDigests:
    """One SHA-256 per BATCH_SIZE rows: pass 2 writes a batch only if its rows hash the same,
    so a read that differs from pass 1's (it cannot, short of a transport fault the checksum
    catches only at the end) never reaches the table. 32 bytes per 25 rows."""

    def __init__(self) -> None:
        self.digests: list[bytes] = []
        self._current = hashlib.sha256()
        self._size = 0

    def add(self, row: ScoreRow) -> None:
        self._current.update(repr(row).encode("utf-8", "surrogatepass"))
        self._size += 1
        if self._size == BATCH_SIZE:
            self.close()

    def close(self) -> None:
        if self._size:
            self.digests.append(self._current.digest())
            self._current, self._size = hashlib.sha256(), 0


def _verified_items(rows: Iterator[ScoreRow], expected: list[bytes], uri: str) -> Iterator[Item]:
    """Pass 2's file items, released a batch at a time once the batch matches pass 1."""
    batch: list[ScoreRow] = []
    seen = _BatchDigests()

    def release() -> list[Item]:
        index = len(seen.digests)
        for row in batch:
            seen.add(row)
        seen.close()
        if index >= len(expected) or seen.digests[index] != expected[index]:
            raise ScoresReadError(
                f"{uri}: rows {index * BATCH_SIZE + 1}.. read differently"
                " in the second pass; nothing more was written"
            )
        return [file_item(row) for row in batch]

    for row in rows:
        batch.append(row)
        if len(batch) == BATCH_SIZE:
            yield from release()
            batch = []
    if batch:
        yield from release()
    if len(seen.digests) != len(expected):
        raise ScoresReadError(f"{uri}: the second pass read fewer rows than the first")


def _stream_rows(obj: Mapping[str, Any], chunks: Iterable[bytes]) -> Iterator[tuple[int, ScoreRow]]:
    """Rows read from ``chunks`` of a get_object response's body, with the line each starts on;
    closes the body."""
    try:
        reader: ScoresCsvReader = read_rows_from_bytes(chunks)
        for row in reader:
            yield reader.line, row
    finally:
        obj["Body"].close()


def _proof(obj: Mapping[str, Any], uri: str) -> ScoresProof:
    """The writer's proof on the object, or ScoresIntegrityError (the body closed unread)."""
    try:
        return ScoresProof.of(obj, uri)
    except ScoresIntegrityError:
        obj["Body"].close()
        raise


def _chunks(obj: Mapping[str, Any]) -> Iterator[bytes]:
    return obj["Body"].iter_chunks(CHUNK_BYTES)


# ----------------------------------------------------------------------------------- a run


def _ingest_scores(
    bucket: str, key: str, run_id: str, config: Config, clients: Clients
) -> dict[str, Any]:
    uri = f"s3://{bucket}/{key}"
    try:
        obj = clients("s3").get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except ClientError as exc:
        if error_code(exc) != "NoSuchKey":
            raise
        reason = f"scores object {uri} does not exist (NoSuchKey)"
        LOG.error("run %s: %s", run_id, reason)
        summary = RunSummary(run_id, RUN_FAILED, uri, error=reason)
        # No object version to tie the message to: any earlier message for the run suffices.
        sent = _notify_once(summary, [], [], None, config, clients)
        return _result(
            bucket, key, "failed", run_id=run_id, status=RUN_FAILED, error=reason, **sent
        )
    etag = obj["ETag"]

    tally = _Tally(run_id, config.worst_files)
    try:
        proof = _proof(obj, uri)
        read = HashingChunks(_chunks(obj))
        for line, row in _stream_rows(obj, read):
            tally.add(row, line)
        tally.batches.close()
        check_content(proof, read, tally.rows, uri)
    except (ScoresCsvError, ScoresIntegrityError) as exc:
        where = {"line": exc.line, "field": exc.field} if isinstance(exc, ScoresCsvError) else {}
        reason = str(exc) if isinstance(exc, ScoresIntegrityError) else f"{uri}: {exc}"
        LOG.error("run %s: refused, nothing written: %s", run_id, reason)
        summary = RunSummary(run_id, RUN_FAILED, uri, error=reason)
        sent = _notify_once(summary, [], [], etag, config, clients)
        return _result(
            bucket,
            key,
            "failed",
            run_id=run_id,
            status=RUN_FAILED,
            error=reason,
            written=0,
            **where,
            **sent,
        )
    LOG.info("run %s: %s is valid: %d file(s), %d failed", run_id, uri, tally.files, tally.failed)

    try:
        second = clients("s3").get_object(
            Bucket=bucket, Key=key, IfMatch=etag, ChecksumMode="ENABLED"
        )
    except ClientError as exc:
        if error_code(exc) not in ("PreconditionFailed", "NoSuchKey"):
            raise
        reason = f"{uri} changed during ingest; its newer version's event will be ingested"
        LOG.warning("run %s: %s", run_id, reason)
        return _result(bucket, key, "superseded", run_id=run_id, error=reason)
    rows = (row for _, row in _stream_rows(second, _chunks(second)))
    items = _verified_items(rows, tally.batches.digests, uri)
    written = write_items(
        config.table,
        items,
        clients("dynamodb"),
        retry=WRITE_RETRY,
        concurrency=WRITE_CONCURRENCY,
    )

    summary = _summarize(run_id, uri, tally, config, clients)
    put_item(config.table, summary_item(summary), clients("dynamodb"))
    LOG.info(
        "run %s: wrote %d file item(s) and the summary: %s, corpus WER %s",
        run_id,
        written,
        summary.status,
        summary.corpus_wer,
    )
    sent = _notify_once(summary, tally.worst(), tally.failures, etag, config, clients)
    return _result(
        bucket,
        key,
        "ingested",
        run_id=run_id,
        status=summary.status,
        files=summary.files,
        failed=summary.failed,
        written=written,
        corpus_wer=summary.corpus_wer,
        delta_wer=summary.delta_wer,
        previous_run_id=summary.previous_run_id,
        error=summary.error or None,
        **sent,
    )


def _summarize(
    run_id: str, uri: str, tally: _Tally, config: Config, clients: Clients
) -> RunSummary:
    dynamodb = clients("dynamodb")
    corpus = corpus_wer(tally.counts)
    previous = previous_summary(config.table, run_id, dynamodb)
    since = latest_run_before(config.table, run_id, dynamodb) or ""
    notes = tuple(starter_notes(config.table, since, run_id, dynamodb))
    previous_id = None if previous is None else str(previous["run_id"])
    previous_wer = None if previous is None else float(previous["corpus_wer"])
    comparison = None
    empty = no_corpus_row(tally.failures) if tally.files == 1 else None
    if empty is not None:
        # NO_CORPUS while no run ever had a corpus WER (a new stack); afterwards it is FAILED.
        status = RUN_NO_CORPUS if previous is None else RUN_FAILED
        error = instructions(empty.error)
        if previous is not None:
            error = f"the corpus is empty (run {previous_id} scored it): {error}"
    elif tally.run_failure is not None and tally.counts:
        # The run stopped part-way: the files it scored are stored, but a partial corpus is
        # neither an OK run nor a baseline for the next one.
        status = RUN_FAILED
        error = (
            f"the run did not complete ({tally.run_failure}); {len(tally.counts)} of "
            f"{tally.files} files were scored before it stopped, and their scores are stored"
        )
        corpus = corpus_wer([])
    elif corpus.wer is None:
        status = RUN_FAILED
        if tally.files == 0:
            error = "the scores CSV has no rows"
        elif not tally.counts:
            error = f"no file was scored: all {tally.files} failed"
            reasons = {row.error for row in tally.failures}
            if len(tally.failures) == tally.failed and len(reasons) == 1:
                error += f": {reasons.pop()}"  # one cause (the run failed): say it in full
        else:
            error = "the scored files have no reference words"
    else:
        error = ""
        status = RUN_OK
        if previous_id is not None:
            # On the files both runs scored against the same reference, as the notebook's
            # report did (pipeline.scoring.compare), never on two different corpora.
            before = scored_files(run_file_items(config.table, previous_id, dynamodb))
            comparison = compare_runs(
                tally.results,
                before,
                threshold=config.regression_threshold,
                confidence=config.confidence,
            )
            status = comparison.verdict
    changes = comparison.changes if comparison else None
    return RunSummary(
        run_id=run_id,
        status=status,
        scores_uri=uri,
        files=tally.files - tally.run_rows,
        failed=tally.failed - tally.run_rows,
        corpus_wer=corpus.wer,
        ci_low=corpus.ci_low,
        ci_high=corpus.ci_high,
        confidence=corpus.confidence,
        errors=corpus.errors,
        ref_words=corpus.ref_words,
        previous_run_id=previous_id,
        previous_corpus_wer=previous_wer,
        delta_wer=comparison.delta if comparison else None,
        delta_ci_low=comparison.ci_low if comparison else None,
        delta_ci_high=comparison.ci_high if comparison else None,
        common_files=comparison.common_files if comparison else None,
        files_added=len(changes.added) if changes else None,
        files_removed=len(changes.removed) if changes else None,
        references_changed=len(changes.reference_changed) if changes else None,
        regression_threshold=config.regression_threshold,
        regression_confidence=config.confidence,
        error=error,
        notes=notes,
    )


def _notify_once(
    summary: RunSummary,
    worst: list[ScoreRow],
    failures: list[ScoreRow],
    etag: str | None,
    config: Config,
    clients: Clients,
) -> dict[str, Any]:
    """Publish the run's message unless it went out already (see the module docstring).

    ``etag`` None (no object) means any earlier message for the run counts as sent.
    """
    subject = notify.subject(summary)
    message = notify.body(summary, worst, failures, clients("s3").meta.region_name)
    dynamodb = clients("dynamodb")
    claim = claim_notification(config.table, summary.run_id, etag, dynamodb, CLAIM_POLICY)
    if claim.token is None:
        message_id = (claim.sent or {}).get("message_id")
        LOG.info("run %s: message %s already sent, not sending again", summary.run_id, message_id)
        return {"notified": False, "message_id": message_id}
    try:
        response = clients("sns").publish(
            TopicArn=config.topic_arn,
            Subject=subject,
            Message=message,
            MessageAttributes=notify.attributes(summary),
        )
    except Exception:
        release_notification(config.table, summary.run_id, claim.token, dynamodb)
        raise
    message_id = response["MessageId"]
    marker = notification_item(
        summary.run_id,
        etag=etag or "",
        status=summary.status,
        subject=subject,
        message_id=message_id,
    )
    mark_notification_sent(config.table, marker, claim.token, dynamodb)
    LOG.info("run %s: sent %s (message %s)", summary.run_id, subject, message_id)
    return {"notified": True, "message_id": message_id}
