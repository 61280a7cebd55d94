"""Fault matrix of the scores path, against the twin: hostile scores CSVs, overlapping
deliveries, publishers that die, and runs cut part-way. Nothing may be lost, duplicated or
silently changed.

    .venv/bin/python bench/fault_matrix.py [--seed N] [--lambda-every N] [--no-runs]

Each hostile CSV is uploaded to the twin's S3 in one of four ways, then ingested either in
this process (the handler's ``ingest_event`` against the twin's endpoint) or, for every
``--lambda-every``-th case, by the real ingest Lambda from the project's zip, triggered by the
S3 notification:

* ``proof``: with S3's SHA-256 of the uploaded bytes and its row count: the writer vouched for
  this content (a writer bug, or a hand-made CSV uploaded properly);
* ``original``: the writer's proof of the original with altered bytes (a cut or flipped byte
  after hashing): S3 itself must refuse it (BadDigest);
* ``unproven``: without a SHA-256 (a copy or a hand upload): ingest must refuse it;
* ``cut-before-hash``: its own checksum but the writer's row count: a CSV cut before it was
  hashed (used for cuts only: any other change made before hashing is content its writer
  vouched for, the ``proof`` case).

Every outcome is judged from what the twin holds afterwards, never from the handler's word:
the run's DynamoDB items and its SNS messages. *Rejected cleanly*: no score item, no summary,
one FAILED message with a "Why" line (or, for a refused upload, no object and no message).
*Accepted correctly*: a summary, exactly one item per CSV row, each equal to an independent
reading of the vouched-for CSV (Python's csv module and Decimal, not the project's reader),
and one message. *Unhandled*: an exception escaped (or the Lambda failed). *Partial*: items
without a summary, or fewer items than rows. *Changed*: a stored value differs from the CSV the
writer vouched for. Messages: exactly one per object version that reached ingest.

The last line reads ``inputs N, rejected R, accepted A, unhandled U, partial P, changed C,
duplicate messages D, missing messages M``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import sys
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from botocore.exceptions import ClientError

from pipeline.aws import Clients
from pipeline.handlers import ingest_scores
from pipeline.layout import SCORES_PREFIX, SCORES_SUFFIX
from pipeline.results_table import ClaimPolicy, claim_notification, table_definition
from pipeline.scores_csv import COLUMNS, COUNT_FIELDS, FLOAT_FIELDS, ScoreRow
from pipeline.scores_object import ROWS_METADATA, encode_scores, sha256_base64

NUMBER_COLUMNS = frozenset((*FLOAT_FIELDS, *COUNT_FIELDS))
UPLOADS = ("proof", "original", "unproven", "cut-before-hash")
TOPIC, TABLE = "fault-matrix", "fault-matrix-scores"
DIRECT_BUCKET, LAMBDA_BUCKET = "fault-matrix-direct", "fault-matrix-lambda"
FUNCTION = "fault-matrix-ingest"
BASE_ROWS = 13  # the truncation case kept 4 of 13 rows

# File names a real corpus can have, which the CSV must carry unchanged.
NAMES = [
    "clip 01.wav",
    "sub/dir/é ü.mp3",
    'comma, "quoted".flac',
    '=HYPERLINK("http://evil.example","x").wav',
    "-rf.ogg",
    "@SUM(A1).wav",
    "'apostrophe.wav",
    "../escape.wav",
    "+plus.wav",
    "日本語.webm",
    "tab inside.wav",
    "x" * 300 + ".wav",
]


# ----------------------------------------------------------------------------------- inputs


def run_ids(seed: int) -> Iterator[str]:
    """Distinct, valid, time-sortable run ids."""
    start = 1_800_000_000 + seed * 10_000_000
    for n in range(10**7):
        moment = time.gmtime(start + n * 60)
        yield time.strftime("%Y-%m-%dT%H-%M-%SZ", moment) + f"-{n % 0xFFFFFF:06x}"


def base_rows(run_id: str, rng: random.Random) -> list[ScoreRow]:
    """Twelve scored files and one failed, named from NAMES."""
    rows = []
    for index, name in enumerate(rng.sample(NAMES, 12)):
        n = rng.randint(1, 400)
        s = rng.randint(0, n // 3)
        d = rng.randint(0, (n - s) // 3)
        i = rng.randint(0, n // 4)
        cer = 0.0 if s + d + i == 0 else rng.uniform(0.001, 0.9)
        rows.append(
            ScoreRow.from_counts(
                run_id=run_id,
                file=f"{index:02d} {name}",
                ref_words=n,
                substitutions=s,
                deletions=d,
                insertions=i,
                cer=cer,
                audio_seconds=round(rng.uniform(0.5, 600), 3),
                job_name=f"{run_id}_{index}",
                engine="amazon-transcribe",
                language_code="en-US",
            )
        )
    rows.append(
        ScoreRow.failed(
            run_id=run_id, file="99 gone.wav", error="missing reference: no .txt", engine="e"
        )
    )
    return rows


def records(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))


def to_csv(table: list[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(table)
    return out.getvalue().encode("utf-8")


@dataclass(frozen=True)
class Upload:
    """What goes to S3: the writer's body and row count, and the bytes actually uploaded."""

    original: bytes
    body: bytes
    rows: int


