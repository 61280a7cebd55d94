"""The scores CSV contract: one versioned schema that both the writer and the strict reader use.

The notebook writes ``s3://RESULTS/scores/<run_id>.csv`` and the ingest Lambda reads it, so the
column list, the types and the row rules live here once. The reader streams (memory stays flat
for 100k rows) and refuses anything it cannot vouch for, naming the line and field, because a
silently misread row would put a wrong WER into the history. Standard library only.
"""

from __future__ import annotations

import codecs
import csv
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from pipeline.errors import PipelineError

SCHEMA_VERSION = "1"
COLUMNS = (
    "schema_version",
    "run_id",
    "file",
    "status",
    "error",
    "wer",
    "mer",
    "wil",
    "cer",
    "accuracy",
    "ref_words",
    "hyp_words",
    "substitutions",
    "deletions",
    "insertions",
    "audio_seconds",
    "job_name",
    "engine",
    "language_code",
)
STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUSES = (STATUS_OK, STATUS_FAILED)

RATE_FIELDS = ("wer", "mer", "wil", "cer", "accuracy")
COUNT_FIELDS = ("ref_words", "hyp_words", "substitutions", "deletions", "insertions")
# Metrics are all present on ok rows and all empty on failed rows; audio_seconds is optional.
METRIC_FIELDS = RATE_FIELDS + COUNT_FIELDS
FLOAT_FIELDS = (*RATE_FIELDS, "audio_seconds")
TEXT_FIELDS = ("run_id", "file", "status", "error", "job_name", "engine", "language_code")
# accuracy = 1 - WER goes negative when insertions pile up; every other number is >= 0.
_MAY_BE_NEGATIVE = frozenset({"accuracy"})

# csv's own limit is 128 Ki characters per field; this bounds memory on a file without newlines.
MAX_LINE_CHARS = 4 * 1024 * 1024
# Strict ASCII grammars: int()/float() would also take "1_000", " 7", "nan" or Arabic digits.
_INT_RE = re.compile(r"[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class ScoresCsvError(PipelineError):
    """A scores CSV (or a row bound for one) breaks the contract; says where and why."""

    def __init__(self, reason: str, *, line: int | None = None, field: str | None = None):
        self.reason = reason
        self.line = line
        self.field = field
        where = "scores CSV" if line is None else f"scores CSV line {line}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {reason}")


def _shown(value: str) -> str:
    """Quote a bad value for an error message, cut short so a huge field can't flood the log."""
    return repr(value if len(value) <= 40 else value[:40] + "...")


@dataclass(frozen=True)
class ScoreRow:
    """One input file's scores (schema version 1), validated on construction.

    Validation lives here, not only in the reader, so the writer can never emit a row that
    the reader would refuse.
    """

    run_id: str
    file: str
    status: str
    error: str = ""
    wer: float | None = None
    mer: float | None = None
    wil: float | None = None
    cer: float | None = None
    accuracy: float | None = None
    ref_words: int | None = None
    hyp_words: int | None = None
    substitutions: int | None = None
    deletions: int | None = None
    insertions: int | None = None
    audio_seconds: float | None = None
    job_name: str = ""
    engine: str = ""
    language_code: str = ""

    def __post_init__(self) -> None:
        for name in TEXT_FIELDS:
            _check_text(name, getattr(self, name))
        for name in FLOAT_FIELDS:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _check_float(name, value))
        for name in COUNT_FIELDS:
            _check_count(name, getattr(self, name))
        if not self.run_id:
            raise ScoresCsvError("empty run id", field="run_id")
        if not self.file:
            raise ScoresCsvError("empty file name", field="file")
        if self.status not in STATUSES:
            reason = f"status must be 'ok' or 'failed', got {_shown(self.status)}"
            raise ScoresCsvError(reason, field="status")
        if self.status == STATUS_OK:
            if self.error:
                raise ScoresCsvError("ok row must have an empty error", field="error")
            for name in METRIC_FIELDS:
                if getattr(self, name) is None:
                    raise ScoresCsvError("ok row needs a value", field=name)
        else:
            if not self.error.strip():
                raise ScoresCsvError("failed row needs an error message", field="error")
            for name in METRIC_FIELDS:
                if getattr(self, name) is not None:
                    raise ScoresCsvError("failed row must leave metrics empty", field=name)

    @classmethod
    def scored(
        cls,
        *,
        run_id: str,
        file: str,
        wer: float,
        mer: float,
        wil: float,
        cer: float,
        accuracy: float,
        ref_words: int,
        hyp_words: int,
        substitutions: int,
        deletions: int,
        insertions: int,
        audio_seconds: float | None = None,
        job_name: str | None = None,
        engine: str | None = None,
        language_code: str | None = None,
    ) -> ScoreRow:
        """An ok row; None for a text field means "unknown" and is written empty."""
        return cls(
            run_id,
            file,
            STATUS_OK,
            "",
            wer,
            mer,
            wil,
            cer,
            accuracy,
            ref_words,
            hyp_words,
            substitutions,
            deletions,
            insertions,
            audio_seconds,
            job_name or "",
            engine or "",
            language_code or "",
        )

    @classmethod
    def failed(
        cls,
        *,
        run_id: str,
        file: str,
        error: str,
        audio_seconds: float | None = None,
        job_name: str | None = None,
        engine: str | None = None,
        language_code: str | None = None,
    ) -> ScoreRow:
        """A failed row: the reason, no metrics."""
        return cls(
            run_id,
            file,
            STATUS_FAILED,
            error,
            audio_seconds=audio_seconds,
            job_name=job_name or "",
            engine=engine or "",
            language_code=language_code or "",
        )

    @property
    def errors(self) -> int:
        """Word errors S + D + I (0 for a failed row), the numerator of corpus WER."""
        return (self.substitutions or 0) + (self.deletions or 0) + (self.insertions or 0)


