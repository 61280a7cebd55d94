"""The run notification's text: subject, plain-text body and SNS message attributes.

Pure functions of a RunSummary and the rows worth showing, kept apart from the handler so the
wording can be tested (and changed) without AWS. SNS limits shape them: a subject is ASCII,
one line and under 100 characters; a message is at most 256 KB.

Statuses stay three (OK, REGRESSION, FAILED: ``results_table``); a run in which some files
failed keeps its status, and its subject says how many failed, e.g. ``ASR monitor OK (2 of 12
files failed): ...``; the ``files_failed`` attribute lets subscribers filter on it. File names
and errors in the body are shown on one line and, like the scores CSV's cells, with a leading
``'`` where a spreadsheet would take them for a formula (OWASP, "CSV Injection").
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from pipeline.layout import REPORT_NAME, report_key
from pipeline.results_table import RUN_NO_CORPUS, RunSummary
from pipeline.scores_csv import ScoreRow, neutralize_formula

MAX_SUBJECT = 99  # SNS: "less than 100 characters"
MAX_BODY_BYTES = 200_000  # well under SNS's 256 KB, leaving room for attributes
MAX_CELL = 120  # a file name or error longer than this is cut in the body


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f}%"


def _points(delta: float) -> str:
    return f"{delta * 100:+.2f} pts"


def _one_line(text: str, limit: int = MAX_CELL) -> str:
    """Control characters (a newline in an error) would break the table: show them as '?'.
    A leading formula character gets a ``'``, as in the scores CSV."""
    flat = neutralize_formula("".join(ch if ch.isprintable() else "?" for ch in text))
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _ascii(text: str) -> str:
    return "".join(ch if " " <= ch <= "~" else "?" for ch in text)


def subject(summary: RunSummary) -> str:
    """E.g. ``ASR monitor REGRESSION (2 of 12 files failed): corpus WER 12.34% (+2.10 pts), run
    2026-...``; the run id is left out when the rest needs the room (attributes carry it)."""
    text = f"ASR monitor {summary.status}"
    if summary.status == RUN_NO_CORPUS:
        text += ": upload audio to score"
    else:
        if summary.failed:
            text += f" ({summary.failed} of {summary.files} files failed)"
        text += f": corpus WER {_percent(summary.corpus_wer)}"
    if summary.delta_wer is not None:
        text += f" ({_points(summary.delta_wer)})"
    text = _ascii(text)
    with_run = text + _ascii(f", run {summary.run_id}")
    if len(with_run) <= MAX_SUBJECT:
        return with_run
    return text if len(text) <= MAX_SUBJECT else text[: MAX_SUBJECT - 3] + "..."


def _corpus_lines(summary: RunSummary) -> list[str]:
    if summary.corpus_wer is None:
        return ["Corpus WER   n/a (no file was scored)"]
    line = f"Corpus WER   {_percent(summary.corpus_wer)}"
    if summary.ci_low is not None and summary.ci_high is not None:
        confidence = round((summary.confidence or 0.95) * 100)
        line += f"  ({confidence}% CI {_percent(summary.ci_low)} to {_percent(summary.ci_high)})"
    line += f"  {summary.errors} errors / {summary.ref_words} reference words"
    lines = [line]
    if summary.previous_run_id is None:
        lines.append("Previous     none (first run with a corpus WER)")
    else:
        lines.append(
            f"Previous     {_percent(summary.previous_corpus_wer)}  (run {summary.previous_run_id})"
        )
    lines += _change_lines(summary)
    return lines


def _change_lines(summary: RunSummary) -> list[str]:
    """The paired change against the previous run, and how the corpus changed beside it."""
    if summary.previous_run_id is None or summary.common_files is None:
        return []
    if summary.delta_wer is None:
        lines = ["Change       n/a: no file was scored in both runs against the same reference"]
    else:
        confidence = round((summary.regression_confidence or 0.95) * 100)
        lines = [
            f"Change       {_points(summary.delta_wer)} on the {summary.common_files} file(s)"
            f" both runs scored ({confidence}% CI {_points(summary.delta_ci_low or 0.0)} to"
            f" {_points(summary.delta_ci_high or 0.0)})"
        ]
        if summary.regression_threshold is not None:
            threshold = summary.regression_threshold * 100
            lines.append(
                f"             REGRESSION: a rise above +{threshold:.2f} pts whose interval is"
                f" above zero; IMPROVED: a drop below -{threshold:.2f} pts, below zero"
            )
    changed = [
        (summary.files_added, "added"),
        (summary.files_removed, "removed"),
        (summary.references_changed, "with a changed reference"),
    ]
    parts = [f"{count} {label}" for count, label in changed if count]
    if parts:
        lines.append(f"Corpus       files {', '.join(parts)}: not part of the change")
    return lines