Maker = Callable[[str, random.Random], Upload]


@dataclass(frozen=True)
class Case:
    category: str
    label: str
    mode: str  # one of UPLOADS
    make: Maker


def _edit_cell(column: str, text: str, row: int | None = None) -> Maker:
    def make(run_id: str, rng: random.Random) -> Upload:
        original = encode_scores(base_rows(run_id, rng))
        table = records(original.body)
        line = row if row is not None else rng.randrange(1, len(table) - 1)  # an ok row
        table[line][COLUMNS.index(column)] = text
        return Upload(original.body, to_csv(table), original.rows)

    return make


def _edit_rows(edit: Callable[[list[list[str]], random.Random], None], rows: int = 0) -> Maker:
    """A hand edit of the parsed table; ``rows`` adds to the writer's count."""

    def make(run_id: str, rng: random.Random) -> Upload:
        original = encode_scores(base_rows(run_id, rng))
        table = records(original.body)
        edit(table, rng)
        return Upload(original.body, to_csv(table), original.rows + rows)

    return make


def _edit_bytes(edit: Callable[[bytes, random.Random], bytes]) -> Maker:
    def make(run_id: str, rng: random.Random) -> Upload:
        original = encode_scores(base_rows(run_id, rng))
        return Upload(original.body, edit(original.body, rng), original.rows)

    return make


def _set_all(column: str, text: str) -> Callable[[list[list[str]], random.Random], None]:
    def edit(table: list[list[str]], rng: random.Random) -> None:
        for record in table[1:-1]:
            record[COLUMNS.index(column)] = text

    return edit


HOSTILE_NUMBERS = [
    "1e+308",
    "1e308",
    "1e-200",
    "1e-131",
    "5e-324",
    "-0.0",
    "-1",
    "nan",
    "inf",
    "1e999",
    "9" * 4000,
    "1" + "0" * 40,
    "0.50",
    "1e-400",
    "1_0",
    " 7",
    "٣",
    "0x10",
    "",
    "1.5",
    "00",
    "+1",
    "0.30000000000000004441",
]
CROSS_FIELD: list[tuple[str, Callable[[list[list[str]], random.Random], None]]] = [
    ("S=D=I=0 on every row, real rates", lambda t, r: [_zero_errors(t)]),
    ("insertions=100000", lambda t, r: _set(t, 1, "insertions", "100000")),
    ("mer=1.5", lambda t, r: _set(t, 1, "mer", "1.5")),
    ("wil=1.2", lambda t, r: _set(t, 2, "wil", "1.2")),
    ("accuracy 0.4286 -> 0.3286", lambda t, r: _set(t, 3, "accuracy", "0.3286")),
    ("accuracy=1.1", lambda t, r: _set(t, 3, "accuracy", "1.1")),
    ("hyp_words+1", lambda t, r: _bump(t, 4, "hyp_words", 1)),
    ("ref_words+1", lambda t, r: _bump(t, 4, "ref_words", 1)),
    ("substitutions+1", lambda t, r: _bump(t, 5, "substitutions", 1)),
    ("deletions > ref_words", lambda t, r: _set(t, 5, "deletions", "100000")),
    ("ref_words=0", lambda t, r: _set(t, 6, "ref_words", "0")),
    ("cer=0 with errors", lambda t, r: _set(t, 7, "cer", "0.0")),
    ("wer off by one in the 9th digit", lambda t, r: _scale(t, 8, "wer", 1 + 1e-8)),
    ("audio_seconds 5 hours", lambda t, r: _set(t, 9, "audio_seconds", "18000.0")),
    ("failed row with a wer", lambda t, r: _set(t, len(t) - 1, "wer", "0.5")),
    ("ok row with an error", lambda t, r: _set(t, 1, "error", "oops")),
    ("failed row without error", lambda t, r: _set(t, len(t) - 1, "error", "")),
    ("status OK", lambda t, r: _set(t, 1, "status", "OK")),
    ("run id of another run", lambda t, r: _set(t, 2, "run_id", "2026-01-01T00-00-00Z-000000")),
    ("duplicate file", lambda t, r: _set(t, 2, "file", t[1][2])),
]


def _set(table: list[list[str]], line: int, column: str, text: str) -> None:
    table[line][COLUMNS.index(column)] = text


def _bump(table: list[list[str]], line: int, column: str, by: int) -> None:
    cell = table[line][COLUMNS.index(column)]
    table[line][COLUMNS.index(column)] = str(int(cell) + by)


def _scale(table: list[list[str]], line: int, column: str, factor: float) -> None:
    cell = table[line][COLUMNS.index(column)]
    table[line][COLUMNS.index(column)] = repr(float(cell) * factor or 0.5)


def _zero_errors(table: list[list[str]]) -> None:
    for record in table[1:-1]:
        for column in ("substitutions", "deletions", "insertions"):
            record[COLUMNS.index(column)] = "0"


