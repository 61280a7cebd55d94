"""The scores CSV contract: round trips, and a strict reader whose errors name line and field."""

from __future__ import annotations

import csv
import dataclasses
import io

import jiwer
import pytest
from boto3.dynamodb.types import TypeSerializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import PipelineError
from pipeline.results_table import file_item
from pipeline.scores_csv import (
    COLUMNS,
    MAX_ERROR_CHARS,
    MAX_TEXT_CHARS,
    MAX_WORDS,
    SCHEMA_VERSION,
    ScoreRow,
    ScoresCsvError,
    ScoresCsvWriter,
    file_label,
    read_rows,
    read_rows_from_bytes,
    reference_sha256,
    word_rates,
    write_rows,
)

RUN = "2026-11-24T20-00-00Z-3fa9c1"


SHA = reference_sha256("a reference")
SHA_FIELD = "reference_sha256"


def ok_row(file: str = "clip01.wav", **overrides: object) -> ScoreRow:
    """N=8, S=1, D=0, I=1: H=7, P=9, wer 2/8, mer 2/9, wil 1 - (7/8)(7/9), accuracy 0.75."""
    values: dict[str, object] = dict(
        run_id=RUN,
        file=file,
        status="ok",
        wer=0.25,
        mer=2 / 9,
        wil=1 - (7 / 8) * (7 / 9),
        cer=0.1,
        accuracy=0.75,
        ref_words=8,
        hyp_words=9,
        substitutions=1,
        deletions=0,
        insertions=1,
        audio_seconds=3.5,
        job_name=f"asr-{RUN}-clip01",
        engine="faster-whisper",
        language_code="en-US",
        reference_sha256=SHA,
    )
    values.update(overrides)
    return ScoreRow(**values)  # type: ignore[arg-type]


def failed_row(file: str = "clip02.wav", error: str = "missing reference") -> ScoreRow:
    return ScoreRow(run_id=RUN, file=file, status="failed", error=error)


def to_text(rows: list[ScoreRow]) -> str:
    stream = io.StringIO(newline="")
    write_rows(stream, rows)
    return stream.getvalue()


def read_text(text: str) -> list[ScoreRow]:
    return list(read_rows_from_bytes([text.encode("utf-8")]))


def error_of(data: str | bytes) -> ScoresCsvError:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with pytest.raises(ScoresCsvError) as info:
        list(read_rows_from_bytes([raw]))
    return info.value


# ------------------------------------------------------------------------------------ writing


def test_columns_follow_the_contract_and_the_row_type():
    assert COLUMNS[0] == "schema_version" and SCHEMA_VERSION == "3"
    assert tuple(f.name for f in dataclasses.fields(ScoreRow)) == COLUMNS[1:]


def test_writer_emits_rfc4180_with_header_and_crlf():
    text = to_text([ok_row(file='a, "quoted".wav'), failed_row()])
    lines = text.split("\r\n")
    assert lines[0] == ",".join(COLUMNS)
    assert lines[1] == (
        f'3,{RUN},"a, ""quoted"".wav",ok,,0.25,0.2222222222222222,0.3194444444444444,0.1,0.75,'
        f"8,9,1,0,1,3.5,asr-{RUN}-clip01,faster-whisper,en-US,{SHA}"
    )
    assert lines[2] == f"3,{RUN},clip02.wav,failed,missing reference" + "," * 15
    assert lines[3] == ""


def test_incremental_writer_counts_rows_and_header_only_file_reads_empty():
    stream = io.StringIO(newline="")
    writer = ScoresCsvWriter(stream)
    assert stream.getvalue() == ",".join(COLUMNS) + "\r\n"
    assert read_text(stream.getvalue()) == []
    writer.write(ok_row())
    writer.write(failed_row())
    assert writer.count == 2
    assert read_text(stream.getvalue()) == [ok_row(), failed_row()]


def test_round_trip_through_text_and_odd_byte_chunks():
    rows = [ok_row(file="sub/é x.wav"), failed_row(error="multi\nline\r\nerror"), ok_row("z.ogg")]
    text = to_text(rows)
    assert list(read_rows(io.StringIO(text, newline=""))) == rows
    raw = text.encode("utf-8")
    for size in (1, 2, 3, 7, 64):
        chunks = [raw[i : i + size] for i in range(0, len(raw), size)]
        assert list(read_rows_from_bytes(chunks)) == rows


