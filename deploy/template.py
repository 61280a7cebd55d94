"""Read the CloudFormation template, check parameter values, evaluate intrinsic functions.

``load_template`` reads YAML or JSON with cfn-lint's decoder (the one ``cfn-lint`` itself
uses), which turns the short-form tags (``!Ref``, ``!Sub``, ``!GetAtt`` ...) into their long
JSON form, so the template can be inspected by tests (least privilege, bucket settings) and by
the twin's repairs. ``parameter_problems`` checks values against a parameter's declared
constraints, in CloudFormation's words, before anything is deployed. ``Resolver`` evaluates the
intrinsic functions this project's template uses, given the parameter values and a way to look
up resources; anything else is a ``TemplateError`` naming where it occurs, never a silent guess.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from cfnlint.decode import decode_str

from deploy.errors import InvalidParameterError, TemplateError

TEMPLATE_PATH = Path(__file__).with_name("template.yaml")
NO_VALUE = object()  # AWS::NoValue: the property is dropped
# The property holding each named resource's name: its Ref value (its physical id).
NAME_PROPERTIES = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Events::Rule": "Name",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::IAM::Role": "RoleName",
    "AWS::SageMaker::NotebookInstance": "NotebookInstanceName",
    "AWS::SageMaker::NotebookInstanceLifecycleConfig": "NotebookInstanceLifecycleConfigName",
}


def load_template(source: str | Path | Mapping[str, Any] = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as plain dicts, lists and scalars, from a path, from template text, or
    passed through; a template cfn-lint cannot decode is a TemplateError naming the line."""
    if isinstance(source, Mapping):
        return dict(source)
    where = str(source) if isinstance(source, Path) else "template"
    text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
    decoded, problems = decode_str(text)
    if problems:
        first = problems[0]
        raise TemplateError(f"{where}:{first.linenumber}: {first.message}")
    template = _plain(decoded)
    if not isinstance(template, dict) or "Resources" not in template:
        raise TemplateError(f"{where}: no Resources")
    return template


def _plain(node: Any) -> Any:
    """cfn-lint's nodes (dict, list and str subclasses that remember their line) as plain
    values, so templates compare, copy and serialize as data."""
    if isinstance(node, dict):
        return {str(key): _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(item) for item in node]
    if isinstance(node, str):
        return str(node)
    return node


def parameter_problems(template: Mapping[str, Any], values: Mapping[str, str]) -> list[str]:
    """What CloudFormation would refuse in ``values``, checked against each parameter's
    AllowedPattern (the whole value), AllowedValues, MinLength/MaxLength and, for Number,
    MinValue/MaxValue, in its words ("Parameter 'X' must match pattern ...", or "failed to
    satisfy constraint: <ConstraintDescription>" when the template gives one). Source: the
    CloudFormation User Guide, "Parameters" section of template anatomy, and Service Catalog's
    ParameterConstraints API reference, which quote these messages."""
    declared = template.get("Parameters", {})
    problems = []
    for name, value in values.items():
        spec = declared.get(name)
        if spec is None:
            problems.append(
                f"unknown template parameter {name}; the template declares "
                f"{', '.join(sorted(declared))}"
            )
            continue
        problem = _parameter_problem(name, spec, str(value))
        if problem:
            problems.append(problem)
    return problems


def _parameter_problem(name: str, spec: Mapping[str, Any], value: str) -> str | None:
    described = spec.get("ConstraintDescription")

    def refuse(rule: str) -> str:
        return f"Parameter '{name}' " + (
            f"failed to satisfy constraint: {described}" if described else rule
        )

    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(v) for v in allowed]:
        return f"Parameter '{name}' must be one of AllowedValues: {', '.join(map(str, allowed))}"
    if spec.get("Type") == "Number":
        try:
            number = Decimal(value)
        except InvalidOperation:
            return f"Parameter '{name}' must be a number, not {value!r}"
        if "MinValue" in spec and number < Decimal(str(spec["MinValue"])):
            return refuse(f"must be a number not less than {spec['MinValue']}")
        if "MaxValue" in spec and number > Decimal(str(spec["MaxValue"])):
            return refuse(f"must be a number not greater than {spec['MaxValue']}")
        return None
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        return refuse(f"must contain at least {spec['MinLength']} characters")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        return refuse(f"must contain at most {spec['MaxLength']} characters")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and re.fullmatch(str(pattern), value) is None:
        return refuse(f"must match pattern {pattern}")
    return None