TEXT_EDITS: list[tuple[str, str, str]] = [
    ("file", "evil\nname.wav", "newline in a file name"),
    ("file", "bell\x07.wav", "control character in a file name"),
    ("file", "é" * 600, "file name over the sort key"),
    ("error", "x" * 200_000, "200,000-character field"),
    ("job_name", "j" * 131_072, "field at csv's limit"),
    ("engine", "\x1b[31mred", "escape sequence in a label"),
    ("file", "'", "lone quote as a file name"),
    ("file", "", "empty file name"),
    ("run_id", "", "empty run id"),
    ("schema_version", "1", "schema version 1"),
    ("schema_version", "3", "schema version 3"),
    ("status", "done", "unknown status"),
    ("file", '=HYPERLINK("http://x")', "formula without its quote"),
    ("file", "''=x", "doubly quoted formula"),
]
BYTE_EDITS: list[tuple[str, Callable[[bytes, random.Random], bytes]]] = [
    ("NUL byte", lambda b, r: b.replace(b".wav", b"\x00.wav", 1)),
    ("invalid UTF-8", lambda b, r: b.replace(b".wav", b"\xff.wav", 1)),
    ("UTF-8 surrogate", lambda b, r: b.replace(b".wav", b"\xed\xa0\x80.wav", 1)),
    ("file ends inside a character", lambda b, r: b + "é".encode()[:1]),
    ("BOM in the middle", lambda b, r: b.replace(b"\r\n", b"\r\n\xef\xbb\xbf", 2)),
    ("BOM at the start", lambda b, r: b"\xef\xbb\xbf" + b),
    ("CR-only line ends", lambda b, r: b.replace(b"\r\n", b"\r")),
    ("LF-only line ends", lambda b, r: b.replace(b"\r\n", b"\n")),
    ("one trailing blank line", lambda b, r: b + b"\r\n"),
    ("three trailing blank lines", lambda b, r: b + b"\r\n\r\n\n"),
    ("blank line inside", lambda b, r: b.replace(b"\r\n", b"\r\n\r\n", 3)),
    ("unbalanced quote", lambda b, r: b.replace(b",ok,", b',"ok,', 1)),
    ("extra field", lambda b, r: b.replace(b"\r\n", b",extra\r\n", 2)),
    ("missing field", lambda b, r: b.replace(b",en-US\r\n", b"\r\n", 1)),
    ("header only", lambda b, r: b.split(b"\r\n", 1)[0] + b"\r\n"),
    ("empty file", lambda b, r: b""),
    ("unknown column", lambda b, r: b.replace(b"wer,", b"wre,", 1)),
    ("columns swapped", lambda b, r: b.replace(b"mer,wil", b"wil,mer", 1)),
    ("duplicate column", lambda b, r: b.replace(b"language_code", b"language_code,wer", 1)),
    ("no header", lambda b, r: b.split(b"\r\n", 1)[1]),
    ("binary garbage", lambda b, r: bytes(r.randrange(256) for _ in range(300))),
    ("a line of 5 MB", lambda b, r: b + b"x" * (5 * 1024 * 1024)),
]


def flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    at = rng.randrange(len(out))
    out[at] = rng.choice([b for b in range(256) if b != out[at]])
    return bytes(out)


def garble(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(out))
        kind = rng.choice(["insert", "delete", "swap"])
        if kind == "insert":
            out[at:at] = rng.choice(
                [b",", b'"', b"\r\n", b"\n", b"'", b"=", bytes([rng.randrange(256)])]
            )
        elif kind == "delete":
            del out[at : at + rng.randint(1, 3)]
        else:
            other = rng.randrange(len(out))
            out[at], out[other] = out[other], out[at]
    return bytes(out)


def _cut(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))]


