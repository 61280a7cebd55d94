"""A start's process group must never reach a process of another start, even when the kernel
hands that start a number (a mount namespace's inode, a pid) the group once used.

The failure this guards against: during a full `make test`, an instance of one test failed
with "the notebook instance's machine did not start (exit status -9)": another twin, shutting
down, ended its old groups again, and their namespace number now belonged to the new machine
(Linux gives the lowest free namespace inode to the next namespace made anywhere on the host).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from emulation.sagemaker import machine
from emulation.sagemaker.hooks import Hook, HookRunnerError
from emulation.sagemaker.processes import ProcessGroup

BIN_DIR = os.path.dirname(sys.executable)


@pytest.fixture
def isolation() -> machine.Isolation:
    found = machine.resolve(machine.AUTO, BIN_DIR)
    if not found.namespaced:
        pytest.skip(f"no namespace here: {found.reason}")
    return found


def new_machine(isolation: machine.Isolation, root: Path) -> machine.Machine:
    start = machine.Machine(isolation, root / "layers", root / "vol", root / "tmp", BIN_DIR)
    start.prepare(f"arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/{root.name}", "p")
    start.volume.mkdir()
    return start


def hook(root: Path, script: str) -> Hook:
    path = root / "tmp" / "OnStart"
    path.write_text(f"#!/bin/bash\n{script}\n", encoding="utf-8")
    path.chmod(0o755)
    return Hook("OnStart", path, "p", "arn", root, {"PATH": machine.SETUP_PATH}, root / "log", 60.0)


@pytest.fixture
def groups(isolation: machine.Isolation, tmp_path: Path) -> Iterator[list[ProcessGroup]]:
    """Two starts' groups, each with its machine; both ended after the test."""
    made = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        made.append(ProcessGroup(name, new_machine(isolation, tmp_path / name)))
    yield made
    for group in made:
        group.end(grace_seconds=0)


def test_a_group_keeps_its_namespace_number_until_it_has_ended(
    groups: list[ProcessGroup], tmp_path: Path
) -> None:
    """Everything in machine A has died, but A has not ended: machine B must get another
    namespace, or A's end() would signal B's processes as its own."""
    a, b = groups
    a.launch(hook(tmp_path / "a", "true"))
    assert a.wait() == 0
    assert a.first is not None
    a.first.kill()  # the last process in A's namespace
    a.first.wait()
    b.launch(hook(tmp_path / "b", "sleep 60"))
    assert b.namespace != a.namespace
    assert a.alive() == []
    a.end(grace_seconds=0)
    assert b.alive(), "ending A reached B"


def test_an_ended_group_finds_and_signals_nothing(
    groups: list[ProcessGroup], tmp_path: Path
) -> None:
    """After end(), A's numbers are free and may go to B (on this host the namespace's almost
    always does); a second end(), as the twin's shutdown makes, must leave B running."""
    a, b = groups
    a.launch(hook(tmp_path / "a", "sleep 60"))
    a.end(grace_seconds=0)
    b.launch(hook(tmp_path / "b", "sleep 60"))
    survivors = b.alive()
    assert survivors
    assert a.alive() == []
    a.end(grace_seconds=0)
    assert set(survivors) <= set(b.alive()), "A's second end() reached B"
    with pytest.raises(HookRunnerError, match="after end"):
        a.launch(hook(tmp_path / "a", "true"))


def test_ending_from_two_threads_ends_once(groups: list[ProcessGroup], tmp_path: Path) -> None:
    """A stop and the twin's shutdown may end one group at once: the second waits and does
    nothing (closing the namespace descriptor twice raises EBADF, or closes another file)."""
    a, _ = groups
    a.launch(hook(tmp_path / "a", "sleep 60"))

    with ThreadPoolExecutor(4) as pool:
        ends = [pool.submit(a.end, 0) for _ in range(4)]
    for end in ends:
        end.result()  # raises what the end raised
    assert a.ended and a.alive() == []


def test_a_finished_hook_keeps_its_pid_until_the_group_ends(
    groups: list[ProcessGroup], tmp_path: Path
) -> None:
    """The hook's pid is its session's id, which end() signals: reaped at wait(), the number
    could go to a stranger's new session before the instance stops. So wait() leaves it a
    zombie, and end() reaps it."""
    a, _ = groups
    a.launch(hook(tmp_path / "a", "exit 3"))
    assert a.wait() == 3
    pid = a.launched[-1].pid
    assert Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"
    a.end(grace_seconds=0)
    assert not Path(f"/proc/{pid}").exists()
    assert a.launched[-1].returncode == 3
