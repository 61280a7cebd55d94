"""The NO_CORPUS outcome: a run that found no audio, on a stack that never scored one.

OnStart runs when the instance is created (CreateNotebookInstanceLifecycleConfig: "including
when you create"), so a new stack's first run meets an empty media bucket. That is not a failure
but the next step for the user, so it gets a status of its own, through the path every run
takes: the failure path writes one run-level row whose error starts with ``NO_CORPUS:`` and
says where to upload; ingest records it and reports NO_CORPUS when no earlier run has a corpus
WER (after one, an emptied corpus is a FAILED run). Standard library only (ingest imports it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pipeline.results_table import RUN_NO_CORPUS
from pipeline.scores_csv import STATUS_OK, ScoreRow

MARK = f"{RUN_NO_CORPUS}: "


def no_corpus_error(bucket: str, prefix: str, audio_formats: Iterable[str], stack: str) -> str:
    """The run-level row's error: where to upload, and the two commands to run (one line)."""
    where = f"s3://{bucket}/{prefix}"
    stack = stack or "<your stack>"
    return (
        f"{MARK}no audio to score under {where} yet. Upload audio files "
        f"({', '.join(sorted(audio_formats))}), each with a same-stem .txt reference (UTF-8), to "
        f"{where}: python -m deploy upload-corpus --stack {stack} --corpus DIR. Then start a run "
        f"now, or wait for the schedule: python -m deploy run-now --stack {stack}"
    )


def no_corpus_row(rows: Sequence[ScoreRow]) -> ScoreRow | None:
    """The run-level NO_CORPUS row when it is the CSV's only row; else None."""
    if len(rows) == 1 and rows[0].status != STATUS_OK and rows[0].error.startswith(MARK):
        return rows[0]
    return None


def instructions(error: str) -> str:
    """The row's error without its mark: what the message tells the user to do."""
    return error.removeprefix(MARK)
