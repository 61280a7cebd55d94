"""``python -m emulation e2e`` (``make e2e``): run the chain once and print what came of it."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from emulation.background.state import running_twin
from emulation.core.backends import BackendUnavailable, get_backend
from emulation.core.build import IAM_OFF_LABEL, iam_from_env
from emulation.core.errors import TwinConfigError
from emulation.e2e.chain import DEFAULT_CORPUS, E2EOptions, corpus_files, open_site, run_chain
from emulation.e2e.report import print_report, succeeded, write_summary
from emulation.e2e.stages import E2EError, StageLog


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--corpus",
        type=Path,
        default=DEFAULT_CORPUS,
        help="folder of audio files, each with a same-stem .txt reference (default: the sample)",
    )
    parser.add_argument(
        "--stack",
        default=None,
        help="CloudFormation stack to deploy the template as (default: the background twin's "
        f"stack when `asr-monitor twin start` runs one, else {E2EOptions.stack})",
    )
    parser.add_argument(
        "--engine",
        default=E2EOptions.engine,
        help="the twin's speech engine (TWIN=embedded; the twin's container chooses its own)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=E2EOptions.timeout,
        help="seconds the chain may take after the schedule fires (default: %(default)s)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="fire the schedule this many times on one stack, so history builds up (default: 1)",
    )
    parser.add_argument(
        "--runs-dir",
        type=Path,
        default=E2EOptions.runs_dir,
        help="where runs/<run_id>/summary.json and the report go (default: ./runs)",
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    if args.runs < 1:
        print(f"error: --runs must be 1 or more, got {args.runs}", file=sys.stderr)
        return 2
    try:
        label = "" if iam_from_env() else IAM_OFF_LABEL
        options = E2EOptions(
            corpus=args.corpus.resolve(),
            stack=args.stack or default_stack(),
            engine=args.engine,
            timeout=args.timeout,
            runs_dir=args.runs_dir.resolve(),
            runs=args.runs,
        )
    except TwinConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # On a terminal, rich fits its width; in a pipe or a file (CI logs) nothing wraps, so S3
    # keys and file names stay whole and greppable.
    tty = sys.stdout.isatty()
    console = LabelledConsole(
        Console(highlight=False, soft_wrap=not tty, width=None if tty else 1000), label
    )
    log = StageLog(lambda line: console.print(line, markup=False))
    started = time.monotonic()
    try:
        corpus_files(options.corpus)  # a missing or empty corpus stops before anything starts
    except E2EError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with open_site(options, log) as site:
            summary = run_chain(site, options, log)
    except (BackendUnavailable, TwinConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary["total_seconds"] = round(time.monotonic() - started, 3)
    print_report(summary, console)
    path = write_summary(summary, options.runs_dir)
    report = path.parent / "report.html"
    if report.exists():
        console.print(f"report: {report}", markup=False)
    print(f"{label}{path}")
    return 0 if succeeded(summary) else 1


def default_stack() -> str:
    """The background twin's stack, where history builds up, when make e2e will use it."""
    running = running_twin() if get_backend().name == "embedded" else None
    return running.stack if running is not None else E2EOptions.stack


class LabelledConsole:
    """A rich Console whose every printed line starts with ``label`` (IAM enforcement off)."""

    def __init__(self, console: Any, label: str) -> None:
        self.console, self.label = console, label

    def print(self, *objects: Any, **options: Any) -> None:
        if not self.label:
            self.console.print(*objects, **options)
            return
        with self.console.capture() as captured:
            self.console.print(*objects, **options)
        for line in captured.get().splitlines():
            self.console.print(f"{self.label}{line}", markup=False, highlight=False)
