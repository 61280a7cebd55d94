"""parse_transcript / read_transcript: AWS's string times, emulators' numbers, and broken output."""

from __future__ import annotations

import json

import boto3
import pytest

from pipeline.errors import PipelineError
from pipeline.transcribe import TranscriptError, parse_transcript, read_transcript

# The shape real Amazon Transcribe writes: times and confidences are strings, punctuation has
# no times.
AWS_OUTPUT = {
    "jobName": "2026-11-24T20-00-00Z-3fa9c1_clip01.wav_0123456789ab",
    "accountId": "123456789012",
    "status": "COMPLETED",
    "results": {
        "transcripts": [{"transcript": "Hello world."}],
        "items": [
            {
                "start_time": "0.04",
                "end_time": "0.51",
                "alternatives": [{"confidence": "0.998", "content": "Hello"}],
                "type": "pronunciation",
            },
            {
                "start_time": "0.52",
                "end_time": "4.87",
                "alternatives": [{"confidence": "0.95", "content": "world"}],
                "type": "pronunciation",
            },
            {"alternatives": [{"confidence": "0.0", "content": "."}], "type": "punctuation"},
        ],
    },
}


def numeric_copy(document: dict) -> dict:
    """The same transcript with numbers where AWS writes strings (LocalStack's form)."""
    copy = json.loads(json.dumps(document))
    for item in copy["results"]["items"]:
        for field in ("start_time", "end_time"):
            if field in item:
                item[field] = float(item[field])
        item["alternatives"][0]["confidence"] = float(item["alternatives"][0]["confidence"])
    return copy


@pytest.mark.parametrize("form", ["bytes", "str", "dict", "numeric"])
def test_parses_string_and_numeric_times_alike(form: str) -> None:
    raw = {
        "bytes": json.dumps(AWS_OUTPUT).encode(),
        "str": json.dumps(AWS_OUTPUT),
        "dict": AWS_OUTPUT,
        "numeric": numeric_copy(AWS_OUTPUT),
    }[form]
    transcript = parse_transcript(raw)
    assert transcript.text == "Hello world."
    assert transcript.job_name == AWS_OUTPUT["jobName"]
    assert [(i.type, i.content) for i in transcript.items] == [
        ("pronunciation", "Hello"),
        ("pronunciation", "world"),
        ("punctuation", "."),
    ]
    hello, world, stop = transcript.items
    assert (hello.start_time, hello.end_time, hello.confidence) == (0.04, 0.51, 0.998)
    assert (world.start_time, world.end_time, world.confidence) == (0.52, 4.87, 0.95)
    assert (stop.start_time, stop.end_time) == (None, None)
    assert transcript.speech_seconds == 4.87


def test_speech_seconds_is_none_without_words() -> None:
    silent = {"results": {"transcripts": [{"transcript": ""}], "items": []}}
    transcript = parse_transcript(silent)
    assert transcript.text == ""
    assert transcript.speech_seconds is None


def test_items_may_be_absent() -> None:
    """Some emulators write only the text; the text is what scoring needs."""
    transcript = parse_transcript({"results": {"transcripts": [{"transcript": "hi"}]}})
    assert (transcript.text, transcript.items) == ("hi", ())


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        ("[1, 2]", "top level is not a JSON object"),
        ({"status": "COMPLETED"}, "results is missing"),
        ({"results": {"transcripts": []}}, "results.transcripts is missing or empty"),
        ({"results": {"transcripts": [{"transcript": 3}]}}, "transcript is not a string"),
        (
            {"results": {"transcripts": [{"transcript": "a"}], "items": "x"}},
            "results.items is not a list",
        ),
        (
            {
                "results": {
                    "transcripts": [{"transcript": "a"}],
                    "items": [
                        {
                            "type": "pronunciation",
                            "start_time": "abc",
                            "alternatives": [{"content": "a"}],
                        }
                    ],
                }
            },
            "results.items[0] start_time 'abc' is not a number",
        ),
        (
            {
                "results": {
                    "transcripts": [{"transcript": "a"}],
                    "items": [{"type": "pronunciation", "alternatives": []}],
                }
            },
            "results.items[0].alternatives is missing or empty",
        ),
        (
            {
                "results": {
                    "transcripts": [{"transcript": "a"}],
                    "items": [
                        {
                            "type": "pronunciation",
                            "end_time": "nan",
                            "alternatives": [{"content": "a"}],
                        }
                    ],
                }
            },
            "end_time 'nan' is not finite",
        ),
    ],
)
def test_broken_output_raises_an_error_naming_the_key(raw: object, problem: str) -> None:
    key = "s3://results/transcripts/run/clip01.json"
    with pytest.raises(TranscriptError) as caught:
        parse_transcript(raw, key)  # type: ignore[arg-type]
    assert isinstance(caught.value, PipelineError)
    assert caught.value.key == key
    assert key in str(caught.value)
    assert problem in str(caught.value)


@pytest.fixture
def s3(in_process_aws: None):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="results")
    return client


def test_read_transcript_from_s3(s3) -> None:
    s3.put_object(Bucket="results", Key="transcripts/r/a.json", Body=json.dumps(AWS_OUTPUT))
    transcript = read_transcript(s3, "results", "transcripts/r/a.json")
    assert transcript.text == "Hello world."
    assert transcript.speech_seconds == 4.87


def test_read_transcript_missing_object_names_it(s3) -> None:
    with pytest.raises(TranscriptError) as caught:
        read_transcript(s3, "results", "transcripts/r/missing.json")
    assert caught.value.key == "s3://results/transcripts/r/missing.json"
    assert "NoSuchKey" in str(caught.value)


def test_read_transcript_corrupt_object_names_it(s3) -> None:
    s3.put_object(Bucket="results", Key="transcripts/r/bad.json", Body=b'{"results": ')
    with pytest.raises(TranscriptError, match=r"s3://results/transcripts/r/bad.json: not valid"):
        read_transcript(s3, "results", "transcripts/r/bad.json")