def test_reader_reports_the_line_each_row_starts_on():
    text = to_text([ok_row("a.wav"), failed_row("b.wav", "two\nlines"), ok_row("c.wav")])
    reader = read_rows_from_bytes([text.encode()])
    assert [(row.file, reader.line) for row in reader] == [
        ("a.wav", 2),
        ("b.wav", 3),
        ("c.wav", 5),
    ]


def test_a_byte_order_mark_is_accepted():
    assert read_text("\ufeff" + to_text([ok_row()])) == [ok_row()]


def test_trailing_blank_lines_are_accepted_as_rfc_4180_readers_do():
    """RFC 4180 section 2: the last record may or may not end with a line break; a blank line
    after it carries no record. Blank lines before a record are still refused."""
    text = to_text([ok_row("a.wav"), failed_row("b.wav")])
    assert read_text(text + "\r\n") == read_text(text + "\r\n\r\n\n") == read_text(text)
    assert read_text(text.removesuffix("\r\n")) == read_text(text)
    error = error_of(text + "\r\n" + text.split("\r\n", 1)[1])
    assert (error.line, error.reason) == (4, "blank line")


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"wer": -0.1}, "wer", "negative value"),
        ({"wer": -0.0}, "wer", "negative value"),
        ({"wer": float("nan")}, "wer", "not a finite number"),
        ({"ref_words": -1}, "ref_words", "negative count"),
        ({"ref_words": 1.5}, "ref_words", "must be an integer"),
        ({"insertions": True}, "insertions", "must be an integer"),
        ({"status": "OK"}, "status", "status must be 'ok' or 'failed'"),
        ({"error": "boom"}, "error", "ok row must have an empty error"),
        ({"cer": None}, "cer", "ok row needs a value"),
        ({"file": ""}, "file", "empty file name"),
        ({"engine": "a\x00b"}, "engine", "NUL"),
        ({"job_name": "\ud800"}, "job_name", "UTF-8"),
        ({"file": "evil\nname.wav"}, "file", "control character(s) U+000A"),
        ({"language_code": "en\x1b[0m"}, "language_code", "control character(s) U+001B"),
        ({"file": "é" * 510}, "file", "1024-byte sort key"),
        ({"job_name": "j" * (MAX_TEXT_CHARS + 1)}, "job_name", "more than a CSV field holds"),
    ],
)
def test_rows_that_break_the_contract_cannot_be_built(overrides, field, reason):
    with pytest.raises(ScoresCsvError) as info:
        ok_row(**overrides)
    assert info.value.field == field and reason in info.value.reason
    assert info.value.line is None


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        # Numbers boto3's DYNAMODB_CONTEXT traps (Overflow, Underflow, Rounded) or DynamoDB
        # refuses (magnitude below 1E-130): the write would fail half-way, so the row can't exist.
        ({"cer": 1e-200}, "cer", "1e-200 is not storable as a DynamoDB number"),
        ({"cer": 1e-131}, "cer", "1e-131 is not storable as a DynamoDB number: 38 digits, mag"),
        ({"audio_seconds": 5e-324}, "audio_seconds", "not storable as a DynamoDB number"),
        ({"cer": 1e308}, "cer", "1e+308 is not storable as a DynamoDB number: 38 digits"),
        ({"cer": 1e100}, "cer", "1e+100 is above the ceiling of 1e+08"),
        ({"ref_words": 10**40}, "ref_words", "41-digit number is more than"),
        ({"ref_words": 10**4000}, "ref_words", "4001-digit number is more than"),
        ({"insertions": MAX_WORDS + 1}, "insertions", "more than 1,000,000 words"),
        ({"audio_seconds": 4 * 3600 + 0.5}, "audio_seconds", "longer than Transcribe's 14400"),
        # jiwer's definitions, checked against each other.
        ({"wer": 1e308}, "wer", "(Overflow)"),
        ({"wer": 1e100}, "wer", "!= (S+D+I)/N = 2/8 = 0.25"),
        ({"wer": 0.3}, "wer", "!= (S+D+I)/N = 2/8 = 0.25"),
        ({"mer": 0.25}, "mer", "(S+D+I)/(S+D+I+H) = 2/9"),
        ({"wil": 1.5}, "wil", "1 - (H/N)(H/P) with H=7, N=8, P=9"),
        ({"accuracy": 0.3286}, "accuracy", "max(0, 1 - wer)"),
        ({"hyp_words": 10}, "hyp_words", "!= hits + substitutions + insertions = 7 + 1 + 1 = 9"),
        ({"insertions": 100_000}, "hyp_words", "= 7 + 1 + 100000 = 100008"),
        ({"substitutions": 8, "deletions": 1}, "substitutions", "= 9 exceed ref_words = 8"),
        ({"ref_words": 0, "substitutions": 0}, "ref_words", "WER is undefined"),
        ({"cer": 0.0}, "cer", "cer is 0 but S+D+I > 0"),
    ],
)
def test_numbers_must_be_storable_sane_and_agree_with_each_other(overrides, field, reason):
    with pytest.raises(ScoresCsvError) as info:
        ok_row(**overrides)
    assert info.value.field == field
    assert reason in info.value.reason