def _cut_at_row(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\r\n")
    return b"\r\n".join(lines[: rng.randint(1, len(lines) - 2)]) + b"\r\n"


def hostile_cases(rng: random.Random) -> list[Case]:
    """1,000+ hostile inputs, each with how it reaches S3."""
    cases: list[Case] = []
    numeric = [c for c in COLUMNS if c in NUMBER_COLUMNS]
    for column in numeric:
        for text in HOSTILE_NUMBERS:
            cases.append(
                Case("numbers", f"{column}={text[:20]!r}", "proof", _edit_cell(column, text))
            )
    for label, edit in CROSS_FIELD:
        cases.append(Case("cross-field", label, "proof", _edit_rows(edit)))
    for column, text, label in TEXT_EDITS:
        cases.append(Case("text and names", label, "proof", _edit_cell(column, text)))
    for label, edit in BYTE_EDITS:
        cases.append(Case("structure and encoding", label, "proof", _edit_bytes(edit)))
    for n in range(150):
        cases.append(Case("byte flips, vouched", f"flip {n}", "proof", _edit_bytes(flip)))
    for n in range(100):
        cases.append(Case("garbling, vouched", f"garble {n}", "proof", _edit_bytes(garble)))
    for n in range(250):
        mode = ("original", "unproven", "cut-before-hash")[n % 3]
        maker = _edit_bytes(_cut_at_row if n % 5 == 0 else _cut)
        cases.append(Case("truncated", f"cut {n} ({mode})", mode, maker))
    for n in range(200):
        mode = ("original", "unproven")[n % 2]
        cases.append(
            Case("byte flips after the proof", f"flip {n} ({mode})", mode, _edit_bytes(flip))
        )
    cases.append(Case("valid", "untouched", "proof", _edit_bytes(lambda b, r: b)))
    return cases


# ----------------------------------------------------------------------------------- the site


@dataclass
class Site:
    """The twin with the scores path: buckets, table, topic, and the ingest Lambda."""

    twin: Any
    topic_arn: str
    config: ingest_scores.Config
    clients: Clients
    s3: Any
    dynamodb: Any

    @classmethod
    def build(cls, twin: Any, *, with_lambda: bool = True) -> Site:
        """Buckets, table and topic; with the ingest Lambda (from the project's zip) notified
        by the Lambda bucket unless ``with_lambda`` is False."""
        s3, dynamodb = twin.client("s3"), twin.client("dynamodb")
        for bucket in (DIRECT_BUCKET, LAMBDA_BUCKET):
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        dynamodb.create_table(**table_definition(TABLE))
        topic_arn = twin.client("sns").create_topic(Name=TOPIC)["TopicArn"]
        if with_lambda:
            _deploy_ingest(twin, topic_arn)
        config = ingest_scores.Config(TABLE, topic_arn, 0.02, 10)
        clients = Clients({name: twin.client(name) for name in ("s3", "dynamodb", "sns")})
        return cls(twin, topic_arn, config, clients, s3, dynamodb)

    def messages(self) -> dict[str, list[Any]]:
        from emulation.core.inspector import Inspector

        by_run: dict[str, list[Any]] = defaultdict(list)
        for message in Inspector(self.twin).sns_messages(self.topic_arn):
            by_run[message.attributes.get("run_id", "")].append(message)
        return by_run

    def items(self, run_id: str) -> list[dict[str, Any]]:
        pages = self.dynamodb.get_paginator("query").paginate(
            TableName=TABLE,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"RUN#{run_id}"}},
            ConsistentRead=True,
        )
        return [item for page in pages for item in page["Items"]]

    def lambda_idle(self) -> None:
        from emulation.awslambda.runtime import LambdaRuntime

        self.twin.part(LambdaRuntime).wait_idle(timeout=600)

    def lambda_failures(self) -> list[Any]:
        from emulation.core.inspector import Inspector

        return [inv for inv in Inspector(self.twin).invocations(FUNCTION) if not inv.ok]


def _deploy_ingest(twin: Any, topic_arn: str) -> None:
    """The ingest Lambda from the project's own zip, wired to the Lambda bucket as the template
    wires it (ObjectCreated, prefix scores/, suffix .csv, invoke permission for S3)."""
    from deploy.package import lambda_zip

    role = twin.client("iam").create_role(
        RoleName="fault-matrix-ingest",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    lam = twin.client("lambda")
    function_arn = lam.create_function(
        FunctionName=FUNCTION,
        Runtime="python3.11",
        Handler="pipeline.handlers.ingest_scores.handler",
        Role=role,
        Code={"ZipFile": lambda_zip()},
        Timeout=300,
        MemorySize=512,
        Environment={
            "Variables": {
                "SCORES_TABLE": TABLE,
                "ALERT_TOPIC_ARN": topic_arn,
                "REGRESSION_THRESHOLD": "0.02",
                "WORST_FILES": "10",
            }
        },
    )["FunctionArn"]
    lam.add_permission(
        FunctionName=FUNCTION,
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn=f"arn:aws:s3:::{LAMBDA_BUCKET}",
        SourceAccount=twin.account_id,
    )
    twin.client("s3").put_bucket_notification_configuration(
        Bucket=LAMBDA_BUCKET,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {
                    "LambdaFunctionArn": function_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": "prefix", "Value": SCORES_PREFIX},
                                {"Name": "suffix", "Value": SCORES_SUFFIX},
                            ]
                        }
                    },
                }
            ]
        },
    )


# ----------------------------------------------------------------------------------- delivery


def put(s3: Any, bucket: str, key: str, upload: Upload, mode: str) -> bool:
    """Upload as ``mode`` says; False when S3 refused it (BadDigest)."""
    arguments: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": upload.body}
    if mode == "unproven":
        arguments["Metadata"] = {ROWS_METADATA: str(upload.rows)}
    else:
        vouched = upload.original if mode == "original" else upload.body
        rows = upload.rows
        arguments.update(
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=sha256_base64(vouched),
            Metadata={ROWS_METADATA: str(rows)},
        )
    try:
        s3.put_object(**arguments)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "BadDigest":
            return False
        raise
    return True


def s3_event(bucket: str, key: str) -> dict[str, Any]:
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key}},
    }
    return {"Records": [record]}


# ----------------------------------------------------------------------------------- judging


@dataclass
class Verdict:
    outcome: str  # "rejected" | "accepted" | "unhandled" | "partial"
    changed: bool = False
    duplicate: bool = False
    missing: bool = False
    unnamed: bool = False  # rejected without a reason in its message
    detail: str = ""


