"""The run summary `make e2e` writes: what the site holds for the run, read back through AWS.

Keys come from ``pipeline.layout`` and DynamoDB items are decoded by ``pipeline.results_table``,
the modules that own them; the scores CSV goes through the project's strict reader.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pipeline.layout import NOTEBOOK_NAME, REPORT_NAME, SUMMARY_NAME, report_key, report_prefix
from pipeline.layout import scores_key as scores_csv_key
from pipeline.results_table import SUMMARY_SK, run_items
from pipeline.scores_csv import ScoreRow, ScoresCsvError, read_rows_from_bytes

if TYPE_CHECKING:
    from emulation.e2e.probes import RunProbes
    from emulation.e2e.stages import StageLog


def plain(value: Any) -> Any:
    """DynamoDB's Decimals as ints or floats, so the summary is plain JSON."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [plain(v) for v in value]
    if hasattr(value, "as_integer_ratio") and not isinstance(value, int | float):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def dynamodb_items(probes: RunProbes) -> list[dict[str, Any]]:
    if probes.run_id is None:
        return []
    table = probes.outputs["ScoresTableName"]
    items = run_items(table, probes.run_id, probes.site.client("dynamodb"))
    return [plain(item) for item in items]


def score_rows(probes: RunProbes) -> tuple[list[ScoreRow], str | None]:
    """The run's scores CSV through the project's strict reader, or why it can't be read."""
    scores = probes.results_object(scores_csv_key(probes.run_id)) if probes.run_id else None
    if scores is None:
        return [], None
    try:
        return list(read_rows_from_bytes([scores])), None
    except ScoresCsvError as exc:
        return [], str(exc)


def report_keys(probes: RunProbes) -> list[str]:
    if not probes.run_id:
        return []
    return sorted(probes.keys(probes.outputs["ResultsBucketName"], report_prefix(probes.run_id)))


def report_files(probes: RunProbes) -> dict[str, bytes]:
    """The run's HTML report and executed notebook, to keep beside the run summary."""
    if not probes.run_id:
        return {}
    found = {
        name: probes.results_object(report_key(probes.run_id, name))
        for name in (REPORT_NAME, NOTEBOOK_NAME)
    }
    return {name: body for name, body in found.items() if body is not None}


def access_denials(probes: RunProbes, log: StageLog) -> list[dict[str, Any]]:
    """Every request the site refused as AWS's IAM would, with the stage that hit it: the
    stage that failed on it, else the stage running when it happened."""
    failed = next((s.name for s in log.stages if s.status == "failed"), None)
    return [
        {
            "stage": failed if id(denial) in probes.blamed else log.stage_at(denial.at),
            "principal": denial.principal,
            "action": denial.action,
            "resource": denial.resource,
            "via": denial.via,
            "message": denial.message,
            "at": denial.at.isoformat(),
        }
        for denial in probes.site.access_denials()
    ]


def creation_run(probes: RunProbes, message: dict[str, Any]) -> dict[str, Any]:
    """The run the instance's creation started (OnStart runs at creation), read back."""
    items = dynamodb_items(probes)
    run_item = next((i for i in items if i.get("sk") == SUMMARY_SK), {})
    name = probes.outputs["NotebookInstanceName"]
    rows, _ = score_rows(probes)
    return {
        "run_id": probes.run_id,
        "status": run_item.get("status"),
        "subject": message["subject"],
        "message": message["message"],
        "files": [{"file": row.file, "status": row.status, "error": row.error} for row in rows],
        "report_keys": report_keys(probes),
        "instance_status": probes.describe_instance(name)["NotebookInstanceStatus"],
    }


def transcription(probes: RunProbes) -> dict[str, Any]:
    """This run's jobs as Transcribe lists them, and the span from the first job's StartTime
    to the last one's CompletionTime: the speech engine's share of the run."""
    jobs = probes.run_jobs()
    starts = [job["StartTime"] for job in jobs if job.get("StartTime")]
    ends = [job["CompletionTime"] for job in jobs if job.get("CompletionTime")]
    span = (max(ends) - min(starts)).total_seconds() if starts and ends else None
    return {"jobs": len(jobs), "span_seconds": span}


def summary(probes: RunProbes, log: StageLog) -> dict[str, Any]:
    """What the site holds for this run, read back."""
    report = (
        probes.results_object(report_key(probes.run_id, SUMMARY_NAME)) if probes.run_id else None
    )
    report_summary = json.loads(report) if report else {}
    texts = {f["file"]: f for f in report_summary.get("files", [])}
    rows, scores_error = score_rows(probes)
    files = [
        {
            "file": row.file,
            "status": row.status,
            "error": row.error or None,
            "reference": texts.get(row.file, {}).get("reference"),
            "hypothesis": texts.get(row.file, {}).get("hypothesis"),
            "wer": row.wer,
            "ref_words": row.ref_words,
            "substitutions": row.substitutions,
            "deletions": row.deletions,
            "insertions": row.insertions,
        }
        for row in rows
    ]
    items = dynamodb_items(probes)
    run_item = next((i for i in items if i.get("sk") == SUMMARY_SK), {})
    name = probes.outputs.get("NotebookInstanceName")
    instance = probes.describe_instance(name) if name else {}
    return {
        "twin": probes.site.name,
        "run_id": probes.run_id,
        "corpus_wer": run_item.get("corpus_wer", report_summary.get("corpus_wer")),
        "ci_low": run_item.get("ci_low", report_summary.get("ci_low")),
        "ci_high": run_item.get("ci_high", report_summary.get("ci_high")),
        "status": run_item.get("status"),
        "delta_wer": run_item.get("delta_wer"),
        "previous_run_id": run_item.get("previous_run_id"),
        "files": files,
        "scores_error": scores_error,
        "dynamodb_items": items,
        "notifications": [
            n for n in probes.notifications() if n["attributes"].get("run_id") == probes.run_id
        ],
        "instance_status": instance.get("NotebookInstanceStatus"),
        "report_keys": report_keys(probes),
        "instance_log": probes.instance_log(),
        "report_files": report_files(probes),
        "access_denials": access_denials(probes, log),
        "transcription": transcription(probes),
        "stages": log.as_dict(),
    }
