"""Lint every IAM policy of the template against AWS's own action and resource definitions.

``parliament`` (Duo Labs, from PyPI) ships the Service Authorization Reference as data and flags
what AWS would refuse or over-grant: a resource that matches none of the action's resource
types (RESOURCE_MISMATCH: ``transcribe:StartTranscriptionJob`` has no resource type, so a
``transcription-job/*`` scope denies every start), an unknown action or prefix, a condition key
the action does not support, and ``"*"`` where the action takes an ARN (RESOURCE_STAR).

The template's policies hold intrinsic functions; they are resolved with placeholder values
(a stack name, account, region, and each resource's physical id derived from its declared name)
so the linter sees ARNs of the shape AWS will evaluate. ``python -m deploy.iam_lint [template]``
prints the findings and exits 1 when there is one; tests/deploy/test_iam_lint.py runs it in
``make test``.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.errors import TemplateError
from deploy.template import ARNS, NAME_PROPERTIES, TEMPLATE_PATH, Resolver, load_template

PLACEHOLDER_PSEUDO = {
    "AWS::StackName": "lint-stack",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/lint-stack/0",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
# Values for parameters without a default (deploy fills them from the packaged artifacts).
PLACEHOLDER_PARAMETERS = {
    "ArtifactsBucket": "lint-artifacts-123456789012-us-east-1",
    "ArtifactsPrefix": "lint-stack/0123456789abcdef",
    "LambdaCodeKey": "lint-stack/lambda/0123456789abcdef.zip",
}


TRUST_POLICY = ".AssumeRolePolicyDocument"
NO_RESOURCE = "Statement contains neither Resource nor NotResource"


@dataclass(frozen=True)
class Finding:
    """One problem parliament found, with where it is in the template."""

    where: str  # e.g. Resources.NotebookRole.Policies[notebook]
    issue: str  # parliament's code, e.g. RESOURCE_MISMATCH
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: {self.issue}: {self.detail}"


class _Placeholders:
    """Ref and GetAtt values of the template's resources, from their declared names."""

    def __init__(self, template: Mapping[str, Any]) -> None:
        self.resources = template["Resources"]
        self.resolver = Resolver(
            template, PLACEHOLDER_PARAMETERS, PLACEHOLDER_PSEUDO, self.ref, self.getatt
        )

    def name(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        prop = NAME_PROPERTIES.get(resource["Type"])
        declared = resource.get("Properties", {}).get(prop) if prop else None
        if declared is None:
            return logical_id.lower()
        return str(self.resolver.value(declared, f"Resources.{logical_id}.Properties.{prop}"))

    def ref(self, logical_id: str) -> str:
        if logical_id not in self.resources:
            raise TemplateError(f"Ref {logical_id}: no such resource")
        resource_type = self.resources[logical_id]["Type"]
        name = self.name(logical_id)
        account, region = PLACEHOLDER_PSEUDO["AWS::AccountId"], PLACEHOLDER_PSEUDO["AWS::Region"]
        if resource_type == "AWS::SNS::Topic":
            return f"arn:aws:sns:{region}:{account}:{name}"
        if resource_type == "AWS::SQS::Queue":
            return f"https://sqs.{region}.amazonaws.com/{account}/{name}"
        return name

    def getatt(self, logical_id: str, attribute: str) -> str:
        resource_type = self.resources[logical_id]["Type"]
        if attribute == "Arn" and resource_type in ARNS:
            pseudo = PLACEHOLDER_PSEUDO
            return ARNS[resource_type](
                pseudo["AWS::Partition"],
                pseudo["AWS::Region"],
                pseudo["AWS::AccountId"],
                self.ref(logical_id),
            )
        if attribute in {NAME_PROPERTIES.get(resource_type), "QueueName"}:
            return self.name(logical_id)
        raise TemplateError(f"{logical_id}.{attribute}: GetAtt not supported by the IAM lint")


def policy_documents(template: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(where, document with placeholders) for every IAM policy the template declares: roles'
    trust and inline policies, and every resource's PolicyDocument (bucket policies...)."""
    placeholders = _Placeholders(template)
    for where, raw in _raw_documents(template):
        yield where, placeholders.resolver.value(raw, where)


def _raw_documents(template: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        base = f"Resources.{logical_id}"
        if resource["Type"] == "AWS::IAM::Role":
            yield f"{base}.AssumeRolePolicyDocument", props["AssumeRolePolicyDocument"]
            for policy in props.get("Policies", []):
                yield f"{base}.Policies[{policy['PolicyName']}]", policy["PolicyDocument"]
        elif "PolicyDocument" in props:
            yield f"{base}.PolicyDocument", props["PolicyDocument"]


def lint_document(where: str, document: Mapping[str, Any]) -> list[Finding]:
    """parliament's findings for one resolved policy document.

    A trust policy (AssumeRolePolicyDocument) has no Resource by definition; parliament reads
    every document as an identity policy, so that one finding is dropped there, and only there.
    """
    with warnings.catch_warnings():  # parliament imports pkg_resources, which warns
        warnings.simplefilter("ignore")
        from parliament import analyze_policy_string

    policy = analyze_policy_string(json.dumps(document))
    trust = where.endswith(TRUST_POLICY)
    return [
        Finding(where, finding.issue, _detail(finding))
        for finding in policy.findings
        if not (trust and finding.issue == "MALFORMED" and _detail(finding) == NO_RESOURCE)
    ]


def _detail(finding: Any) -> str:
    detail = finding.detail
    return detail if isinstance(detail, str) else json.dumps(detail, sort_keys=True, default=str)


def lint_template(template: str | Path | Mapping[str, Any] = TEMPLATE_PATH) -> list[Finding]:
    """Every finding in every policy of the template; empty when all of them are clean."""
    findings: list[Finding] = []
    for where, document in policy_documents(load_template(template)):
        findings += lint_document(where, document)
    return findings


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    template = Path(args[0]) if args else TEMPLATE_PATH
    findings = lint_template(template)
    for finding in findings:
        print(finding)
    print(f"{template}: {len(findings)} IAM finding(s)", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