def oracle(body: bytes) -> list[dict[str, str]] | None:
    """An independent reading of a CSV: Python's csv module, the header's names, and the one
    rule of the contract a plain reader must know (one leading quote is not part of a text)."""
    try:
        text = body.decode("utf-8").removeprefix("\ufeff")
        table = list(csv.reader(io.StringIO(text, newline="")))
    except (UnicodeDecodeError, csv.Error):
        return None
    if not table:
        return None
    return [dict(zip(table[0], record, strict=False)) for record in table[1:] if record]


def stored_equals(item: dict[str, Any], row: dict[str, str]) -> bool:
    for column, text in row.items():
        stored = item.get(column)
        if column in NUMBER_COLUMNS:
            if text == "":
                if stored is not None:
                    return False
                continue
            try:
                if stored is None or Decimal(stored["N"]) != Decimal(text):
                    return False
            except InvalidOperation:
                return False
        else:
            value = text[1:] if text.startswith("'") else text
            if column == "schema_version":
                value = text
            if (stored or {}).get("S", "") != value:
                return False
    return item["sk"]["S"] == "FILE#" + (
        row["file"][1:] if row["file"].startswith("'") else row["file"]
    )


def judge(
    site: Site,
    run_id: str,
    upload: Upload,
    error: str | None = None,
    *,
    mode: str = "proof",
    stored_object: bool = True,
    versions: int = 1,
) -> Verdict:
    """What the twin holds for ``run_id`` after ``upload`` (sent as ``mode``; ``stored_object``
    False if S3 refused it) was ingested ``versions`` times; ``error``: what escaped, if any."""
    messages = site.messages().get(run_id, [])
    items = site.items(run_id)
    files = [item for item in items if item["sk"]["S"].startswith("FILE#")]
    summary = next((item for item in items if item["sk"]["S"] == "SUMMARY"), None)
    expected_messages = versions if stored_object else 0
    verdict = Verdict("rejected")
    verdict.duplicate = len(messages) > expected_messages
    verdict.missing = len(messages) < expected_messages
    if error is not None:
        verdict.outcome, verdict.detail = "unhandled", error
        return verdict
    if summary is None and not files:
        if stored_object:
            last = messages[-1] if messages else None
            why = [
                line
                for line in (last.message if last else "").splitlines()
                if line.startswith("Why ")
            ]
            verdict.unnamed = last is None or last.attributes.get("status") != "FAILED" or not why
            verdict.detail = why[0] if why else "no reason"
        return verdict
    vouched = upload.body if mode == "proof" else upload.original
    expected = oracle(vouched) or []
    if summary is None or len(files) != len(expected):
        verdict.outcome = "partial"
        verdict.detail = (
            f"{len(files)} items for {len(expected)} rows, summary {summary is not None}"
        )
        return verdict
    verdict.outcome = "accepted"
    by_key = {item["sk"]["S"]: item for item in files}
    for row in expected:
        name = row.get("file", "")
        item = by_key.get("FILE#" + (name[1:] if name.startswith("'") else name))
        if item is None or not stored_equals(item, row):
            verdict.changed = True
            verdict.detail = f"stored {name!r} differs from the CSV"
            break
    return verdict


# ----------------------------------------------------------------------------------- the matrix


@dataclass
class Tally:
    rows: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    notes: list[str] = field(default_factory=list)

    def add(self, category: str, verdict: Verdict, label: str) -> None:
        row = self.rows[category]
        row["inputs"] += 1
        row[verdict.outcome] += 1
        for flag in ("changed", "duplicate", "missing", "unnamed"):
            row[flag] += getattr(verdict, flag)
        if (
            verdict.outcome in ("unhandled", "partial")
            or verdict.changed
            or verdict.duplicate
            or (verdict.missing or verdict.unnamed)
        ):
            self.notes.append(f"{category} / {label}: {verdict.outcome} {verdict.detail}")

    def total(self, column: str) -> int:
        return sum(row[column] for row in self.rows.values())


def ingest_directly(site: Site, key: str) -> str | None:
    """The handler in this process against the twin; the exception text if one escaped."""
    try:
        ingest_scores.ingest_event(s3_event(DIRECT_BUCKET, key), site.config, site.clients)
    except Exception:
        return traceback.format_exc(limit=3)
    return None


def try_directly(site: Site, run_id: str, upload: Upload, mode: str) -> Verdict:
    """Upload as ``mode`` says, ingest in this process if S3 took it, and judge the result."""
    key = f"scores/{run_id}.csv"
    stored = put(site.s3, DIRECT_BUCKET, key, upload, mode)
    error = ingest_directly(site, key) if stored else None
    return judge(site, run_id, upload, error, mode=mode, stored_object=stored)


