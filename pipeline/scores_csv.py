"""The scores CSV contract: one versioned schema that both the writer and the strict reader use.

The notebook writes ``s3://RESULTS/scores/<run_id>.csv`` and the ingest Lambda reads it, so the
column list, the types and the row rules live here once. The reader streams (memory stays flat
for 100k rows) and refuses anything it cannot vouch for, naming the line and field, because a
silently misread row would put a wrong WER into the history.

A row is validated when it is built (``ScoreRow``), by the writer and the reader alike, so the
writer cannot emit what the reader or the DynamoDB write would refuse:

* every number is one DynamoDB stores exactly (``pipeline.dynamodb_limits``), every text fits a
  CSV field (``csv``'s 131,072-character limit) and the row fits one DynamoDB item;
* an ok row's numbers agree with each other as jiwer defines them (N reference words, S/D/I,
  H = N - S - D hits, P hypothesis words): P = H + S + I, wer = (S+D+I)/N,
  mer = (S+D+I)/(S+D+I+H), wil = 1 - (H/N)(H/P) (1 when P = 0), accuracy = max(0, 1 - wer),
  and cer is 0 exactly when S+D+I is 0 (CER aligns the same normalized texts). Rates are
  compared with a relative tolerance of 1e-9 (absolute 1e-12 near zero): the writer prints
  floats with ``repr`` so they round-trip exactly, float rounding stays below 1e-15, and one
  count more or less moves a rate by at least 1/N >= 1e-6, a thousand times the tolerance;
* counts stay below ``MAX_WORDS`` and audio below Transcribe's 4-hour media limit.

Schema version 2 neutralizes spreadsheet formulas (OWASP, "CSV Injection"): a text cell that
begins with ``= + - @``, a tab, CR or LF is written with a leading ``'``, and so is one that
begins with ``'`` itself, so the reader strips exactly one leading ``'`` and gets the original
text back. File names are therefore stored unchanged in DynamoDB; only the CSV cell carries
the quote, which spreadsheets show as text. File names and other identifiers may hold no
control characters (``file_label`` escapes them, for a row that says why the file failed).

Schema version 3 adds ``reference_sha256``, the SHA-256 of the reference text a file was scored
against (empty when it could not be read), so two runs are compared only on files scored
against the same reference (``pipeline.scoring.compare``).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from pipeline.dynamodb_limits import (
    MAX_ITEM_BYTES,
    MAX_SORT_KEY_BYTES,
    NumberNotStorable,
    dynamodb_number,
)
from pipeline.errors import PipelineError

SCHEMA_VERSION = "3"
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
    "reference_sha256",
)
STATUS_OK = "ok"
# A failed row written because the run itself stopped (pipeline.failed_run), not because of its
# file: ingest reports such a run FAILED whatever it scored before it stopped.
RUN_FAILURE_PREFIX = "run failed: "
# The file of the one row a run writes when it cannot list its corpus: a run, not a file.
RUN_ROW_FILE = "(run)"
STATUS_FAILED = "failed"
STATUSES = (STATUS_OK, STATUS_FAILED)

RATE_FIELDS = ("wer", "mer", "wil", "cer", "accuracy")
COUNT_FIELDS = ("ref_words", "hyp_words", "substitutions", "deletions", "insertions")
# Metrics are all present on ok rows and all empty on failed rows; audio_seconds is optional.
METRIC_FIELDS = RATE_FIELDS + COUNT_FIELDS
FLOAT_FIELDS = (*RATE_FIELDS, "audio_seconds")
TEXT_FIELDS = (
    "run_id",
    "file",
    "status",
    "error",
    "job_name",
    "engine",
    "language_code",
    "reference_sha256",
)
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# Free text: may hold line breaks and other control characters (never NUL).
_FREE_TEXT_FIELDS = frozenset({"error"})

# Sane bounds. Transcribe takes media up to 4 hours (a fast 300 words a minute makes 72,000
# words); a million words leaves room for a reference that is not the audio's and keeps every
# sum exact. CER has no count in the CSV to check against, so it only gets a generous ceiling.
MAX_WORDS = 1_000_000
MAX_AUDIO_SECONDS = 4 * 3600
MAX_CER = 1e8
RATE_REL_TOL = 1e-9
RATE_ABS_TOL = 1e-12
# csv's field limit (the reader uses the default, 131,072 characters), less one for the quote
# that neutralizes a formula.
CSV_FIELD_LIMIT = 131_072
MAX_TEXT_CHARS = CSV_FIELD_LIMIT - 1
# A file item repeats run id and file in its keys; the rest of an item (attribute names, the
# key prefixes, eleven numbers of at most 21 bytes) takes well under this reserve.
_ITEM_RESERVE_BYTES = 4096
FILE_KEY_PREFIX = "FILE#"  # the table layer's sort-key prefix (results_table.FILE_PREFIX)
MAX_FILE_BYTES = MAX_SORT_KEY_BYTES - len(FILE_KEY_PREFIX)
# A failed row's error is for people; ScoreRow.failed cuts longer ones, saying so.
MAX_ERROR_CHARS = 4000

# Strict ASCII grammars: int()/float() would also take "1_000", " 7", "nan" or Arabic digits.
_INT_RE = re.compile(r"[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# OWASP's formula triggers, plus the quote itself so that unescaping is unambiguous.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
_ESCAPED_LEAD = ("'", *FORMULA_TRIGGERS)
# csv's own limit is 128 Ki characters per field; this bounds memory on a file without newlines.
MAX_LINE_CHARS = 4 * 1024 * 1024


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
class WordRates:
    """jiwer's word measures from the counts (``jiwer.process_words``, one sentence)."""

    hits: int
    hyp_words: int
    wer: float
    mer: float
    wil: float
    accuracy: float


