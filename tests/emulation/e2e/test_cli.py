"""`make e2e`'s command line: what it refuses before starting anything, and what it leaves."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulation import cli
from emulation.e2e.chain import E2EOptions, open_site
from emulation.e2e.probes import job_counts
from emulation.e2e.stages import StageLog


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda root: root / "missing", "is not a folder"),
        (lambda root: (root / "texts-only").mkdir() or root / "texts-only", "holds no audio"),
    ],
)
def test_a_missing_or_empty_corpus_stops_before_the_twin_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make, said: str
) -> None:
    corpus = make(tmp_path)
    runs = tmp_path / "runs"
    assert cli.main(["e2e", "--corpus", str(corpus), "--runs-dir", str(runs)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: corpus ") and said in captured.err
    assert "[stage]" not in captured.out and "run None" not in captured.out
    assert not runs.exists()


def test_each_run_has_a_sandbox_of_its_own_removed_after(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    options = E2EOptions(runs_dir=runs)
    with open_site(options, StageLog(lambda line: None)) as first:
        [sandbox] = runs.glob(".sandbox-*")
        assert first.name == "embedded" and sandbox.is_dir()
    assert list(runs.iterdir()) == []


def test_job_counts_treat_jobs_not_started_yet_as_queued() -> None:
    jobs = [
        {"TranscriptionJobStatus": status}
        for status in ("IN_PROGRESS", "COMPLETED", "COMPLETED", "FAILED", "QUEUED")
    ]
    assert job_counts(jobs, expected=7) == "7 files: 3 queued, 1 running, 2 done, 1 failed"