def _check_text(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise ScoresCsvError(f"must be text, got {type(value).__name__}", field=name)
    if "\x00" in value:
        raise ScoresCsvError("contains a NUL byte", field=name)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ScoresCsvError("not encodable as UTF-8", field=name) from exc


def _check_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScoresCsvError(f"must be a number, got {type(value).__name__}", field=name)
    number = float(value)
    if not math.isfinite(number):
        raise ScoresCsvError(f"not a finite number: {number!r}", field=name)
    if number < 0 and name not in _MAY_BE_NEGATIVE:
        raise ScoresCsvError(f"negative value: {number!r}", field=name)
    return number


def _check_count(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScoresCsvError(f"must be an integer, got {type(value).__name__}", field=name)
    if value < 0:
        raise ScoresCsvError(f"negative count: {value}", field=name)


# ---------------------------------------------------------------------------------------- writer


def _format(value: str | float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # shortest text that parses back to the identical float
    return str(value)


def _cells(row: ScoreRow) -> list[str]:
    return [SCHEMA_VERSION, *(_format(getattr(row, name)) for name in COLUMNS[1:])]


class ScoresCsvWriter:
    """Writes the header at once, then one row per ``write`` call (for incremental output).

    ``stream`` is a text stream opened with ``newline=""``; rows end with CRLF per RFC 4180.
    """

    def __init__(self, stream: TextIO):
        self._writer = csv.writer(stream, lineterminator="\r\n")
        self._writer.writerow(COLUMNS)
        self.count = 0

    def write(self, row: ScoreRow) -> None:
        if not isinstance(row, ScoreRow):
            raise TypeError(f"expected ScoreRow, got {type(row).__name__}")
        self._writer.writerow(_cells(row))
        self.count += 1


def write_rows(stream: TextIO, rows: Iterable[ScoreRow]) -> int:
    """Write the header and ``rows`` to ``stream``; return how many rows were written."""
    writer = ScoresCsvWriter(stream)
    for row in rows:
        writer.write(row)
    return writer.count


# ---------------------------------------------------------------------------------------- reader


class _LineError(Exception):
    """Raised inside a line source; the reader turns it into ScoresCsvError on the right line."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _checked_lines(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        if "\x00" in line:
            raise _LineError("contains a NUL byte")
        yield line


def _decoded_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Decode UTF-8 incrementally (a character may straddle chunks) and split on LF, keeping
    the line endings so quoted fields with embedded newlines survive.

    Lines before a bad byte are yielded first, so errors surface in file order.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    pending = ""
    first = True
    for chunk in chunks:
        buffered = decoder.getstate()[0]
        try:
            text = decoder.decode(chunk)
            bad = None
        except UnicodeDecodeError as exc:
            # The decoder failed on buffered + chunk; everything before exc.start is valid.
            text = (buffered + chunk)[: exc.start].decode("utf-8")
            bad = exc
        if first and text:
            text = text.removeprefix("\ufeff")  # a BOM (Excel) is harmless: drop it
            first = False
        parts = (pending + text).split("\n")
        pending = parts.pop()
        for part in parts:
            yield part + "\n"
        if len(pending) > MAX_LINE_CHARS:
            raise _LineError(f"line longer than {MAX_LINE_CHARS} characters")
        if bad is not None:
            raise _LineError(f"not valid UTF-8: byte 0x{bad.object[bad.start]:02x}")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise _LineError("not valid UTF-8: the file ends inside a character") from exc
    if pending:
        yield pending


def _parse_count(name: str, text: str, line: int) -> int | None:
    if text == "":
        return None
    if _INT_RE.fullmatch(text):
        try:
            return int(text)
        except ValueError:  # more digits than Python will convert
            raise ScoresCsvError(
                f"integer too long: {_shown(text)}", line=line, field=name
            ) from None
    if text.startswith("-") and _INT_RE.fullmatch(text[1:]):
        raise ScoresCsvError(f"negative count: {_shown(text)}", line=line, field=name)
    raise ScoresCsvError(f"not a whole number: {_shown(text)}", line=line, field=name)


def _parse_float(name: str, text: str, line: int) -> float | None:
    if text == "":
        return None
    if not _FLOAT_RE.fullmatch(text):
        raise ScoresCsvError(f"not a number: {_shown(text)}", line=line, field=name)
    return float(text)  # range and sign are checked by ScoreRow


def _check_header(header: list[str]) -> None:
    seen = set()
    for position, name in enumerate(header):
        if name not in COLUMNS:
            raise ScoresCsvError(f"unknown column {_shown(name)}", line=1, field=name)
        if name in seen:
            raise ScoresCsvError("duplicate column", line=1, field=name)
        seen.add(name)
        if position < len(COLUMNS) and name != COLUMNS[position]:
            if position == 0:
                raise ScoresCsvError(
                    "the first column must be 'schema_version'", line=1, field=name
                )
            raise ScoresCsvError(
                f"wrong column order: column {position + 1} should be {COLUMNS[position]!r}",
                line=1,
                field=name,
            )
    missing = [name for name in COLUMNS if name not in seen]
    if missing:
        raise ScoresCsvError(f"missing column(s): {', '.join(missing)}", line=1, field=missing[0])


class ScoresCsvReader:
    """Iterates ScoreRows from lines of text; ``line`` is where the last row yielded began.

    Text lines must keep their line endings (a file opened with ``newline=""``), like any
    ``csv`` source. Every problem, including a malformed quote or a decoding error, surfaces
    as ScoresCsvError, so callers need to handle one type only.
    """

    def __init__(self, lines: Iterable[str]):
        self._lines = lines
        self.line = 0

    def __iter__(self) -> Iterator[ScoreRow]:
        reader = csv.reader(_checked_lines(self._lines), strict=True)
        header = _next_record(reader)
        if header is None:
            raise ScoresCsvError("empty file: no header row", line=1)
        _check_header(header)
        while True:
            start = reader.line_num + 1
            cells = _next_record(reader)
            if cells is None:
                return
            self.line = start
            yield _parse_row(cells, start)


def _next_record(reader: Any) -> list[str] | None:
    """The next CSV record, or None at the end; CSV and line errors become ScoresCsvError."""
    start = reader.line_num + 1
    try:
        return next(reader)
    except StopIteration:
        return None
    except _LineError as exc:  # raised before csv counted the offending line
        raise ScoresCsvError(exc.reason, line=reader.line_num + 1) from None
    except csv.Error as exc:
        where = "" if reader.line_num == start else f" (in the record from line {start})"
        raise ScoresCsvError(f"malformed CSV{where}: {exc}", line=reader.line_num) from None


def _parse_row(cells: list[str], line: int) -> ScoreRow:
    if not cells:
        raise ScoresCsvError("blank line", line=line)
    if cells[0] != SCHEMA_VERSION:
        raise ScoresCsvError(
            f"unsupported schema version {_shown(cells[0])} (this reader knows {SCHEMA_VERSION!r})",
            line=line,
            field="schema_version",
        )
    if len(cells) != len(COLUMNS):
        field = COLUMNS[len(cells)] if len(cells) < len(COLUMNS) else None
        raise ScoresCsvError(
            f"expected {len(COLUMNS)} fields, got {len(cells)}", line=line, field=field
        )
    values: dict[str, str | float | int | None] = {}
    for name, text in zip(COLUMNS[1:], cells[1:], strict=True):
        if name in FLOAT_FIELDS:
            values[name] = _parse_float(name, text, line)
        elif name in COUNT_FIELDS:
            values[name] = _parse_count(name, text, line)
        else:
            values[name] = text
    try:
        return ScoreRow(**values)  # type: ignore[arg-type]
    except ScoresCsvError as exc:
        raise ScoresCsvError(exc.reason, line=line, field=exc.field) from None


def read_rows(lines: Iterable[str]) -> ScoresCsvReader:
    """Strictly read rows from text lines (keep line endings: open files with ``newline=""``)."""
    return ScoresCsvReader(lines)


def read_rows_from_bytes(chunks: Iterable[bytes]) -> ScoresCsvReader:
    """Strictly read rows from UTF-8 byte chunks of any size, e.g. ``body.iter_chunks()``."""
    return ScoresCsvReader(_decoded_lines(chunks))