def word_rates(ref_words: int, substitutions: int, deletions: int, insertions: int) -> WordRates:
    """The measures jiwer derives from N, S, D, I (N >= 1, S + D <= N), computed as jiwer does.

    The contract checks rows against these; tests and benches build consistent rows from them.
    Counts for which jiwer gives no measure raise ScoresCsvError.
    """
    if ref_words < 1:
        raise ScoresCsvError("0 reference words: WER is undefined", field="ref_words")
    if substitutions + deletions > ref_words:
        raise ScoresCsvError(
            f"substitutions + deletions = {substitutions + deletions} exceed ref_words ="
            f" {ref_words} (hits would be < 0)",
            field="substitutions",
        )
    hits = ref_words - substitutions - deletions
    hyp_words = hits + substitutions + insertions
    errors = substitutions + deletions + insertions
    wer = float(errors) / float(hits + substitutions + deletions)
    mer = float(errors) / float(hits + substitutions + deletions + insertions)
    wip = (float(hits) / ref_words) * (float(hits) / hyp_words) if hyp_words >= 1 else 0.0
    return WordRates(hits, hyp_words, wer, mer, 1 - wip, max(0.0, 1.0 - wer))


@dataclass(frozen=True)
class ScoreRow:
    """One input file's scores, validated on construction (see the module docstring).

    Validation lives here, not only in the reader, so the writer can never emit a row that
    the reader, or the DynamoDB write after it, would refuse.
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
    reference_sha256: str = ""

    def __post_init__(self) -> None:
        for name in TEXT_FIELDS:
            _check_text(name, getattr(self, name))
        if self.reference_sha256 and not _SHA256_HEX.fullmatch(self.reference_sha256):
            raise ScoresCsvError(
                f"not a SHA-256 in lowercase hex: {_shown(self.reference_sha256)}",
                field="reference_sha256",
            )
        _check_sizes(self)
        for name in FLOAT_FIELDS:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _check_float(name, value))
        for name in COUNT_FIELDS:
            _check_count(name, getattr(self, name))
        if self.audio_seconds is not None and self.audio_seconds > MAX_AUDIO_SECONDS:
            raise ScoresCsvError(
                f"{self.audio_seconds!r} s is longer than Transcribe's {MAX_AUDIO_SECONDS} s",
                field="audio_seconds",
            )
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
            _check_consistent(self)
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
        reference_sha256: str | None = None,
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
            reference_sha256 or "",
        )

    @classmethod
    def from_counts(
        cls,
        *,
        run_id: str,
        file: str,
        ref_words: int,
        substitutions: int,
        deletions: int,
        insertions: int,
        cer: float,
        audio_seconds: float | None = None,
        job_name: str | None = None,
        engine: str | None = None,
        language_code: str | None = None,
        reference_sha256: str | None = None,
    ) -> ScoreRow:
        """An ok row whose word measures are derived from its counts as jiwer derives them
        (``word_rates``); CER has no count in the row, so it is given."""
        rates = word_rates(ref_words, substitutions, deletions, insertions)
        return cls.scored(
            run_id=run_id,
            file=file,
            wer=rates.wer,
            mer=rates.mer,
            wil=rates.wil,
            cer=cer,
            accuracy=rates.accuracy,
            ref_words=ref_words,
            hyp_words=rates.hyp_words,
            substitutions=substitutions,
            deletions=deletions,
            insertions=insertions,
            audio_seconds=audio_seconds,
            job_name=job_name,
            engine=engine,
            language_code=language_code,
            reference_sha256=reference_sha256,
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
        reference_sha256: str | None = None,
    ) -> ScoreRow:
        """A failed row: the reason, no metrics.

        The reason is made storable rather than refused, since a failure must always be
        reportable: NUL bytes and lone surrogates are escaped, and a reason longer than
        ``MAX_ERROR_CHARS`` is cut with a note saying how long it was.
        """
        return cls(
            run_id,
            file,
            STATUS_FAILED,
            storable_error(error),
            audio_seconds=audio_seconds,
            job_name=job_name or "",
            engine=engine or "",
            language_code=language_code or "",
            reference_sha256=reference_sha256 or "",
        )

    @property
    def errors(self) -> int:
        """Word errors S + D + I (0 for a failed row), the numerator of corpus WER."""
        return (self.substitutions or 0) + (self.deletions or 0) + (self.insertions or 0)


def reference_sha256(reference: str) -> str:
    """The ``reference_sha256`` of a reference text: SHA-256 of its UTF-8, lowercase hex."""
    return hashlib.sha256(reference.encode("utf-8")).hexdigest()


def storable_error(error: str) -> str:
    """``error`` as a failed row can hold it: escaped where unstorable, cut where too long."""
    text = "".join(
        ch if ch != "\x00" and not 0xD800 <= ord(ch) <= 0xDFFF else _escaped(ch) for ch in error
    )
    if len(text) > MAX_ERROR_CHARS:
        note = f"... [cut: {len(text)} characters in all]"
        text = text[: MAX_ERROR_CHARS - len(note)] + note
    return text


def _escaped(ch: str) -> str:
    """The character as a Python string literal writes it: ``\\xNN`` or ``\\uNNNN``."""
    return f"\\x{ord(ch):02x}" if ord(ch) <= 0xFF else f"\\u{ord(ch):04x}"


def control_characters(text: str) -> list[str]:
    """The control characters (Unicode category Cc) in ``text``, as U+XXXX, in order."""
    return [f"U+{ord(ch):04X}" for ch in text if unicodedata.category(ch) == "Cc"]


def file_label(file: str) -> str:
    """A name a row can carry for ``file``: control characters escaped as ``\\xNN``, and cut
    (with a hash of the real name, so labels stay distinct) if escaping made it too long.

    Used only for names the contract refuses, so the row that fails them can still name them.
    """
    label = "".join(_escaped(ch) if unicodedata.category(ch) == "Cc" else ch for ch in file)
    if len(label.encode("utf-8")) > MAX_FILE_BYTES:
        digest = hashlib.sha256(file.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        cut = label.encode("utf-8")[: MAX_FILE_BYTES - 20].decode("utf-8", "ignore")
        label = f"{cut}...#{digest}"
    return label


def _check_text(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise ScoresCsvError(f"must be text, got {type(value).__name__}", field=name)
    if "\x00" in value:
        raise ScoresCsvError("contains a NUL byte", field=name)
    if len(value) > MAX_TEXT_CHARS:
        raise ScoresCsvError(
            f"{len(value)} characters, more than a CSV field holds ({MAX_TEXT_CHARS})",
            field=name,
        )
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ScoresCsvError("not encodable as UTF-8", field=name) from exc
    if name not in _FREE_TEXT_FIELDS:
        controls = control_characters(value)
        if controls:
            raise ScoresCsvError(
                f"contains control character(s) {', '.join(controls[:5])}", field=name
            )


def _check_sizes(row: ScoreRow) -> None:
    """DynamoDB's key and item limits, for the item results_table.file_item makes of the row."""
    file_bytes = len(row.file.encode("utf-8"))
    if file_bytes > MAX_FILE_BYTES:
        raise ScoresCsvError(
            f"file name is {file_bytes} bytes; DynamoDB's {MAX_SORT_KEY_BYTES}-byte sort key "
            f"leaves {MAX_FILE_BYTES}",
            field="file",
        )
    run_id_bytes = len(row.run_id.encode("utf-8"))
    if run_id_bytes > MAX_SORT_KEY_BYTES:
        raise ScoresCsvError(
            f"run id is {run_id_bytes} bytes, over DynamoDB's {MAX_SORT_KEY_BYTES}-byte key",
            field="run_id",
        )
    text_bytes = sum(len(getattr(row, name).encode("utf-8")) for name in TEXT_FIELDS)
    item_bytes = text_bytes + 2 * (file_bytes + run_id_bytes) + _ITEM_RESERVE_BYTES
    if item_bytes > MAX_ITEM_BYTES:
        raise ScoresCsvError(
            f"the row's text makes a {item_bytes}-byte item, over DynamoDB's {MAX_ITEM_BYTES}"
        )


