"""asr-monitor.toml: the deploy settings ``asr-monitor deploy --guided`` asks for once.

Like SAM's samconfig.toml, the file sits in the checkout's root and every later ``deploy``
reads it; options on the command line win over it. It holds the stack name, the region and
the template parameters the user chose::

    # Written by `asr-monitor deploy --guided`; read by every later `asr-monitor deploy`.
    version = 1
    stack_name = "asr-monitor"
    region = "eu-west-1"

    [parameters]
    AlertEmail = "you@example.com"
    ScheduleExpression = "cron(0 6 * * ? *)"
    CorpusPrefix = "corpus/"
    LanguageCode = "en-US"

It is git-ignored: it names one person's address and account region, while the repository is
the product many deploy from. Every value is checked as the template checks it, on reading and
in the guided prompts, so a bad value is named before anything is packaged.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy.errors import InvalidParameterError
from deploy.package import PROJECT_ROOT
from deploy.stack import validate_stack_name
from deploy.template import load_template, parameter_problems

CONFIG_NAME = "asr-monitor.toml"
CONFIG_PATH = PROJECT_ROOT / CONFIG_NAME
CONFIG_ENV = "ASR_CONFIG_FILE"  # another file (tests keep the developer's out of their way)
VERSION = 1
# What --guided asks for, in this order (the rest keep the template's defaults).
GUIDED_PARAMETERS = ("AlertEmail", "ScheduleExpression", "CorpusPrefix", "LanguageCode")
_KEYS = {"version", "stack_name", "region", "parameters"}

Ask = Callable[[str], str]


class ConfigError(InvalidParameterError):
    """asr-monitor.toml cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class DeployConfig:
    stack_name: str
    region: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path = CONFIG_PATH) -> DeployConfig | None:
        """The file's settings, checked; None when there is no file."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not TOML: {exc}") from exc
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}")
        if data.get("version", VERSION) != VERSION:
            raise ConfigError(f"{path}: version {data['version']!r}; this tool reads {VERSION}")
        stack = data.get("stack_name")
        if not isinstance(stack, str):
            raise ConfigError(f"{path}: stack_name: a string is needed")
        region = data.get("region")
        if region is not None and not isinstance(region, str):
            raise ConfigError(f"{path}: region: a string is needed")
        parameters = data.get("parameters", {})
        if not isinstance(parameters, dict):
            raise ConfigError(f"{path}: [parameters]: a table of NAME = value is needed")
        values = {name: _text(path, name, value) for name, value in parameters.items()}
        try:
            validate_stack_name(stack)
        except InvalidParameterError as exc:
            raise ConfigError(f"{path}: stack_name: {exc}") from exc
        problems = parameter_problems(load_template(), values)
        if problems:
            raise ConfigError(f"{path}: [parameters]: {'; '.join(problems)}")
        return cls(stack, region or None, values)

    def write(self, path: Path = CONFIG_PATH) -> None:
        """TOML by hand: every value is a string, and a JSON string is a valid TOML basic
        string (the same escapes), so no writer library is needed."""
        lines = [
            "# Written by `asr-monitor deploy --guided`; read by every later `asr-monitor deploy`.",
            f"version = {VERSION}",
            f"stack_name = {json.dumps(self.stack_name, ensure_ascii=False)}",
        ]
        if self.region:
            lines.append(f"region = {json.dumps(self.region, ensure_ascii=False)}")
        lines += ["", "[parameters]"]
        lines += [
            f"{name} = {json.dumps(value, ensure_ascii=False)}"
            for name, value in self.parameters.items()
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _text(path: Path, name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f"{path}: [parameters] {name}: a string or a number is needed")
    return str(value)


def guided(
    previous: DeployConfig | None,
    *,
    default_stack: str,
    region: str | None,
    ask: Ask | None = None,
    say: Callable[[str], None] = print,
) -> DeployConfig:
    """Ask for the stack name, the region (``region`` None: a twin, no question) and the
    parameters users choose, each checked as the template checks it and asked again until
    valid; the defaults are the previous answers, else the template's."""
    ask = ask or input  # looked up now: a test may have replaced it
    template = load_template()
    declared = template["Parameters"]
    before = previous.parameters if previous else {}
    say("Deploy settings (Enter keeps the value in brackets):")
    stack = _ask_until_valid(
        "Stack name",
        previous.stack_name if previous else default_stack,
        lambda value: _stack_problem(value),
        ask,
        say,
    )
    chosen_region = None
    if region is not None:
        chosen_region = _ask_until_valid(
            "AWS region",
            (previous.region if previous and previous.region else region),
            lambda value: None if value.strip() else "a region is needed, such as eu-west-1",
            ask,
            say,
        )
    parameters = dict(before)
    for name in GUIDED_PARAMETERS:
        spec = declared[name]
        default = before.get(name, str(spec.get("Default", "")))
        label = f"{name} ({spec.get('Description', '').strip()})"
        parameters[name] = _ask_until_valid(
            label,
            default,
            lambda value, name=name: _first(parameter_problems(template, {name: value})),
            ask,
            say,
        )
    return DeployConfig(stack, chosen_region, parameters)


def _ask_until_valid(
    label: str, default: str, problem: Callable[[str], str | None], ask: Ask, say: Any
) -> str:
    while True:
        try:
            answer = ask(f"{label} [{default}]: ").strip()
        except EOFError as exc:
            raise ConfigError(
                "--guided asks questions: run it in a terminal (or write asr-monitor.toml)"
            ) from exc
        value = answer or default
        reason = problem(value)
        if reason is None:
            return value
        say(f"  {reason}")


def _stack_problem(value: str) -> str | None:
    try:
        validate_stack_name(value)
    except InvalidParameterError as exc:
        return str(exc)
    return None


def _first(problems: list[str]) -> str | None:
    return problems[0] if problems else None


def merged_parameters(config: DeployConfig | None, given: Mapping[str, str]) -> dict[str, str]:
    """The config's parameters, overridden by those given on the command line."""
    return {**(config.parameters if config else {}), **given}