def test_all_zero_counts_must_come_with_zero_rates():
    """The issue's "S=D=I=0 everywhere" CSV: a WER of 0.3 with no errors is refused."""
    perfect = ScoreRow.from_counts(
        run_id=RUN, file="a.wav", ref_words=10, substitutions=0, deletions=0, insertions=0, cer=0
    )
    assert (perfect.wer, perfect.mer, perfect.wil, perfect.accuracy) == (0, 0, 0, 1)
    with pytest.raises(ScoresCsvError, match="field 'wer'"):
        dataclasses.replace(perfect, wer=0.3)
    with pytest.raises(ScoresCsvError, match="cer must be 0 when S\\+D\\+I = 0"):
        dataclasses.replace(perfect, cer=0.01)


@pytest.mark.parametrize(
    ("reference", "hypothesis"),
    [
        ("the cat sat on the mat", "the cat sat on a mat"),
        ("a b c d", ""),
        ("one", "one two three four five six"),
        ("hello world", "hello world"),
        ("x y z", "y z x w"),
    ],
)
def test_the_rules_are_jiwers_own_measures(reference, hypothesis):
    """Rows built from jiwer.process_words pass, and word_rates reproduces jiwer exactly."""
    words = jiwer.process_words(reference, hypothesis)
    s, d, i = words.substitutions, words.deletions, words.insertions
    rates = word_rates(len(reference.split()), s, d, i)
    assert (rates.wer, rates.mer, rates.wil) == (words.wer, words.mer, words.wil)
    assert (rates.hits, rates.hyp_words) == (words.hits, len(hypothesis.split()))
    cer = jiwer.cer(reference, hypothesis) if hypothesis else 1.0
    row = ScoreRow.scored(
        run_id=RUN,
        file="f.wav",
        wer=words.wer,
        mer=words.mer,
        wil=words.wil,
        cer=cer,
        accuracy=max(0.0, 1.0 - words.wer),
        ref_words=len(reference.split()),
        hyp_words=len(hypothesis.split()),
        substitutions=s,
        deletions=d,
        insertions=i,
    )
    assert read_text(to_text([row])) == [row]


def test_failed_rows_need_an_error_and_no_metrics():
    with pytest.raises(ScoresCsvError, match="field 'error': failed row needs an error"):
        ScoreRow(run_id=RUN, file="a.wav", status="failed", error="  ")
    with pytest.raises(ScoresCsvError, match="field 'wer': failed row must leave metrics empty"):
        ScoreRow(run_id=RUN, file="a.wav", status="failed", error="x", wer=0.1)
    # audio_seconds is not a metric: a failed row may still know the audio's length.
    assert ScoreRow(RUN, "a.wav", "failed", "x", audio_seconds=2.0).audio_seconds == 2.0


def test_the_writer_refuses_what_the_reader_would_refuse_and_failed_rows_cut_long_errors():
    """A 200,000-character error used to be written, then refused ("field larger than field
    limit"). The constructor refuses it; ScoreRow.failed cuts it visibly instead, because a
    failure must always be reportable."""
    huge = "Traceback: " + "x" * 200_000
    with pytest.raises(ScoresCsvError, match="field 'error': 200011 characters, more than"):
        ScoreRow(RUN, "a.wav", "failed", huge)
    row = ScoreRow.failed(run_id=RUN, file="a.wav", error=huge + "\x00\ud800")
    assert len(row.error) == MAX_ERROR_CHARS
    assert row.error.startswith("Traceback: xxx")
    assert row.error.endswith("... [cut: 200021 characters in all]")
    assert read_text(to_text([row])) == [row]
    # The reader's limit, met by a hand-made CSV: refused with csv's own reason.
    cells = [SCHEMA_VERSION, RUN, "a.wav", "failed", "y" * 200_000] + [""] * 14
    error = error_of(",".join(COLUMNS) + "\r\n" + ",".join(cells) + "\r\n")
    assert error.line == 2 and "field larger than field limit (131072)" in error.reason


