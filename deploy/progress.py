"""What a deploy shows while it runs: rich on a terminal, plain lines otherwise (CI logs, tests).

The deploy code talks only to ``Reporter``; the two implementations decide how it looks.
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from rich.console import Console


@dataclass(frozen=True)
class Change:
    """One row of a change set: what CloudFormation would do to one resource."""

    action: str
    logical_id: str
    resource_type: str
    replacement: str = ""


class Reporter(Protocol):
    def step(self, message: str) -> None: ...
    def info(self, message: str) -> None: ...
    def waiting(self, message: str) -> AbstractContextManager[Any]: ...
    def event(self, event: Mapping[str, Any]) -> None: ...
    def changes(self, changes: Sequence[Change]) -> None: ...
    def outputs(self, outputs: Mapping[str, str]) -> None: ...
    def error(self, error: Exception) -> None: ...


def event_line(event: Mapping[str, Any]) -> str:
    reason = event.get("ResourceStatusReason") or ""
    return (
        f"{event.get('LogicalResourceId', '')} {event.get('ResourceType', '')} "
        f"{event.get('ResourceStatus', '')}" + (f": {reason}" if reason else "")
    )


class PlainReporter:
    """One line per message; no colour, no spinner."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self._out = out
        self._err = err

    def _print(self, text: str, *, error: bool = False) -> None:
        stream = (self._err or sys.stderr) if error else (self._out or sys.stdout)
        print(text, file=stream, flush=True)

    def step(self, message: str) -> None:
        self._print(f"== {message}")

    def info(self, message: str) -> None:
        self._print(message)

    def waiting(self, message: str) -> AbstractContextManager[Any]:
        self._print(f"{message} ...")
        return nullcontext()

    def event(self, event: Mapping[str, Any]) -> None:
        self._print(f"  {event_line(event)}")

    def changes(self, changes: Sequence[Change]) -> None:
        if not changes:
            self._print("no resource changes")
        for change in changes:
            replacement = f" replacement={change.replacement}" if change.replacement else ""
            self._print(
                f"  {change.action:<8} {change.logical_id} ({change.resource_type}){replacement}"
            )

    def outputs(self, outputs: Mapping[str, str]) -> None:
        for key, value in sorted(outputs.items()):
            self._print(f"  {key} = {value}")

    def error(self, error: Exception) -> None:
        self._print(f"error: {error}", error=True)


class RichReporter:
    """Spinner while waiting, tables for changes and outputs."""

    def __init__(self, console: Console | None = None, err_console: Console | None = None) -> None:
        from rich.console import Console

        self._console = console or Console()
        self._err_console = err_console or Console(stderr=True)

    def step(self, message: str) -> None:
        self._console.rule(f"[bold]{message}")

    def info(self, message: str) -> None:
        self._console.print(message, markup=False, highlight=False)

    def waiting(self, message: str) -> AbstractContextManager[Any]:
        return self._console.status(message)

    def event(self, event: Mapping[str, Any]) -> None:
        status = str(event.get("ResourceStatus", ""))
        style = "red" if "FAILED" in status else "green" if "COMPLETE" in status else "yellow"
        self._console.print(f"  {event_line(event)}", style=style, markup=False, highlight=False)

    def changes(self, changes: Sequence[Change]) -> None:
        from rich.table import Table

        if not changes:
            self._console.print("no resource changes")
            return
        table = Table("action", "logical id", "type", "replacement")
        for change in changes:
            table.add_row(
                change.action, change.logical_id, change.resource_type, change.replacement
            )
        self._console.print(table)

    def outputs(self, outputs: Mapping[str, str]) -> None:
        from rich.table import Table

        table = Table("output", "value")
        for key, value in sorted(outputs.items()):
            table.add_row(key, value)
        self._console.print(table)

    def error(self, error: Exception) -> None:
        self._err_console.print(f"error: {error}", style="bold red", markup=False, highlight=False)


def default_reporter() -> Reporter:
    """Rich when stdout is a terminal, plain lines otherwise."""
    return RichReporter() if sys.stdout.isatty() else PlainReporter()


class SilentReporter(PlainReporter):
    """For API callers that want no output (the twin's own deploy step can pass its own)."""

    def _print(self, text: str, *, error: bool = False) -> None:
        return None