def hostile_csvs(site: Site, tally: Tally, seed: int, lambda_every: int) -> None:
    rng = random.Random(seed)
    ids = run_ids(seed)
    via_lambda: list[tuple[Case, str, Upload, bool]] = []
    for index, case in enumerate(hostile_cases(rng)):
        run_id = next(ids)
        upload = case.make(run_id, rng)
        key = f"scores/{run_id}.csv"
        if lambda_every and index % lambda_every == 0:
            stored = put(site.s3, LAMBDA_BUCKET, key, upload, case.mode)
            via_lambda.append((case, run_id, upload, stored))
            continue
        tally.add(case.category, try_directly(site, run_id, upload, case.mode), case.label)
    site.lambda_idle()
    failures = {
        inv.event["Records"][0]["s3"]["object"]["key"]: inv.error for inv in site.lambda_failures()
    }
    for case, run_id, upload, stored in via_lambda:
        error = failures.get(f"scores/{run_id}.csv")
        verdict = judge(site, run_id, upload, error, mode=case.mode, stored_object=stored)
        tally.add(case.category + " (S3 -> Lambda)", verdict, case.label)


def fresh_upload(site: Site, bucket: str, run_id: str, rng: random.Random) -> tuple[Upload, str]:
    """A valid scores CSV for ``run_id``, uploaded with its proof; returns it and its key."""
    encoded = encode_scores(base_rows(run_id, rng))
    upload = Upload(encoded.body, encoded.body, encoded.rows)
    key = f"scores/{run_id}.csv"
    put(site.s3, bucket, key, upload, "proof")
    return upload, key