def test_a_row_too_large_for_one_dynamodb_item_is_refused():
    big = "\U0001f600" * 101_500  # 406,000 bytes of UTF-8 in 101,500 characters
    with pytest.raises(ScoresCsvError, match="byte item, over DynamoDB's 409600"):
        ScoreRow(RUN, "a.wav", "failed", big)


def test_formulas_are_neutralized_in_the_csv_and_restored_on_reading():
    """OWASP "CSV Injection": cells starting with = + - @ tab CR (and LF) get a leading quote;
    a leading quote is quoted too, so the reader gives back exactly what was written."""
    names = ['=HYPERLINK("http://x","y").wav', "+1.wav", "-rf.wav", "@SUM(A1).wav", "'q.wav"]
    rows = [failed_row(name, error="=cmd|' /C calc'!A0") for name in names]
    rows.append(failed_row("tab.wav", error="\tindented"))
    text = to_text(rows)
    cells = [record[2:5] for record in csv.reader(io.StringIO(text, newline=""))][1:]
    assert [c[0] for c in cells[:5]] == ["'" + name for name in names[:4]] + ["''q.wav"]
    assert all(c[2].startswith("'=cmd") for c in cells[:5])
    assert read_text(text) == rows


def test_file_label_escapes_control_characters_and_stays_within_the_key():
    assert file_label("a\nb\x7f\x85.wav") == "a\\x0ab\\x7f\\x85.wav"
    assert file_label("plain/é.wav") == "plain/é.wav"
    long = file_label("\n" * 1000)
    assert len(long.encode()) <= 1019 and long.endswith(tuple("0123456789abcdef"))
    assert ScoreRow.failed(run_id=RUN, file=long, error="bad name").file == long
    assert file_label("\n" * 1000) != file_label("\n" * 999)


def test_integers_given_for_rates_read_back_equal():
    row = ScoreRow(RUN, "a.wav", "ok", "", 0, 0, 0, 0, 1, 8, 8, 0, 0, 0)
    assert row.wer == 0.0 and isinstance(row.wer, float)
    assert read_text(to_text([row])) == [row]


def test_accepted_rows_serialize_as_dynamodb_items():
    serializer = TypeSerializer()
    for row in [ok_row(), failed_row(), dataclasses.replace(ok_row(), cer=1e-130)]:
        assert all(serializer.serialize(value) for value in file_item(row).values())


# ------------------------------------------------------------------------------------ reading

GOOD = to_text([ok_row("a.wav"), ok_row("b.wav"), failed_row("c.wav")])
HEADER, ROW_A, ROW_B, ROW_C = GOOD.split("\r\n")[:4]


def with_line(line_number: int, new: str) -> str:
    lines = GOOD.split("\r\n")
    lines[line_number - 1] = new
    return "\r\n".join(lines)


def replace_cell(line: str, column: str, value: str) -> str:
    cells = line.split(",")
    cells[COLUMNS.index(column)] = value
    return ",".join(cells)


