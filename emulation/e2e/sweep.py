"""Is every IAM statement of the template needed? Run the chain once per statement, on a copy of
the template without it, and see where it fails and on which AccessDenied.

Each role statement (its identity policy's, and its trust policy's) is taken out in turn; the
copy is written as JSON beside the run and deployed like the real one (``E2EOptions``). A
statement the chain needs makes a stage fail, normally on an AccessDenied naming the action
and resource AWS would refuse; one the chain does not need leaves the run green, which the
outcome reports; ``failure_path`` then tries it on a run whose notebook fails. Used by
``bench/iam_sweep.py`` (all statements) and the tests (a representative set, and all of them
behind the ``iam_sweep`` marker).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.template import load_template
from emulation.e2e.chain import E2EOptions, run_chain
from emulation.e2e.report import succeeded
from emulation.e2e.sites import Site
from emulation.e2e.stages import StageLog

TRUST = "trust"  # the statement of a role's trust policy (AssumeRolePolicyDocument)


@dataclass(frozen=True)
class StatementRef:
    role: str  # the role's logical id
    sid: str  # the statement's Sid, or TRUST

    def __str__(self) -> str:
        return f"{self.role}/{self.sid}"


@dataclass(frozen=True)
class Outcome:
    statement: StatementRef
    failed_stage: str | None  # None: the chain stayed green without the statement
    action: str | None  # the first AccessDenied's action (None: no AccessDenied)
    resource: str | None
    message: str  # the AccessDenied's message, else the chain's error
    seconds: float


def statements(template: dict[str, Any] | None = None) -> list[StatementRef]:
    """Every statement of every role: trust first, then each inline policy's, by Sid."""
    template = template if template is not None else load_template()
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        properties = resource["Properties"]
        if properties.get("AssumeRolePolicyDocument", {}).get("Statement"):
            found.append(StatementRef(logical_id, TRUST))
        for policy in properties.get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                found.append(StatementRef(logical_id, statement["Sid"]))
    return found


def without(template: dict[str, Any], ref: StatementRef) -> dict[str, Any]:
    """A copy of the template whose role ``ref.role`` lacks the statement."""
    variant = copy.deepcopy(template)
    properties = variant["Resources"][ref.role]["Properties"]
    if ref.sid == TRUST:
        properties["AssumeRolePolicyDocument"]["Statement"] = []
        return variant
    for policy in properties["Policies"]:
        kept = [s for s in policy["PolicyDocument"]["Statement"] if s["Sid"] != ref.sid]
        policy["PolicyDocument"]["Statement"] = kept
    return variant


def run_without(site: Site, ref: StatementRef, options: E2EOptions, workdir: Path) -> Outcome:
    """The chain on a copy of the template without ``ref``; where and how it failed."""
    path = workdir / f"template-without-{ref.role}-{ref.sid}.json"
    path.write_text(json.dumps(without(load_template(), ref)), encoding="utf-8")
    log = StageLog(lambda line: None)
    started = time.monotonic()
    summary = run_chain(site, _with_template(options, path), log)
    seconds = time.monotonic() - started
    failed = next((n for n, s in summary["stages"].items() if s["status"] == "failed"), None)
    denials = summary.get("access_denials") or []
    first = denials[0] if denials else None
    if succeeded(summary):
        failed = None
    elif failed is None:
        failed = "summary"
    return Outcome(
        statement=ref,
        failed_stage=failed,
        action=first["action"] if first else None,
        resource=first["resource"] if first else None,
        message=first["message"] if first else summary.get("error", ""),
        seconds=round(seconds, 1),
    )


def failure_path(options: E2EOptions) -> E2EOptions:
    """The same chain with a notebook that fails (its corpus prefix holds no audio), so the
    run takes the failure path: the failure CSV, or the last-resort SNS message."""
    parameters = {**options.parameters, "CorpusPrefix": "nothing-here/"}
    return E2EOptions(**{**options.__dict__, "parameters": parameters, "upload_prefix": "corpus/"})


def _with_template(options: E2EOptions, path: Path) -> E2EOptions:
    return E2EOptions(**{**options.__dict__, "template_path": path})