def report_lines(summary: RunSummary, region: str) -> list[str]:
    """Where the run's report is, as a link a reader can open for as long as the report exists.

    The S3 console's object page, not a presigned URL: a presigned URL lasts only as long as the
    credentials that signed it (the ingest Lambda's role session, hours; SigV4 caps any at 7
    days), while the console link works for anyone allowed to read the results bucket, and the
    bucket stays private.
    """
    bucket = summary.scores_uri.removeprefix("s3://").split("/", 1)[0]
    key = report_key(summary.run_id, REPORT_NAME)
    console = (
        f"https://{region}.console.aws.amazon.com/s3/object/{bucket}?region={region}&prefix={key}"
    )
    return [
        f"Report       {console}",
        f"             (or: aws s3 cp s3://{bucket}/{key} .)",
    ]


def _worst_table(worst: Sequence[ScoreRow]) -> list[str]:
    lines = [f"Worst {len(worst)} file(s) by WER", "      WER      S      D      I    ref  file"]
    for row in worst:
        lines.append(
            f"  {_percent(row.wer):>7} {row.substitutions:>6} {row.deletions:>6}"
            f" {row.insertions:>6} {row.ref_words:>6}  {_one_line(row.file)}"
        )
    return lines


def _failure_lines(summary: RunSummary, failures: Sequence[ScoreRow]) -> list[str]:
    lines = [f"Failures ({summary.failed})"]
    lines += [f"  {_one_line(row.file)}: {_one_line(row.error)}" for row in failures]
    if summary.failed > len(failures):
        lines.append(f"  ... and {summary.failed - len(failures)} more (see the scores CSV)")
    return lines


def _note_lines(summary: RunSummary) -> list[str]:
    """What the starter Lambda did since the previous run (an instance it stopped, a skipped
    start): part of the message, since nobody reads the Lambda's log."""
    if not summary.notes:
        return []
    lines = ["", "Since the previous run, the starter Lambda:"]
    for note in summary.notes:
        lines += textwrap.wrap(note, 100, initial_indent="  ", subsequent_indent="    ")
    return lines


def body(
    summary: RunSummary,
    worst: Sequence[ScoreRow],
    failures: Sequence[ScoreRow],
    region: str | None = None,
) -> str:
    """The plain-text message: status, corpus WER with CI, change, worst files, failures, and
    the report's link (``region``: the results bucket's).

    ``worst`` are ok rows, worst first; ``failures`` may be a prefix of the failed rows
    (``summary.failed`` says how many there were).
    """
    lines = [f"ASR accuracy monitor, run {summary.run_id}: {summary.status}", ""]
    notes = _note_lines(summary)
    if summary.status == RUN_NO_CORPUS:  # nothing was scored: only what to do next
        lines += [
            *textwrap.wrap(summary.error, 100, break_long_words=False, break_on_hyphens=False)
        ]
        lines.append("")
        return "\n".join([*lines, f"Scores       {summary.scores_uri}", *notes]) + "\n"
    if summary.error:
        lines.append(f"Why          {_one_line(summary.error, 1000)}")
    lines += _corpus_lines(summary)
    if summary.files:  # zero when the CSV could not be read at all
        lines.append(
            f"Files        {summary.files} in the CSV:"
            f" {summary.scored} scored, {summary.failed} failed"
        )
    lines.append(f"Scores       {summary.scores_uri}")
    if region and summary.corpus_wer is not None:
        lines += report_lines(summary, region)
    if worst:
        lines += ["", *_worst_table(worst)]
    if summary.failed:
        lines += ["", *_failure_lines(summary, failures)]
    lines += notes
    text = "\n".join(lines) + "\n"
    encoded = text.encode("utf-8")
    if len(encoded) > MAX_BODY_BYTES:
        cut = encoded[:MAX_BODY_BYTES].decode("utf-8", "ignore")
        text = cut[: cut.rfind("\n") + 1] + "... (message cut to fit SNS; see the scores CSV)\n"
    return text


def attributes(summary: RunSummary) -> dict[str, dict[str, str]]:
    """SNS MessageAttributes so subscribers can filter, e.g. on status = REGRESSION."""
    attrs = {
        "status": {"DataType": "String", "StringValue": summary.status},
        "run_id": {"DataType": "String", "StringValue": summary.run_id},
    }
    if summary.corpus_wer is not None:
        attrs["corpus_wer"] = {"DataType": "Number", "StringValue": f"{summary.corpus_wer:.6f}"}
    if summary.files:
        attrs["files_failed"] = {"DataType": "Number", "StringValue": str(summary.failed)}
    if summary.delta_wer is not None:
        attrs["delta_wer"] = {"DataType": "Number", "StringValue": f"{summary.delta_wer:.6f}"}
    return attrs