@pytest.mark.parametrize(
    ("text", "line", "field", "reason"),
    [
        ("", 1, None, "empty file"),
        (with_line(1, HEADER.replace("wer,", "wre,", 1)), 1, "wre", "unknown column"),
        (with_line(1, HEADER.replace(",reference_sha256", "")), 1, "reference_sha256", "missing"),
        (with_line(1, HEADER.replace("mer,wil", "wil,mer")), 1, "wil", "wrong column order"),
        (with_line(1, "run_id," + HEADER), 1, "run_id", "first column must be"),
        (with_line(1, HEADER + ",wer"), 1, "wer", "duplicate column"),
        (with_line(3, replace_cell(ROW_B, "wer", "abc")), 3, "wer", "not a number: 'abc'"),
        (with_line(3, replace_cell(ROW_B, "wer", "nan")), 3, "wer", "not a number"),
        (with_line(3, replace_cell(ROW_B, "wer", "1_0")), 3, "wer", "not a number"),
        (with_line(2, replace_cell(ROW_A, "wer", "1e999")), 2, "wer", "not a finite number"),
        (with_line(2, replace_cell(ROW_A, "cer", "-0.5")), 2, "cer", "negative value"),
        (with_line(2, replace_cell(ROW_A, "deletions", "-2")), 2, "deletions", "negative count"),
        (with_line(2, replace_cell(ROW_A, "deletions", "2.0")), 2, "deletions", "whole number"),
        (with_line(2, replace_cell(ROW_A, "ref_words", "")), 2, "ref_words", "needs a value"),
        (with_line(2, replace_cell(ROW_A, "status", "done")), 2, "status", "status must be"),
        (with_line(2, replace_cell(ROW_A, "error", "oops")), 2, "error", "empty error"),
        (with_line(4, replace_cell(ROW_C, "error", "")), 4, "error", "needs an error"),
        (with_line(4, replace_cell(ROW_C, "wer", "0.1")), 4, "wer", "leave metrics empty"),
        (with_line(3, replace_cell(ROW_B, "schema_version", "1")), 3, "schema_version", "'1'"),
        (with_line(2, replace_cell(ROW_A, "cer", "1e-400")), 2, "cer", "reads as 0.0"),
        (with_line(2, replace_cell(ROW_A, "cer", "0.10")), 2, "cer", "reads as 0.1"),
        (with_line(2, replace_cell(ROW_A, "wer", "0.2500000000000000000001")), 2, "wer", "repr"),
        (with_line(2, replace_cell(ROW_A, "deletions", "00")), 2, "deletions", "leading zeros"),
        (with_line(2, replace_cell(ROW_A, "ref_words", "9" * 4000)), 2, "ref_words", "more than"),
        (with_line(2, replace_cell(ROW_A, "wer", "0.3")), 2, "wer", "!= (S+D+I)/N"),
        (with_line(3, ROW_B + ",extra"), 3, None, "expected 20 fields, got 21"),
        (
            with_line(3, ROW_B.rsplit(",", 1)[0]),
            3,
            "reference_sha256",
            "expected 20 fields, got 19",
        ),
        (
            with_line(3, replace_cell(ROW_B, "reference_sha256", "ABC")),
            3,
            "reference_sha256",
            "hex",
        ),
        (with_line(3, ""), 3, None, "blank line"),
        (with_line(3, ROW_B.replace("b.wav", "b\x00.wav")), 3, None, "NUL byte"),
        (with_line(3, ROW_B.replace("b.wav", '"b"x.wav')), 3, None, "malformed CSV"),
        (GOOD + '1,r,"unterminated', 5, None, "malformed CSV"),
    ],
)
def test_reader_errors_name_line_and_field(text, line, field, reason):
    error = error_of(text)
    assert (error.line, error.field) == (line, field)
    assert reason in error.reason
    assert isinstance(error, PipelineError)
    where = f"scores CSV line {line}" + ("" if field is None else f", field {field!r}")
    assert str(error).startswith(where + ": ")


def test_message_reads_like_the_contract_example():
    lines = to_text([ok_row(f"{n}.wav") for n in range(8)]).split("\r\n")
    lines[6] = replace_cell(lines[6], "wer", "abc")
    error = error_of("\r\n".join(lines))
    assert str(error) == "scores CSV line 7, field 'wer': not a number: 'abc'"


def test_bad_utf8_names_its_line_even_across_chunks():
    raw = GOOD.encode("utf-8")
    bad = raw.replace(b"b.wav", b"b\xff.wav")
    with pytest.raises(ScoresCsvError, match=r"line 3: not valid UTF-8: byte 0xff") as info:
        list(read_rows_from_bytes([bad[i : i + 5] for i in range(0, len(bad), 5)]))
    assert info.value.line == 3
    truncated = to_text([ok_row("é.wav")]).encode("utf-8")
    cut = truncated.index("é".encode()) + 1
    with pytest.raises(ScoresCsvError, match="line 2: not valid UTF-8"):
        list(read_rows_from_bytes([truncated[:cut]]))


def test_errors_surface_in_file_order_and_rows_before_them_are_yielded():
    text = with_line(3, replace_cell(ROW_B, "wer", "x")).replace("c.wav", "c\udcff.wav")
    raw = text.encode("utf-8", "surrogateescape")  # a bad byte on line 4, a bad field on line 3
    reader = iter(read_rows_from_bytes([raw]))
    assert next(reader).file == "a.wav"
    with pytest.raises(ScoresCsvError) as info:
        next(reader)
    assert (info.value.line, info.value.field) == (3, "wer")


# --------------------------------------------------------------------------------- properties

# Any text the contract could meet: every category but lone surrogates, NUL included sometimes.
_any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
_label = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
_seconds = st.none() | st.just(0.0) | st.floats(min_value=1e-9, max_value=4 * 3600)


