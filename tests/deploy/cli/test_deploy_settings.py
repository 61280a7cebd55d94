"""``asr-monitor deploy --guided`` and asr-monitor.toml: asked once, checked as the template
checks, saved, and reused by later deploys; ``--dry-run`` shows the change set and changes
nothing. Against the twin's CloudFormation, through the environment as boto3 reads it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from deploy.cli.config import DeployConfig
from deploy.cli.main import main
from emulation.core.twin import Twin
from tests.deploy.conftest import point_boto3_at

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")


@pytest.fixture
def aws_env(fresh_twin: Twin, monkeypatch: pytest.MonkeyPatch) -> Twin:
    """The process environment pointing boto3 at the twin, as `make twin` prints it."""
    point_boto3_at(fresh_twin.env(), monkeypatch)
    return fresh_twin


def answering(monkeypatch: pytest.MonkeyPatch, answers: list[str]) -> list[str]:
    """Feed ``answers`` to the prompts; returns the prompts asked."""
    asked: list[str] = []
    queue = list(answers)

    def ask(prompt: str) -> str:
        asked.append(prompt)
        if not queue:
            raise EOFError
        return queue.pop(0)

    monkeypatch.setattr("builtins.input", ask)
    return asked


def parameters(twin: Twin, stack: str) -> dict[str, str]:
    described = twin.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}


def test_guided_asks_checks_saves_and_later_deploys_reuse_the_file(
    aws_env: Twin,
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    captured: Any,
) -> None:
    config = tmp_path / "asr-monitor.toml"
    asked = answering(
        monkeypatch,
        [
            "guided",  # stack name
            "",  # region: keep the environment's
            "me@",  # refused by the template's pattern, asked again
            "me@example.com",
            "rate(1 day)",
            "audio/en-US/",
            "",  # language: keep en-US
        ],
    )
    argv = ["--config-file", str(config), "deploy", "--project-root", str(project)]

    assert main([*argv, "--guided"], captured) == 0

    printed = capsys.readouterr().out
    assert "Parameter 'AlertEmail' must match pattern" in printed
    assert sum("AlertEmail" in prompt for prompt in asked) == 2
    assert asked[1] == "AWS region [us-east-1]: "
    saved = tomllib.loads(config.read_text(encoding="utf-8"))
    assert saved == {
        "version": 1,
        "stack_name": "guided",
        "region": "us-east-1",
        "parameters": {
            "AlertEmail": "me@example.com",
            "ScheduleExpression": "rate(1 day)",
            "CorpusPrefix": "audio/en-US/",
            "LanguageCode": "en-US",
        },
    }
    deployed = parameters(aws_env, "guided")
    assert deployed["AlertEmail"] == "me@example.com"
    assert deployed["ScheduleExpression"] == "rate(1 day)"
    assert deployed["CorpusPrefix"] == "audio/en-US/"

    # A later deploy reads the file (no questions): a changed schedule reaches the stack, a
    # dry run shows the change and leaves the stack as it was.
    DeployConfig(
        "guided", "us-east-1", {**saved["parameters"], "ScheduleExpression": "rate(2 days)"}
    ).write(config)
    assert main([*argv, "--dry-run"], captured) == 0
    # (moto lists no resource change for a parameter change; AWS lists the rule's Modify.)
    assert "Change set deploy-" in captured.text and "(update guided)" in captured.text
    assert "dry run: change set deleted, nothing executed" in captured.text
    assert parameters(aws_env, "guided")["ScheduleExpression"] == "rate(1 day)"
    assert main(argv, captured) == 0
    assert parameters(aws_env, "guided")["ScheduleExpression"] == "rate(2 days)"
    rule = aws_env.client("events").describe_rule(Name="guided-schedule")
    assert rule["ScheduleExpression"] == "rate(2 days)"
    assert len(asked) == 7  # 6 questions, one asked twice; none after the guided deploy


def test_guided_without_a_terminal_says_so(
    aws_env: Twin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, captured: Any
) -> None:
    answering(monkeypatch, [])
    config = tmp_path / "asr-monitor.toml"
    assert main(["--config-file", str(config), "deploy", "--guided"], captured) == 1
    assert "--guided asks questions: run it in a terminal" in captured.err.getvalue()
    assert not config.exists()


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('stack_name = "ok"\nemail = "x"\n', "unknown key(s) email"),
        ('stack_name = "Bad_Name"\n', "stack_name: stack name 'Bad_Name'"),
        (
            'stack_name = "ok"\n[parameters]\nCorpusPrefix = "corpus"\n',
            "[parameters]: Parameter 'CorpusPrefix' failed to satisfy constraint",
        ),
        ('stack_name = "ok"\n[parameters]\nMaxJobsInFlight = true\n', "MaxJobsInFlight: a string"),
        ("stack_name = \n", "not TOML"),
    ],
)
def test_a_bad_settings_file_is_refused_naming_the_file_and_key(
    aws_env: Twin, tmp_path: Path, captured: Any, text: str, said: str
) -> None:
    config = tmp_path / "asr-monitor.toml"
    config.write_text(text, encoding="utf-8")
    assert main(["--config-file", str(config), "deploy"], captured) == 1
    error = captured.err.getvalue()
    assert str(config) in error and said in error
    assert aws_env.client("cloudformation").describe_stacks()["Stacks"] == []


def test_a_bad_parameter_on_the_command_line_stops_before_packaging(
    aws_env: Twin, captured: Any
) -> None:
    code = main(["deploy", "--stack", "early", "--param", "LanguageCode=english"], captured)
    assert code == 1
    assert "Parameter 'LanguageCode' must match pattern" in captured.err.getvalue()
    assert "Packaging" not in captured.text
    assert aws_env.client("s3").list_buckets()["Buckets"] == []


def test_the_package_installs_the_command_line() -> None:
    """[project.scripts] asr-monitor (make install puts it in .venv/bin)."""
    script = Path(sys.executable).with_name("asr-monitor")
    shown = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert shown.returncode == 0, f"{script}: {shown.stderr} (run make install)"
    for command in ("twin", "deploy", "delete", "invoke", "generate-event", "logs", "history"):
        assert f"    {command}" in shown.stdout
