"""lifecycle/on-start.sh's hook, run by bash with fake commands on PATH.

On a real instance the hook runs as root (CreateNotebookInstanceLifecycleConfig: "run as root")
and AWS's lifecycle samples do the user's work with ``sudo -u ec2-user -i``. The twin's machine
has an ec2-user where sudo is installed, and none otherwise (or as a non-root user): both ways
are checked here with fakes; the runs themselves are tested on the twin
(tests/emulation/e2e/test_instance_runs.py; test_notebook_contract.py for the twin's ec2-user).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from pipeline.layout import HEARTBEAT_NAME, NOTEBOOK_NAME, RUN_LOG_NAME

ON_START = Path(__file__).resolve().parents[2] / "lifecycle" / "on-start.sh"
TEXT = ON_START.read_text(encoding="utf-8")


def fake(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(0o755)


def run_hook(tmp_path: Path, *, root_with_ec2_user: bool) -> tuple[Path, str, str]:
    """Run the hook (no argument) with fakes; (its work folder, calls recorded, output)."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    # The background run must not really start: sudo records, nohup records.
    fake(bin_dir, "nohup", f'echo "nohup $*" >>{calls}')
    fake(bin_dir, "sudo", f'echo "sudo $*" >>{calls}; [ "$4" = id ] && echo ec2-user; exit 0')
    fake(bin_dir, "chown", f'echo "chown $*" >>{calls}')
    if root_with_ec2_user:
        fake(bin_dir, "id", '[ "$1" = -u ] && echo 0 && exit 0; [ "$1" = ec2-user ] && exit 0; '
             "echo root")  # fmt: skip
    home = tmp_path / "SageMaker"
    (home / "asr-monitor").mkdir(parents=True)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SAGEMAKER_HOME": str(home),
        "ASR_ARTIFACTS": "s3://art/st/abc",
        "ASR_MEDIA_BUCKET": "st-media",
        "ASR_RESULTS_BUCKET": "st-results",
        "ASR_TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:st-alerts",
    }
    result = subprocess.run(
        ["bash", str(ON_START)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 10  # the run is launched in the background (&)
    while "nohup" not in (calls.read_text() if calls.exists() else ""):
        assert time.monotonic() < deadline, "the run was never launched"
        time.sleep(0.05)
    return home / "asr-monitor", calls.read_text(), result.stdout


def test_as_root_the_run_starts_as_ec2_user_through_a_login_shell(tmp_path: Path) -> None:
    work, calls, output = run_hook(tmp_path, root_with_ec2_user=True)
    [run_dir] = (work / "runs").iterdir()
    assert f"chown -R ec2-user:ec2-user {work}" in calls
    assert re.search(
        rf"^sudo -u ec2-user -i nohup bash {re.escape(str(ON_START))} run {run_dir.name}$",
        calls,
        re.MULTILINE,
    )
    assert f"started run {run_dir.name} in the background" in output
    # `sudo -i` starts from a login environment: the run reads the hook's from this file.
    run_env = run_dir / "run.env"
    assert oct(run_env.stat().st_mode & 0o777) == "0o600"
    assert 'declare -x ASR_RESULTS_BUCKET="st-results"' in run_env.read_text()
    assert "declare -x HOME=" not in run_env.read_text()


def test_without_root_or_ec2_user_the_run_starts_as_the_current_user(tmp_path: Path) -> None:
    if os.getuid() == 0 and subprocess.run(["id", "ec2-user"], capture_output=True).returncode == 0:
        pytest.skip("this machine has an ec2-user: the hook would use it")
    work, calls, _ = run_hook(tmp_path, root_with_ec2_user=False)
    [run_dir] = (work / "runs").iterdir()
    assert "sudo" not in calls and "chown" not in calls
    assert f"nohup bash {ON_START} run {run_dir.name}" in calls


def test_the_script_uses_the_layouts_names() -> None:
    for variable, name in (
        ("NOTEBOOK_NAME", NOTEBOOK_NAME),
        ("RUN_LOG_NAME", RUN_LOG_NAME),
        ("HEARTBEAT_NAME", HEARTBEAT_NAME),
    ):
        assert re.search(rf'^{variable}="{re.escape(name)}"', TEXT, re.MULTILINE), variable


def test_the_run_never_relies_on_set_e() -> None:
    """`set -e` does not hold inside `if`, `||` or `&&` (bash manual, "The Set Builtin"): the run
    turns it off and checks each step itself."""
    run_branch = TEXT[TEXT.index('if [ "${1:-}" = "run" ]; then') :]
    assert run_branch.splitlines()[1].strip().startswith("set +e")