@st.composite
def score_rows(draw: st.DrawFn) -> ScoreRow:
    """Rows the contract accepts, built as the notebook builds them (jiwer's relations)."""
    file = draw(_label.filter(bool))
    labels = {name: draw(_label) for name in ("job_name", "engine", "language_code")}
    audio = draw(_seconds)
    if draw(st.booleans()):
        n = draw(st.integers(1, 10_000))
        s = draw(st.integers(0, n))
        d = draw(st.integers(0, n - s))
        i = draw(st.integers(0, 10_000))
        cer = 0.0 if s + d + i == 0 else draw(st.floats(1e-9, 1e6, allow_nan=False))
        return ScoreRow.from_counts(
            run_id=RUN,
            file=file,
            ref_words=n,
            substitutions=s,
            deletions=d,
            insertions=i,
            cer=cer,
            audio_seconds=audio,
            **labels,
        )
    error = draw(_any_text.filter(lambda text: text.strip() and "\x00" not in text))
    return ScoreRow(RUN, file, "failed", error, audio_seconds=audio, **labels)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(score_rows(), max_size=5), chunk=st.integers(1, 50))
def test_any_rows_written_read_back_equal(rows, chunk):
    raw = to_text(rows).encode("utf-8")
    assert list(read_rows_from_bytes(raw[i : i + chunk] for i in range(0, len(raw), chunk))) == rows
    assert list(read_rows(io.StringIO(raw.decode("utf-8"), newline=""))) == rows


_any_number = (
    st.none()
    | st.integers(-(10**45), 10**45)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, 1, 1e-130, 1e-131, 1e-200, 1e125, 1e126, 1e308, 5e-324, -0.0])
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    base=score_rows(),
    changes=st.dictionaries(
        st.sampled_from(COLUMNS[1:]), _any_number | _any_text, min_size=1, max_size=3
    ),
)
def test_everything_the_writer_accepts_the_reader_reads_back_equal_and_dynamodb_stores(
    base, changes
):
    """Fuzz every field with hostile values: what ScoreRow accepts must survive the CSV and
    serialize with boto3's DynamoDB serializer (its number context traps Overflow, Underflow
    and Rounded), so a row the writer takes can never crash the ingest write half-way."""
    try:
        row = dataclasses.replace(base, **changes)
    except (ScoresCsvError, TypeError):
        return
    assert read_text(to_text([row])) == [row]
    serializer = TypeSerializer()
    assert all(serializer.serialize(value) for value in file_item(row).values())


@st.composite
def corrupted(draw: st.DrawFn) -> bytes:
    data = bytearray(to_text(draw(st.lists(score_rows(), min_size=1, max_size=3))).encode())
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[at:at] = draw(
                st.binary(min_size=1, max_size=4) | st.sampled_from([b'"', b",", b"\n"])
            )
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 4))]
        else:
            del data[at:]
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=corrupted(), chunk=st.integers(1, 64))
def test_corrupted_input_reads_validly_or_raises_scores_csv_error(data, chunk):
    try:
        rows = list(read_rows_from_bytes(data[i : i + chunk] for i in range(0, len(data), chunk)))
    except ScoresCsvError as error:
        assert error.line is None or error.line >= 1
        return
    assert all(isinstance(row, ScoreRow) for row in rows)


def test_a_line_without_end_is_refused_before_it_eats_memory(monkeypatch):
    monkeypatch.setattr("pipeline.scores_csv.MAX_LINE_CHARS", 1000)
    text = with_line(3, replace_cell(ROW_B, "job_name", "j" * 5000))
    raw = text.encode()
    with pytest.raises(ScoresCsvError, match="line 3: line longer than 1000 characters"):
        list(read_rows_from_bytes(raw[i : i + 100] for i in range(0, len(raw), 100)))


def test_keyword_constructors_build_ok_and_failed_rows():
    row = ScoreRow.scored(
        run_id=RUN,
        file="a.wav",
        wer=0.5,
        mer=0.5,
        wil=0.75,
        cer=0.2,
        accuracy=0.5,
        ref_words=4,
        hyp_words=4,
        substitutions=2,
        deletions=0,
        insertions=0,
        audio_seconds=None,
        job_name=None,
    )
    assert (row.status, row.error, row.job_name, row.errors) == ("ok", "", "", 2)
    gone = ScoreRow.failed(run_id=RUN, file="b.wav", error="missing reference", engine="e")
    assert (gone.status, gone.wer, gone.engine, gone.errors) == ("failed", None, "e", 0)
    assert read_text(to_text([row, gone])) == [row, gone]
