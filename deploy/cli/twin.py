"""``asr-monitor twin start | stop | status``: the background twin, from the command line.

Starting and stopping are ``emulation.background.process``'s (loaded only here: the rest of
the command line needs no twin installed); this module adds what the user reads: the
``export`` lines, and for ``status`` the endpoint, the stack, the instance's state and the last
run, read from the twin through the AWS APIs like any client would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from deploy.cli.history import percent, points
from deploy.stack import stack_outputs
from emulation.background.state import TwinState, running_twin, stale_state, state_dir
from pipeline.history import RunPoint, read_history

if TYPE_CHECKING:
    from deploy.cli.target import Target

Say = Callable[[str], None]


def start(*, port: int | None, stack: str, parameters: Mapping[str, str], say: Say) -> TwinState:
    from emulation.background.process import start_twin

    state = start_twin(port=port, stack=stack, parameters=parameters, out=say)
    say(f"twin running at {state.endpoint} (pid {state.pid}), stack {state.stack}")
    say(f"its log: {state.log}; stop it: asr-monitor twin stop")
    say("Commands take --twin to act on it; other tools (aws, boto3) need:")
    for key, value in state.env().items():
        say(f"export {key}={value}")
    return state


def stop(say: Say) -> bool:
    from emulation.background.process import stop_twin

    return stop_twin(out=say)


@dataclass(frozen=True)
class TwinStatus:
    state: TwinState | None
    stale: str | None = None  # why a state file no longer describes a twin
    stack_status: str | None = None
    instance: str | None = None
    instance_status: str | None = None
    last_run: RunPoint | None = None
    problem: str | None = None  # what could not be read from the twin


def status(
    folder: Path | None = None, target_for: Callable[[TwinState], Target] | None = None
) -> TwinStatus:
    """The background twin as its state file and its APIs tell."""
    folder = folder or state_dir()
    stale = stale_state(folder)
    state = running_twin(folder)
    if state is None or target_for is None:
        return TwinStatus(state, stale)
    target = target_for(state)
    try:
        described = target.client("cloudformation").describe_stacks(StackName=state.stack)
    except ClientError:
        return TwinStatus(state, problem=f"stack {state.stack} is not deployed")
    stack_status = described["Stacks"][0]["StackStatus"]
    try:
        outputs = stack_outputs(target.client("cloudformation"), state.stack)
        instance = outputs["NotebookInstanceName"]
        instance_status = target.client("sagemaker").describe_notebook_instance(
            NotebookInstanceName=instance
        )["NotebookInstanceStatus"]
        runs = read_history(outputs["ScoresTableName"], target.client("dynamodb"), runs=1).runs
    except (ClientError, BotoCoreError, KeyError) as exc:
        return TwinStatus(state, stack_status=stack_status, problem=f"cannot read the stack: {exc}")
    return TwinStatus(
        state,
        stack_status=stack_status,
        instance=instance,
        instance_status=instance_status,
        last_run=runs[-1] if runs else None,
    )


def status_lines(found: TwinStatus) -> list[str]:
    state = found.state
    if state is None:
        stale = f" (a stale state was left: {found.stale})" if found.stale else ""
        return [f"twin: not running{stale}; start it: asr-monitor twin start"]
    lines = [
        f"twin: running at {state.endpoint} (pid {state.pid}, up {_uptime(state.started_at)}, "
        f"log {state.log})",
    ]
    if found.problem:
        return [*lines, f"stack: {found.problem}"]
    lines += [
        f"stack: {state.stack} {found.stack_status}",
        f"instance: {found.instance} {found.instance_status}",
        f"last run: {_run_line(found.last_run)}",
    ]
    return lines


def _run_line(run: RunPoint | None) -> str:
    if run is None:
        return "none yet (make e2e, or asr-monitor run-now --twin)"
    wer = "" if run.corpus_wer is None else f", corpus WER {percent(run.corpus_wer)}"
    change = f" ({points(run.delta_wer)})" if run.delta_wer is not None else ""
    return (
        f"{run.run_id} {run.status}{wer}{change}, {run.files - run.failed} files scored, "
        f"{run.failed} failed"
    )


def _uptime(started_at: str) -> str:
    seconds = int((datetime.now(UTC) - datetime.fromisoformat(started_at)).total_seconds())
    hours, rest = divmod(max(seconds, 0), 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"
