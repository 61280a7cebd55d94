"""The whole chain on the twin: schedule -> starter -> instance -> notebook -> ingest -> SNS.

Each test deploys the real template, uploads a corpus, fires the schedule and asserts only on
what is read back afterwards. TWIN picks the site (tests/e2e/conftest.py); each test deploys a
stack of its own, since LocalStack's stacks outlive a test.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

import pytest

from emulation.e2e.chain import DEFAULT_CORPUS, E2EOptions, run_chain
from emulation.e2e.stages import StageLog

pytestmark = [pytest.mark.e2e, pytest.mark.speech, pytest.mark.spread]


def chain(
    site, corpus: Path, upload_prefix: str | None = None, runs: int = 1, **parameters: str
) -> dict:
    options = E2EOptions(
        runs=runs,
        corpus=corpus,
        stack=f"e2e-{uuid.uuid4().hex[:8]}",
        # LocalStack pulls the Lambda runtime image on the first invoke.
        timeout=900 if site.name == "localstack" else 300,
        parameters=parameters,
        upload_prefix=upload_prefix,
    )
    return run_chain(site, options, StageLog(print))


def audio_files(corpus: Path) -> list[str]:
    return sorted(p.name for p in corpus.iterdir() if p.suffix != ".txt")


def test_sample_corpus_runs_end_to_end_after_a_no_corpus_creation_run(site):
    """Creating the stack's instance runs OnStart ("including when you create the notebook
    instance", CreateNotebookInstanceLifecycleConfig), before any upload: that first run finds
    nothing to score, the failure path writes the NO_CORPUS row, ingest records and sends
    NO_CORPUS, and the instance stops. Then the uploaded corpus is scored on schedule."""
    summary = chain(site, DEFAULT_CORPUS)

    assert summary.get("error") is None, summary.get("error")
    assert all(stage["status"] == "ok" for stage in summary["stages"].values())
    assert list(summary["stages"])[:3] == ["deploy", "creation run", "upload corpus"]
    first = summary["creation_run"]
    assert first["status"] == "NO_CORPUS" and first["instance_status"] == "Stopped"
    assert first["subject"].startswith("ASR monitor NO_CORPUS: upload audio to score")
    assert re.search(r"s3://e2e-\w+-media-\d+-[a-z0-9-]+/corpus/", first["message"])
    flat = " ".join(first["message"].split())
    assert re.search(r"python -m deploy upload-corpus --stack e2e-\w+ --corpus DIR", flat)
    [row] = first["files"]
    assert row["status"] == "failed" and row["error"].startswith("NO_CORPUS: no audio to score")
    assert f"reports/{first['run_id']}/transcribe_and_score.ipynb" in first["report_keys"]
    assert first["run_id"] != summary["run_id"]

    inputs = audio_files(DEFAULT_CORPUS)
    file_items = [i for i in summary["dynamodb_items"] if i["sk"].startswith("FILE#")]
    assert sorted(i["file"] for i in file_items) == inputs
    assert [f["status"] for f in summary["files"]] == ["ok"] * len(inputs)

    scored = summary["files"]
    errors = sum(f["substitutions"] + f["deletions"] + f["insertions"] for f in scored)
    csv_wer = errors / sum(f["ref_words"] for f in scored)
    assert summary["corpus_wer"] == pytest.approx(csv_wer)
    assert csv_wer < 0.35, "the twin's engine should transcribe espeak speech reasonably"

    [note] = summary["notifications"]
    assert note["attributes"]["run_id"] == summary["run_id"]
    assert note["attributes"]["status"] == "OK"
    assert f"{100 * csv_wer:.2f}%" in note["subject"]

    assert summary["instance_status"] == "Stopped"
    assert f"reports/{summary['run_id']}/transcribe_and_score.ipynb" in summary["report_keys"]
    assert f"reports/{summary['run_id']}/report.html" in summary["report_keys"]


def test_unreadable_audio_and_missing_reference_are_failed_rows(site, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for clip in sorted(DEFAULT_CORPUS.glob("*.wav"))[:2]:
        shutil.copy(clip, corpus)
        shutil.copy(clip.with_suffix(".txt"), corpus)
    (corpus / "garbled.wav").write_bytes(b"RIFF\x00\x00not really audio" * 50)
    (corpus / "garbled.txt").write_text("this file cannot be decoded\n")
    shutil.copy(sorted(DEFAULT_CORPUS.glob("*.wav"))[2], corpus / "no_reference.wav")

    summary = chain(site, corpus)

    assert summary.get("error") is None, summary.get("error")
    rows = {f["file"]: f for f in summary["files"]}
    assert sorted(rows) == audio_files(corpus)
    assert rows["garbled.wav"]["status"] == "failed"
    assert rows["garbled.wav"]["error"].startswith("transcription of s3://")
    assert "/corpus/garbled.wav failed: job " in rows["garbled.wav"]["error"]
    assert rows["no_reference.wav"]["status"] == "failed"
    assert "missing reference" in rows["no_reference.wav"]["error"]
    assert sum(r["status"] == "ok" for r in rows.values()) == 2
    items = {i["file"]: i for i in summary["dynamodb_items"] if i["sk"].startswith("FILE#")}
    assert items["garbled.wav"]["status"] == "failed"
    assert items["no_reference.wav"]["error"] == rows["no_reference.wav"]["error"]
    [note] = summary["notifications"]
    assert "garbled.wav" in note["message"] and "no_reference.wav" in note["message"]
    assert summary["instance_status"] == "Stopped"


def test_three_runs_build_a_history_the_report_and_messages_show(site, tmp_path):
    """make e2e RUNS=3 (issue 13): one stack, three schedule firings; each later run is compared
    with the one before on the same files, and the last report charts all three."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for clip in ("clip01_nightly_run", "clip07_slow"):
        for path in DEFAULT_CORPUS.glob(f"{clip}.*"):
            shutil.copy(path, corpus)

    summary = chain(site, corpus, runs=3)

    assert summary.get("error") is None, summary.get("error")
    runs = summary["runs"]
    assert [run["status"] for run in runs] == ["OK", "OK", "OK"]
    assert [run["delta_wer"] for run in runs] == [None, 0.0, 0.0]  # same engine, same audio
    report = summary["report_files"]["report.html"].decode()
    assert report.count('<circle class="point') == 3
    assert '<span class="status" id="status"' in report and ">OK</span>" in report
    assert 'id="delta">+0.00 pts</span>' in report
    assert all(run["run_id"] in report for run in runs)
