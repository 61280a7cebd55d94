"""The scores CSV contract: round trips, and a strict reader whose errors name line and field."""

from __future__ import annotations

import dataclasses
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import PipelineError
from pipeline.scores_csv import (
    COLUMNS,
    COUNT_FIELDS,
    RATE_FIELDS,
    SCHEMA_VERSION,
    ScoreRow,
    ScoresCsvError,
    ScoresCsvWriter,
    read_rows,
    read_rows_from_bytes,
    write_rows,
)

RUN = "2026-11-24T20-00-00Z-3fa9c1"


def ok_row(file: str = "clip01.wav", **overrides: object) -> ScoreRow:
    values: dict[str, object] = dict(
        run_id=RUN,
        file=file,
        status="ok",
        wer=0.25,
        mer=0.2,
        wil=0.3,
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
    assert COLUMNS[0] == "schema_version" and SCHEMA_VERSION == "1"
    assert tuple(f.name for f in dataclasses.fields(ScoreRow)) == COLUMNS[1:]


def test_writer_emits_rfc4180_with_header_and_crlf():
    text = to_text([ok_row(file='a, "quoted".wav'), failed_row()])
    lines = text.split("\r\n")
    assert lines[0] == ",".join(COLUMNS)
    assert lines[1] == (
        f'1,{RUN},"a, ""quoted"".wav",ok,,0.25,0.2,0.3,0.1,0.75,8,9,1,0,1,3.5,'
        f"asr-{RUN}-clip01,faster-whisper,en-US"
    )
    assert lines[2] == f"1,{RUN},clip02.wav,failed,missing reference" + "," * 14
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
    rows = [ok_row(file="sub/é x.wav"), failed_row(file="multi\nline\r.mp3"), ok_row("z.ogg")]
    text = to_text(rows)
    assert list(read_rows(io.StringIO(text, newline=""))) == rows
    raw = text.encode("utf-8")
    for size in (1, 2, 3, 7, 64):
        chunks = [raw[i : i + size] for i in range(0, len(raw), size)]
        assert list(read_rows_from_bytes(chunks)) == rows


def test_reader_reports_the_line_each_row_starts_on():
    text = to_text([ok_row("a.wav"), failed_row("two\nlines.wav"), ok_row("c.wav")])
    reader = read_rows_from_bytes([text.encode()])
    assert [(row.file, reader.line) for row in reader] == [
        ("a.wav", 2),
        ("two\nlines.wav", 3),
        ("c.wav", 5),
    ]


def test_a_byte_order_mark_is_accepted():
    assert read_text("\ufeff" + to_text([ok_row()])) == [ok_row()]


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"wer": -0.1}, "wer", "negative value"),
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
    ],
)
def test_rows_that_break_the_contract_cannot_be_built(overrides, field, reason):
    with pytest.raises(ScoresCsvError) as info:
        ok_row(**overrides)
    assert info.value.field == field and reason in info.value.reason
    assert info.value.line is None


def test_failed_rows_need_an_error_and_no_metrics():
    with pytest.raises(ScoresCsvError, match="field 'error': failed row needs an error"):
        ScoreRow(run_id=RUN, file="a.wav", status="failed", error="  ")
    with pytest.raises(ScoresCsvError, match="field 'wer': failed row must leave metrics empty"):
        ScoreRow(run_id=RUN, file="a.wav", status="failed", error="x", wer=0.1)
    # audio_seconds is not a metric: a failed row may still know the audio's length.
    assert ScoreRow(RUN, "a.wav", "failed", "x", audio_seconds=2.0).audio_seconds == 2.0


def test_accuracy_may_be_negative_when_insertions_pile_up():
    row = ok_row(wer=1.5, accuracy=-0.5)
    assert read_text(to_text([row])) == [row]


def test_integers_given_for_rates_read_back_equal():
    row = ok_row(wer=0, mer=1)
    assert row.wer == 0.0 and isinstance(row.wer, float)
    assert read_text(to_text([row])) == [row]


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
        (with_line(1, HEADER.replace(",language_code", "")), 1, "language_code", "missing col"),
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
        (with_line(3, replace_cell(ROW_B, "schema_version", "2")), 3, "schema_version", "'2'"),
        (with_line(3, ROW_B + ",extra"), 3, None, "expected 19 fields, got 20"),
        (with_line(3, ROW_B.rsplit(",", 1)[0]), 3, "language_code", "expected 19 fields, got 18"),
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

_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
_rate = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
_count = st.integers(min_value=0, max_value=10**12)


@st.composite
def score_rows(draw: st.DrawFn) -> ScoreRow:
    file = draw(_text.filter(bool))
    run_id = draw(_text.filter(bool))
    texts = {name: draw(_text) for name in ("job_name", "engine", "language_code")}
    audio = draw(st.none() | _rate)
    if draw(st.booleans()):
        rates = {name: draw(_rate) for name in RATE_FIELDS}
        rates["accuracy"] = draw(st.floats(-1e6, 1, allow_nan=False))
        counts = {name: draw(_count) for name in COUNT_FIELDS}
        return ScoreRow(run_id, file, "ok", "", **rates, **counts, audio_seconds=audio, **texts)
    error = draw(_text.filter(str.strip))
    return ScoreRow(run_id, file, "failed", error, audio_seconds=audio, **texts)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(score_rows(), max_size=5), chunk=st.integers(1, 50))
def test_any_rows_written_read_back_equal(rows, chunk):
    raw = to_text(rows).encode("utf-8")
    assert list(read_rows_from_bytes(raw[i : i + chunk] for i in range(0, len(raw), chunk))) == rows
    assert list(read_rows(io.StringIO(raw.decode("utf-8"), newline=""))) == rows


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
        mer=0.4,
        wil=0.6,
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