def deliver_at_once(site: Site, key: str, deliveries: int) -> list[str]:
    """The event for ``key`` handled by ``deliveries`` threads released together; each has its
    own clients, as separate Lambda instances do. Returns the tracebacks of those that raised."""
    errors: list[str] = []
    clients = [
        Clients({name: site.twin.client(name) for name in ("s3", "dynamodb", "sns")})
        for _ in range(deliveries)
    ]
    barrier = threading.Barrier(deliveries)

    def deliver(own: Clients) -> None:
        barrier.wait()
        try:
            ingest_scores.ingest_event(s3_event(DIRECT_BUCKET, key), site.config, own)
        except Exception:
            errors.append(traceback.format_exc(limit=3))

    threads = [threading.Thread(target=deliver, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def overlapping(site: Site, tally: Tally, seed: int, rounds: int, deliveries: int) -> None:
    """The same event delivered ``deliveries`` times at once, in threads of this process, and
    three times at once to the Lambda (the S3 notification plus two async invokes)."""
    rng = random.Random(seed + 1)
    ids = run_ids(seed + 1)
    for n in range(rounds):
        run_id = next(ids)
        upload, key = fresh_upload(site, DIRECT_BUCKET, run_id, rng)
        errors = deliver_at_once(site, key, deliveries)
        verdict = judge(site, run_id, upload, errors[0] if errors else None)
        tally.add(f"overlapping x{deliveries} (threads)", verdict, f"round {n}")
    lam = site.twin.client("lambda")
    pending = []
    for _ in range(max(1, rounds // 2)):
        run_id = next(ids)
        upload, key = fresh_upload(site, LAMBDA_BUCKET, run_id, rng)  # notified: delivery 1
        for _ in range(2):  # deliveries 2 and 3, overlapping it
            lam.invoke(
                FunctionName=FUNCTION,
                InvocationType="Event",
                Payload=json.dumps(s3_event(LAMBDA_BUCKET, key)).encode(),
            )
        pending.append((run_id, upload, key))
    site.lambda_idle()
    failures = {inv.event["Records"][0]["s3"]["object"]["key"] for inv in site.lambda_failures()}
    for n, (run_id, upload, key) in enumerate(pending):
        verdict = judge(site, run_id, upload, "the Lambda failed" if key in failures else None)
        tally.add("overlapping x3 (S3 -> Lambda)", verdict, f"round {n}")


def dying_publishers(site: Site, tally: Tally, seed: int, rounds: int) -> None:
    """A publisher that claimed the message and died: a later delivery waits out its lease
    (0.3 s here, 60 s in AWS) and sends the message, once; a failing publish leaves it to the
    retry; a crash half-way through the writes is completed by the retry."""
    rng = random.Random(seed + 2)
    ids = run_ids(seed + 2)
    policy = ClaimPolicy(lease_seconds=0.3, poll_seconds=0.05)
    saved = ingest_scores.CLAIM_POLICY
    ingest_scores.CLAIM_POLICY = policy
    try:
        for n in range(rounds):
            run_id = next(ids)
            upload, key = fresh_upload(site, DIRECT_BUCKET, run_id, rng)
            etag = site.s3.head_object(Bucket=DIRECT_BUCKET, Key=key)["ETag"]
            kind = ("claimed then died", "publish failed", "died mid-write")[n % 3]
            error = None
            if kind == "claimed then died":
                claim_notification(TABLE, run_id, etag, site.dynamodb, policy)
            else:
                broken = replace_clients(site, kind)
                try:
                    ingest_scores.ingest_event(s3_event(DIRECT_BUCKET, key), site.config, broken)
                    error = "the fault did not surface"
                except InjectedFault:
                    pass
            # Lambda's retry of the failed invocation:
            error = error or ingest_directly(site, key)
            verdict = judge(site, run_id, upload, error)
            tally.add(f"publisher died ({kind})", verdict, f"round {n}")
    finally:
        ingest_scores.CLAIM_POLICY = saved


class InjectedFault(Exception):
    """A crash the matrix injects (the Lambda dying)."""


def replace_clients(site: Site, kind: str) -> Clients:
    class FailingSns:
        def publish(self, **kwargs: Any) -> Any:
            raise InjectedFault("SNS publish failed")

    class DyingDynamoDB:
        def __init__(self, client: Any):
            self.client, self.batches = client, 0

        def batch_write_item(self, **kwargs: Any) -> Any:
            self.batches += 1
            if self.batches == 1:
                self.client.batch_write_item(**kwargs)
                raise InjectedFault("the Lambda died after one batch")
            return self.client.batch_write_item(**kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.client, name)

    sns = FailingSns() if kind == "publish failed" else site.twin.client("sns")
    dynamodb = (
        DyingDynamoDB(site.twin.client("dynamodb")) if kind == "died mid-write" else site.dynamodb
    )
    return Clients({"s3": site.s3, "dynamodb": dynamodb, "sns": sns})


# ------------------------------------------------------------------------------ runs cut part-way


def runs_cut_part_way(site: Site, tally: Tally, seed: int) -> None:
    """The notebook's run on the twin's Transcribe (a real speech engine) over the sample
    corpus: a reference deleted mid-run, audio deleted mid-run, the run killed after half the
    files (the failure path writes its CSV), then re-run with the same run id. Each must end
    in scores for every file that could be scored, equal to an uninterrupted run's, one named
    failure per other file, and one message per CSV version."""
    from pipeline.failed_run import write_failed_run
    from pipeline.run import RunConfig, run_corpus
    from pipeline.transcribe import transcribe_client_config

    media, results = "fault-matrix-media", LAMBDA_BUCKET
    s3 = site.s3
    s3.create_bucket(Bucket=media)
    corpus = Path(__file__).resolve().parents[1] / "corpus" / "sample"
    for path in sorted(corpus.iterdir()):
        s3.put_object(Bucket=media, Key=f"corpus/{path.name}", Body=path.read_bytes())
    transcribe = site.twin.client("transcribe", **{"retries": transcribe_client_config().retries})
    ids = run_ids(seed + 3)

    def run(run_id: str, on_progress: Any = None) -> Any:
        config = RunConfig(run_id, media, results, poll_interval=0.2, max_jobs_in_flight=4)
        return run_corpus(config, s3=s3, transcribe=transcribe, on_progress=on_progress)

    def scores_of(run_id: str) -> dict[str, Any]:
        body = s3.get_object(Bucket=results, Key=f"scores/{run_id}.csv")["Body"].read()
        return {row["file"]: row for row in oracle(body) or []}

    def check(
        label: str, run_id: str, versions: int, expect: Callable[[dict[str, Any]], str]
    ) -> None:
        site.lambda_idle()
        body = s3.get_object(Bucket=results, Key=f"scores/{run_id}.csv")["Body"].read()
        upload = Upload(body, body, len(oracle(body) or []))
        failed = [inv for inv in site.lambda_failures() if run_id in json.dumps(inv.event)]
        verdict = judge(
            site, run_id, upload, failed[0].error if failed else None, versions=versions
        )
        problem = expect(scores_of(run_id))
        if problem:
            verdict.changed, verdict.detail = True, problem
        tally.add("runs cut part-way", verdict, label)

    reference_id = next(ids)
    run(reference_id)
    reference = scores_of(reference_id)
    metrics = ("wer", "substitutions", "deletions", "insertions", "ref_words", "hyp_words")

    def same_as_reference(rows: dict[str, Any], failed: set[str]) -> str:
        for name, row in rows.items():
            if name in failed:
                if row["status"] != "failed" or not row["error"]:
                    return f"{name} should have failed with a reason"
            elif any(row[m] != reference[name][m] for m in metrics):
                return f"{name} scored differently from the uninterrupted run"
        return "" if set(rows) == set(reference) else "files missing from the CSV"

    check("uninterrupted", reference_id, 1, lambda rows: same_as_reference(rows, set()))

    run_id = next(ids)

    def delete_reference(event: Any) -> None:
        if event.kind == "completed" and event.completed == 1:
            s3.delete_object(Bucket=media, Key="corpus/clip03_names.txt")

    run(run_id, delete_reference)
    s3.put_object(
        Bucket=media, Key="corpus/clip03_names.txt", Body=(corpus / "clip03_names.txt").read_bytes()
    )
    check(
        "reference deleted mid-run",
        run_id,
        1,
        lambda rows: (
            same_as_reference(rows, {"clip03_names.wav"})
            or (
                ""
                if "corpus/clip03_names.txt" in rows["clip03_names.wav"]["error"]
                else "key not named"
            )
        ),
    )

    run_id = next(ids)
    audio = "corpus/clip12_mp3_report.mp3"

    def delete_audio(event: Any) -> None:
        if event.kind == "started" and event.started == 1:
            s3.delete_object(Bucket=media, Key=audio)

    run(run_id, delete_audio)
    s3.put_object(Bucket=media, Key=audio, Body=(corpus / Path(audio).name).read_bytes())
    check(
        "audio deleted mid-run",
        run_id,
        1,
        lambda rows: (
            same_as_reference(rows, {"clip12_mp3_report.mp3"})
            or ("" if audio in rows["clip12_mp3_report.mp3"]["error"] else "key not named")
        ),
    )

    run_id = next(ids)
    started_before_kill = []

    class Killed(Exception):
        pass

    def kill(event: Any) -> None:
        if event.completed >= 6:
            started_before_kill.append(event.started)
            raise Killed("the kernel died")

    try:
        run(run_id, kill)
    except Killed:
        write_failed_run(
            s3,
            run_id=run_id,
            error="Killed: the kernel died (cell 3)",
            media_bucket=media,
            results_bucket=results,
            corpus_prefix="corpus/",
        )

    def kept_finished(rows: dict[str, Any]) -> str:
        scored = {name for name, row in rows.items() if row["status"] == "ok"}
        if len(scored) < 6:
            return f"only {len(scored)} finished files were kept"
        return same_as_reference(rows, set(rows) - scored)

    check("killed after 6 of 12 files", run_id, 1, kept_finished)
    from emulation.core.inspector import Inspector

    jobs_before = len(Inspector(site.twin).transcription_jobs())
    run(run_id)  # the re-run with the same run id: a new CSV version
    started_again = len(Inspector(site.twin).transcription_jobs()) - jobs_before
    never_started = len(reference) - started_before_kill[0]
    check(
        "re-run of the killed run",
        run_id,
        2,
        lambda rows: (
            same_as_reference(rows, set())
            or (
                ""
                if started_again == never_started
                else f"{started_again} jobs started, {never_started} were never started before"
            )
        ),
    )


# ----------------------------------------------------------------------------------- report


COLUMNS_SHOWN = [
    ("inputs", "inputs"),
    ("rejected", "rejected cleanly"),
    ("accepted", "accepted correctly"),
    ("unhandled", "unhandled"),
    ("partial", "partial writes"),
    ("changed", "changed"),
    ("duplicate", "dup msgs"),
    ("missing", "missing msgs"),
    ("unnamed", "no reason"),
]


def print_table(tally: Tally) -> None:
    width = max(len(name) for name in tally.rows) + 2
    widths = [max(len(title), 6) + 2 for _, title in COLUMNS_SHOWN]

    def line(name: str, values: list[Any]) -> str:
        return name.ljust(width) + "".join(f"{v:>{w}}" for v, w in zip(values, widths, strict=True))

    header = line("category", [title for _, title in COLUMNS_SHOWN])
    print(header)
    print("-" * len(header))
    for name, row in tally.rows.items():
        print(
            line(
                name,
                [
                    row[key] - (row["changed"] if key == "accepted" else 0)
                    for key, _ in COLUMNS_SHOWN
                ],
            )
        )
    print("-" * len(header))
    totals = [
        tally.total(key) - (tally.total("changed") if key == "accepted" else 0)
        for key, _ in COLUMNS_SHOWN
    ]
    print(line("total", totals))
    for note in tally.notes[:40]:
        print("  !", note)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--lambda-every", type=int, default=8, help="0: no case via Lambda")
    parser.add_argument("--overlap-rounds", type=int, default=20)
    parser.add_argument("--no-runs", action="store_true", help="skip the speech-engine runs")
    args = parser.parse_args(argv)

    import logging

    from emulation.core.build import TwinConfig, build_twin

    logging.basicConfig(level=logging.CRITICAL)
    parts = ("s3", "dynamodb", "lambda") + (() if args.no_runs else ("transcribe",))
    twin = build_twin(TwinConfig(parts=parts, lambda_retry_delays=(0.05, 0.05)))
    twin.start()
    started = time.monotonic()
    tally = Tally()
    try:
        site = Site.build(twin)
        hostile_csvs(site, tally, args.seed, args.lambda_every)
        overlapping(site, tally, args.seed, args.overlap_rounds, deliveries=8)
        dying_publishers(site, tally, args.seed, rounds=9)
        if not args.no_runs:
            runs_cut_part_way(site, tally, args.seed)
    finally:
        twin.stop()
    print(f"fault matrix, seed {args.seed}, {time.monotonic() - started:.0f} s on the twin")
    print_table(tally)
    accepted = tally.total("accepted") - tally.total("changed")
    print(
        f"inputs {tally.total('inputs')}, rejected {tally.total('rejected')}, accepted {accepted}, "
        f"unhandled {tally.total('unhandled')}, partial {tally.total('partial')}, "
        f"changed {tally.total('changed')}, duplicate messages {tally.total('duplicate')}, "
        f"missing messages {tally.total('missing')}"
    )
    clean = all(
        tally.total(k) == 0
        for k in ("unhandled", "partial", "changed", "duplicate", "missing", "unnamed")
    )
    return 0 if clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
