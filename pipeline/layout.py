"""Where a run's objects live in the results bucket: one module owns the key layout.

    transcripts/<run_id>/<stem>.json     written by Transcribe (names: pipeline.transcribe.jobs)
    reports/<run_id>/summary.json        the run's summary
    reports/<run_id>/report.html         the HTML report
    reports/<run_id>/<notebook>.ipynb    the executed notebook (uploaded by lifecycle/on-start.sh)
    reports/<run_id>/run.log             the run's whole log (lifecycle/on-start.sh, every minute)
    reports/<run_id>/heartbeat.json      rewritten every minute while the run lives (the starter
                                         stops an instance over its limit without a live one)
    scores/<run_id>.csv                  the scores CSV, uploaded last: it triggers ingest

The template's S3 notification filter (prefix ``scores/``, suffix ``.csv``) and IAM scopes, and
lifecycle/on-start.sh, spell the same prefixes and names; tests hold them equal to these.
"""

from __future__ import annotations

import re

SCORES_PREFIX = "scores/"
SCORES_SUFFIX = ".csv"
REPORTS_PREFIX = "reports/"
TRANSCRIPTS_PREFIX = "transcripts/"
SUMMARY_NAME = "summary.json"
REPORT_NAME = "report.html"
NOTEBOOK_NAME = "transcribe_and_score.ipynb"
RUN_LOG_NAME = "run.log"
HEARTBEAT_NAME = "heartbeat.json"

_SCORES_KEY = re.compile(rf"{re.escape(SCORES_PREFIX)}(?P<run_id>[^/]+){re.escape(SCORES_SUFFIX)}")


def scores_key(run_id: str) -> str:
    return f"{SCORES_PREFIX}{run_id}{SCORES_SUFFIX}"


def run_id_of_scores_key(key: str) -> str | None:
    """``scores/<run_id>.csv`` -> ``<run_id>`` (not yet checked as a run id); else None."""
    match = _SCORES_KEY.fullmatch(key)
    return match["run_id"] if match else None


def report_prefix(run_id: str) -> str:
    return f"{REPORTS_PREFIX}{run_id}/"


def report_key(run_id: str, name: str) -> str:
    """A file of the run's report folder, e.g. ``report_key(run_id, REPORT_NAME)``."""
    return report_prefix(run_id) + name


def transcripts_prefix(run_id: str) -> str:
    return f"{TRANSCRIPTS_PREFIX}{run_id}/"