def _check_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScoresCsvError(f"must be a number, got {type(value).__name__}", field=name)
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        raise ScoresCsvError("not a finite number", field=name) from None
    if not math.isfinite(number):
        raise ScoresCsvError(f"not a finite number: {number!r}", field=name)
    if number < 0 or math.copysign(1.0, number) < 0:
        raise ScoresCsvError(f"negative value: {number!r}", field=name)
    try:
        dynamodb_number(number)
    except NumberNotStorable as exc:
        raise ScoresCsvError(str(exc), field=name) from None
    return number


def _check_count(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScoresCsvError(f"must be an integer, got {type(value).__name__}", field=name)
    if value < 0:
        raise ScoresCsvError(f"negative count: {value}", field=name)
    if value > MAX_WORDS:
        shown = str(value) if value < 10**40 else f"a {len(str(value))}-digit number"
        raise ScoresCsvError(f"{shown} is more than {MAX_WORDS:,} words", field=name)


def _agrees(value: float, expected: float) -> bool:
    return math.isclose(value, expected, rel_tol=RATE_REL_TOL, abs_tol=RATE_ABS_TOL)


def _check_consistent(row: ScoreRow) -> None:
    """An ok row's numbers, checked against each other as jiwer defines them."""
    n, s, d, i = row.ref_words, row.substitutions, row.deletions, row.insertions
    assert n is not None and s is not None and d is not None and i is not None
    rates = word_rates(n, s, d, i)
    if row.hyp_words != rates.hyp_words:
        raise ScoresCsvError(
            f"hyp_words {row.hyp_words} != hits + substitutions + insertions"
            f" = {rates.hits} + {s} + {i} = {rates.hyp_words}",
            field="hyp_words",
        )
    formulas = {
        "wer": f"(S+D+I)/N = {s + d + i}/{n}",
        "mer": f"(S+D+I)/(S+D+I+H) = {s + d + i}/{s + d + i + rates.hits}",
        "wil": f"1 - (H/N)(H/P) with H={rates.hits}, N={n}, P={rates.hyp_words}",
        "accuracy": f"max(0, 1 - wer) with wer = {s + d + i}/{n}",
    }
    for name, formula in formulas.items():
        value, expected = getattr(row, name), getattr(rates, name)
        if not _agrees(value, expected):
            raise ScoresCsvError(f"{value!r} != {formula} = {expected!r}", field=name)
    cer = row.cer
    assert cer is not None
    if (cer == 0) != (s + d + i == 0):
        reason = "cer must be 0 when S+D+I = 0" if cer else "cer is 0 but S+D+I > 0"
        raise ScoresCsvError(f"{reason} (the same normalized texts are compared)", field="cer")
    if cer > MAX_CER:
        raise ScoresCsvError(f"{cer!r} is above the ceiling of {MAX_CER:g}", field="cer")


# ---------------------------------------------------------------------------------------- writer


def neutralize_formula(text: str) -> str:
    """``text`` with a leading ``'`` if a spreadsheet could take it for a formula (OWASP), or if
    it begins with ``'`` already (so ``restore_formula`` can undo exactly this)."""
    return "'" + text if text.startswith(_ESCAPED_LEAD) else text


def restore_formula(cell: str) -> str:
    """The inverse of ``neutralize_formula``: drop one leading ``'``."""
    return cell[1:] if cell.startswith("'") else cell


def _format(name: str, value: str | float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # shortest text that parses back to the identical float
    if isinstance(value, str):
        return neutralize_formula(value)
    return str(value)


def _cells(row: ScoreRow) -> list[str]:
    return [SCHEMA_VERSION, *(_format(name, getattr(row, name)) for name in COLUMNS[1:])]


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
        if len(text) > len(str(MAX_WORDS)):  # before int(): 4,300+ digits would not convert
            raise ScoresCsvError(
                f"{_shown(text)} is more than {MAX_WORDS:,} words", line=line, field=name
            )
        number = int(text)
        if str(number) != text:
            raise ScoresCsvError(
                f"{_shown(text)} is not written plainly (leading zeros)", line=line, field=name
            )
        return number
    if text.startswith("-") and _INT_RE.fullmatch(text[1:]):
        raise ScoresCsvError(f"negative count: {_shown(text)}", line=line, field=name)
    raise ScoresCsvError(f"not a whole number: {_shown(text)}", line=line, field=name)


def _parse_float(name: str, text: str, line: int) -> float | None:
    """A float written as the writer writes it, ``repr(float)``: any other spelling could hide
    a rounding ("1e-400" reads as 0.0, a 30-digit mantissa loses digits), so it is refused."""
    if text == "":
        return None
    if not _FLOAT_RE.fullmatch(text):
        raise ScoresCsvError(f"not a number: {_shown(text)}", line=line, field=name)
    number = float(text)
    if math.isfinite(number) and repr(number) != text:
        raise ScoresCsvError(
            f"{_shown(text)} reads as {number!r}: numbers must be written as Python's repr"
            " of a float, the shortest text that reads back exactly",
            line=line,
            field=name,
        )
    return number  # range and sign are checked by ScoreRow


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
        blank_line: int | None = None  # blank lines are fine at the end only (RFC 4180)
        while True:
            start = reader.line_num + 1
            cells = _next_record(reader)
            if cells is None:
                return
            if not cells:
                blank_line = blank_line or start
                continue
            if blank_line is not None:
                raise ScoresCsvError("blank line", line=blank_line)
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
            values[name] = restore_formula(text)
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
