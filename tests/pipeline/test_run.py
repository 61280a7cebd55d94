"""The run the notebook executes, on moto with an instant Transcribe: one file's problem fails
that file's row, naming its key, never the run; a re-run of the same run id reuses its jobs;
and the failure path keeps every score that can still be computed."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from emulation.transcribe.engines import Word
from emulation.transcribe.output import transcript_document
from pipeline import run as run_module
from pipeline.failed_run import notebook_parameters, write_failed_run
from pipeline.run import RunConfig, run_corpus
from pipeline.scores_csv import RUN_ROW_FILE, ScoreRow, read_rows_from_bytes
from pipeline.scores_object import ROWS_METADATA, sha256_base64
from pipeline.transcribe import discover_corpus, plan_jobs

RUN_ID = "2026-11-24T20-00-00Z-3fa9c1"
MEDIA, RESULTS = "media", "results"
TEXTS = {"a": "the cat sat on the mat", "b": "hello world", "c": "the quick brown fox"}
HEARD = {"a": "the cat sat on a mat", "b": "hello world", "c": "the quick brown"}


def transcript(job: str, words: list[str]) -> dict[str, Any]:
    """Amazon's transcript JSON, as the twin's Transcribe writes it."""
    spoken = [Word(word, n * 0.5, n * 0.5 + 0.4, 0.9) for n, word in enumerate(words)]
    return transcript_document(job, "123456789012", spoken)


class InstantTranscribe:
    """Finishes a job as it starts (its transcript written to moto's S3 in AWS's shape), and
    answers a repeated job name with ConflictException, as Transcribe does."""

    def __init__(self, s3: Any, on_start: Any = None):
        self.s3, self.on_start = s3, on_start
        self.jobs: dict[str, dict[str, Any]] = {}
        self.started: list[str] = []

    def start_transcription_job(self, **request: Any) -> dict[str, Any]:
        name = request["TranscriptionJobName"]
        if name in self.jobs:
            error = {"Error": {"Code": "ConflictException", "Message": "exists"}}
            raise ClientError(error, "StartTranscriptionJob")
        self.started.append(name)
        stem = request["Media"]["MediaFileUri"].rsplit("/", 1)[-1].split(".")[0]
        body = json.dumps(transcript(name, HEARD.get(stem, "x").split()))
        self.s3.put_object(Bucket=request["OutputBucketName"], Key=request["OutputKey"], Body=body)
        self.jobs[name] = {
            "TranscriptionJobName": name,
            "TranscriptionJobStatus": "COMPLETED",
            "Media": request["Media"],
        }
        if self.on_start is not None:
            self.on_start(stem)
        return {"TranscriptionJob": {**self.jobs[name], "TranscriptionJobStatus": "IN_PROGRESS"}}

    def get_transcription_job(self, TranscriptionJobName: str) -> dict[str, Any]:
        return {"TranscriptionJob": self.jobs[TranscriptionJobName]}


@pytest.fixture
def s3(in_process_aws: None) -> Any:
    client = boto3.client("s3")
    for bucket in (MEDIA, RESULTS):
        client.create_bucket(Bucket=bucket)
    for stem, text in TEXTS.items():
        client.put_object(Bucket=MEDIA, Key=f"corpus/{stem}.wav", Body=b"RIFF")
        client.put_object(Bucket=MEDIA, Key=f"corpus/{stem}.txt", Body=text.encode())
    return client


CONFIG = RunConfig(RUN_ID, MEDIA, RESULTS, poll_interval=0.001)


def scores(s3: Any) -> list[ScoreRow]:
    body = s3.get_object(Bucket=RESULTS, Key=f"scores/{RUN_ID}.csv")["Body"].read()
    return list(read_rows_from_bytes([body]))


def test_a_reference_deleted_mid_run_fails_its_row_naming_the_key_and_keeps_the_others(s3):
    """The issue: deleting one reference mid-run turned all 36 rows into "NoSuchKey (cell 6)"."""

    def delete_b(stem: str) -> None:
        if stem == "b":
            s3.delete_object(Bucket=MEDIA, Key="corpus/b.txt")

    outcome = run_corpus(CONFIG, s3=s3, transcribe=InstantTranscribe(s3, delete_b))
    rows = {row.file: row for row in scores(s3)}
    assert [row.status for row in rows.values()] == ["ok", "failed", "ok"]
    assert rows["b.wav"].error == (
        f"reference s3://{MEDIA}/corpus/b.txt could not be read: NoSuchKey: "
        "The specified key does not exist."
    )
    assert rows["a.wav"].substitutions == 1 and rows["c.wav"].deletions == 1
    assert outcome.corpus.files == 2


def test_an_unexpected_error_scoring_one_file_fails_only_that_row(s3, monkeypatch):
    real = run_module.score_file

    def score_file(reference: str, hypothesis: str, normalizer: str) -> Any:
        if reference == TEXTS["c"]:
            raise RuntimeError("alignment blew up")
        return real(reference, hypothesis, normalizer)

    monkeypatch.setattr(run_module, "score_file", score_file)
    run_corpus(CONFIG, s3=s3, transcribe=InstantTranscribe(s3))
    rows = {row.file: row for row in scores(s3)}
    assert (rows["a.wav"].status, rows["b.wav"].status) == ("ok", "ok")
    assert rows["c.wav"].error == (
        f"scoring s3://{MEDIA}/corpus/c.wav failed: RuntimeError: alignment blew up"
    )


def test_a_name_with_control_characters_is_not_transcribed_and_its_row_says_why(s3):
    s3.put_object(Bucket=MEDIA, Key="corpus/bad\x07name.wav", Body=b"RIFF")
    transcribe = InstantTranscribe(s3)
    run_corpus(CONFIG, s3=s3, transcribe=transcribe)
    rows = {row.file: row for row in scores(s3)}
    assert len(transcribe.started) == 3
    bad = rows["bad\\x07name.wav"]
    assert bad.status == "failed" and "control character(s) U+0007" in bad.error
    assert f"rename s3://{MEDIA}/corpus/bad\\x07name.wav (shown escaped)" in bad.error


def test_the_uploaded_csv_carries_its_proof(s3):
    run_corpus(CONFIG, s3=s3, transcribe=InstantTranscribe(s3))
    key = f"scores/{RUN_ID}.csv"
    head = s3.head_object(Bucket=RESULTS, Key=key, ChecksumMode="ENABLED")
    body = s3.get_object(Bucket=RESULTS, Key=key)["Body"].read()
    assert head["ChecksumSHA256"] == sha256_base64(body)
    assert head["Metadata"] == {ROWS_METADATA: "3"}


def test_a_rerun_of_the_same_run_id_reuses_the_finished_jobs(s3):
    transcribe = InstantTranscribe(s3)
    first = run_corpus(CONFIG, s3=s3, transcribe=transcribe)
    started = list(transcribe.started)
    second = run_corpus(CONFIG, s3=s3, transcribe=transcribe)
    assert transcribe.started == started  # every job adopted, none started again
    assert [f.row for f in second.files] == [f.row for f in first.files]


def executed_notebook(tmp_path: Any, **parameters: Any) -> Any:
    source = "# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in parameters.items())
    cells = [
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "x = 1"},
        {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]}, "source": source},
        {
            "cell_type": "code",
            "metadata": {},
            "source": "run",
            "outputs": [{"output_type": "error", "ename": "KeyboardInterrupt", "evalue": ""}],
        },
    ]
    path = tmp_path / "out.ipynb"
    path.write_text(json.dumps({"cells": cells}))
    return path


def test_the_failure_csv_scores_every_file_whose_transcript_exists(s3, tmp_path):
    """A run killed after two of three jobs finished: the failure path scores those two exactly
    as the notebook would have, with the notebook's own parameters, and fails the third."""
    items = discover_corpus(s3, MEDIA, "corpus/").items
    transcribe = InstantTranscribe(s3)
    for spec in plan_jobs(items, run_id=RUN_ID, media_bucket=MEDIA)[:2]:
        transcribe.start_transcription_job(
            TranscriptionJobName=spec.job_name,
            Media={"MediaFileUri": spec.media_uri},
            OutputBucketName=RESULTS,
            OutputKey=spec.transcript_key,
        )
    notebook = executed_notebook(tmp_path, run_id=RUN_ID, normalizer="none", engine_label="e1")
    assert notebook_parameters(notebook)["normalizer"] == "none"
    key = write_failed_run(
        s3,
        run_id=RUN_ID,
        error="KeyboardInterrupt:  (cell 2)",
        media_bucket=MEDIA,
        results_bucket=RESULTS,
        corpus_prefix="corpus/",
        parameters=notebook_parameters(notebook),
    )
    rows = scores(s3)
    assert [(row.file, row.status, row.engine) for row in rows] == [
        ("a.wav", "ok", "e1"),
        ("b.wav", "ok", "e1"),
        ("c.wav", "failed", "e1"),
        (RUN_ROW_FILE, "failed", ""),  # why the run stopped
    ]
    assert rows[0].substitutions == 1 and rows[1].errors == 0
    assert rows[2].error == "run failed: KeyboardInterrupt:  (cell 2)"
    assert rows[2].job_name == plan_jobs(items, run_id=RUN_ID, media_bucket=MEDIA)[2].job_name
    head = s3.head_object(Bucket=RESULTS, Key=key, ChecksumMode="ENABLED")
    assert head["Metadata"] == {ROWS_METADATA: "4"} and head["ChecksumSHA256"]
