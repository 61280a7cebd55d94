"""The failure path: a failed notebook still yields a scores CSV whose rows carry the failure."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from emulation.awslambda.sandbox import Sandbox
from pipeline.failed_run import notebook_error, write_failed_run
from pipeline.scores_csv import RUN_ROW_FILE, ScoreRow, read_rows, write_rows

REPO = Path(__file__).resolve().parents[2]
RUN_ID = "2026-11-24T20-00-00Z-abcdef"
MEDIA, RESULTS = "media-bucket", "results-bucket"


@pytest.fixture
def s3(in_process_aws: None):
    client = boto3.client("s3")
    client.create_bucket(Bucket=MEDIA)
    client.create_bucket(Bucket=RESULTS)
    return client


def read_scores(s3) -> list[ScoreRow]:
    body = s3.get_object(Bucket=RESULTS, Key=f"scores/{RUN_ID}.csv")["Body"].read().decode()
    return list(read_rows(io.StringIO(body)))


def fail(s3, error: str = "KeyError: 'x' (cell 3)") -> str | None:
    return write_failed_run(
        s3,
        run_id=RUN_ID,
        error=error,
        media_bucket=MEDIA,
        results_bucket=RESULTS,
        corpus_prefix="corpus/",
    )


def test_one_failed_row_per_input_file_and_the_runs_own(s3):
    for key in ("corpus/a.wav", "corpus/a.txt", "corpus/b.mp3", "corpus/b.txt"):
        s3.put_object(Bucket=MEDIA, Key=key, Body=b"x")
    assert fail(s3) == f"scores/{RUN_ID}.csv"
    rows = read_scores(s3)
    assert [(r.file, r.status) for r in rows] == [
        ("a.wav", "failed"),
        ("b.mp3", "failed"),
        (RUN_ROW_FILE, "failed"),  # the run did not complete: ingest reports it FAILED
    ]
    assert all(r.error == "run failed: KeyError: 'x' (cell 3)" for r in rows)
    assert all(r.run_id == RUN_ID for r in rows)


def test_an_unlistable_corpus_gives_one_run_level_row_saying_why(s3):
    assert fail(s3, "papermill exited with status 1")
    [row] = read_scores(s3)
    assert row.file == RUN_ROW_FILE and row.status == "failed"
    assert row.error.startswith("run failed: papermill exited with status 1; corpus could not")
    assert "nothing" in row.error or "no " in row.error


def test_an_existing_scores_csv_is_never_overwritten(s3):
    buffer = io.StringIO()
    write_rows(buffer, [ScoreRow.failed(run_id=RUN_ID, file="kept.wav", error="original")])
    s3.put_object(Bucket=RESULTS, Key=f"scores/{RUN_ID}.csv", Body=buffer.getvalue().encode())
    assert fail(s3) is None
    assert [r.file for r in read_scores(s3)] == ["kept.wav"]


def test_the_notebook_error_is_quoted_from_the_executed_notebook(tmp_path):
    notebook = {
        "cells": [
            {"cell_type": "code", "outputs": [{"output_type": "stream", "text": "ok"}]},
            {
                "cell_type": "code",
                "outputs": [
                    {"output_type": "error", "ename": "CorpusError", "evalue": "nothing under"}
                ],
            },
        ]
    }
    path = tmp_path / "out.ipynb"
    path.write_text(json.dumps(notebook))
    assert notebook_error(path) == "CorpusError: nothing under (cell 1)"
    assert notebook_error(tmp_path / "missing.ipynb") is None


def test_the_failure_path_needs_only_the_standard_library_and_boto3(tmp_path):
    """It runs when the notebook's packages failed to install: on the instance's own Python,
    whose python3 environment has boto3 (and no jiwer or papermill)."""
    runtime = Sandbox._link_runtime_packages(tmp_path / "runtime")

    def imports(module: str) -> subprocess.CompletedProcess[str]:
        code = f"import sys; sys.path[:0] = [{str(runtime)!r}, {str(REPO)!r}]; import {module}"
        return subprocess.run(
            [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60
        )

    assert imports("pipeline.failed_run").returncode == 0, imports("pipeline.failed_run").stderr
    refused = imports("pipeline.run")  # the notebook's own module needs its packages
    assert refused.returncode != 0 and "ModuleNotFoundError" in refused.stderr
    assert any(name in refused.stderr for name in ("jiwer", "jinja2", "whisper_normalizer"))