def parameter_values(template: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    """Template defaults overlaid with ``given``; unknown or missing parameters are errors."""
    declared = template.get("Parameters", {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise InvalidParameterError(
            f"unknown template parameter(s) {', '.join(unknown)}; "
            f"the template declares {', '.join(sorted(declared))}"
        )
    values = {name: str(spec["Default"]) for name, spec in declared.items() if "Default" in spec}
    values.update({name: str(value) for name, value in given.items()})
    missing = sorted(set(declared) - set(values))
    if missing:
        raise InvalidParameterError(f"template parameter(s) without a value: {', '.join(missing)}")
    return values


# ARNs built from physical ids (a Ref value) the way AWS defines them: (partition, region,
# account, physical id) -> ARN.
ARNS: dict[str, Callable[[str, str, str, str], str]] = {
    "AWS::S3::Bucket": lambda p, r, a, name: f"arn:{p}:s3:::{name}",
    "AWS::Lambda::Function": lambda p, r, a, name: f"arn:{p}:lambda:{r}:{a}:function:{name}",
    "AWS::SQS::Queue": lambda p, r, a, url: f"arn:{p}:sqs:{r}:{a}:{url.rsplit('/', 1)[-1]}",
    "AWS::Events::Rule": lambda p, r, a, name: f"arn:{p}:events:{r}:{a}:rule/{name}",
    "AWS::DynamoDB::Table": lambda p, r, a, name: f"arn:{p}:dynamodb:{r}:{a}:table/{name}",
    "AWS::Logs::LogGroup": lambda p, r, a, name: f"arn:{p}:logs:{r}:{a}:log-group:{name}:*",
    "AWS::SNS::Topic": lambda p, r, a, arn: arn,
    "AWS::IAM::Role": lambda p, r, a, name: f"arn:{p}:iam::{a}:role/{name}",
}

RefLookup = Callable[[str], str]
AttLookup = Callable[[str, str], str]
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class Resolver:
    """Evaluates intrinsic functions against known parameters, pseudo parameters and resources.

    ``ref`` gives a resource's Ref value (its physical id) and ``getatt`` an attribute; both are
    supplied by the caller, which knows where the resources live.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        pseudo: Mapping[str, str],
        ref: RefLookup,
        getatt: AttLookup,
    ) -> None:
        self.template = template
        self.parameters = parameter_values(template, parameters)
        self.pseudo = dict(pseudo)
        self._ref = ref
        self._getatt = getatt
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = self.template.get("Conditions", {}).get(name)
            if spec is None:
                raise TemplateError(f"Conditions.{name}: not declared")
            self._conditions[name] = bool(self._condition_value(spec, f"Conditions.{name}"))
        return self._conditions[name]

    def resource_enabled(self, logical_id: str) -> bool:
        name = self.template["Resources"][logical_id].get("Condition")
        return name is None or self.condition(name)

    def properties(self, logical_id: str) -> dict[str, Any]:
        """A resource's Properties with every intrinsic function evaluated."""
        props = self.template["Resources"][logical_id].get("Properties", {})
        return self.value(props, f"Resources.{logical_id}.Properties")

    def value(self, node: Any, where: str = "template") -> Any:
        if isinstance(node, list):
            items = [self.value(item, f"{where}[{i}]") for i, item in enumerate(node)]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref" or key.startswith("Fn::"):
                return self._function(key, arg, f"{where}.{key}")
        resolved = {key: self.value(item, f"{where}.{key}") for key, item in node.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _function(self, name: str, arg: Any, where: str) -> Any:
        if name == "Ref":
            return self._reference(arg, where)
        if name == "Fn::GetAtt":
            logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return self._getatt(logical_id, attribute)
        if name == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else arg
            return self._substitute(text, self.value(variables, where), where)
        if name == "Fn::Base64":
            return base64.b64encode(str(self.value(arg, where)).encode()).decode()
        if name == "Fn::Join":
            separator, items = arg
            return separator.join(str(item) for item in self.value(items, where))
        if name == "Fn::Select":
            index, items = self.value(arg, where)
            return items[int(index)]
        if name == "Fn::If":
            condition, if_true, if_false = arg
            chosen = if_true if self.condition(condition) else if_false
            return self.value(chosen, where)
        raise TemplateError(f"{where}: {name} is not supported by deploy.template.Resolver")

    def _reference(self, name: str, where: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.template["Resources"]:
            return self._ref(name)
        raise TemplateError(f"{where}: Ref to unknown name {name!r}")

    def _substitute(self, text: str, variables: Mapping[str, Any], where: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return str(self._getatt(logical_id, attribute))
            return str(self._reference(name, where))

        return _SUB_VARIABLE.sub(replace, text)

    def _condition_value(self, node: Any, where: str) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Equals":
                left, right = (self._condition_value(item, where) for item in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self._condition_value(arg[0], where)
            if key == "Fn::And":
                return all(self._condition_value(item, where) for item in arg)
            if key == "Fn::Or":
                return any(self._condition_value(item, where) for item in arg)
        return self.value(node, where)
