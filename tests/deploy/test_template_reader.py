"""Reading the template with cfn-lint's decoder, and checking parameter values as CloudFormation
checks them, before anything is packaged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploy.errors import TemplateError
from deploy.template import load_template, parameter_problems

SHORT_FORMS = """
Parameters:
  Name: {Type: String}
Conditions:
  HasName: !Not [!Equals [!Ref Name, ""]]
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Condition: HasName
    Properties:
      QueueName: !Sub "${AWS::StackName}-${Name}"
      Tags:
        - {Key: arn, Value: !GetAtt Other.Arn}
        - {Key: joined, Value: !Join ["-", [a, !Select [0, [b]]]]}
"""


def test_short_form_tags_become_their_long_form_as_plain_data() -> None:
    template = load_template(SHORT_FORMS)
    queue = template["Resources"]["Queue"]
    assert queue["Properties"]["QueueName"] == {"Fn::Sub": "${AWS::StackName}-${Name}"}
    assert queue["Properties"]["Tags"][0]["Value"] == {"Fn::GetAtt": ["Other", "Arn"]}
    assert queue["Properties"]["Tags"][1]["Value"] == {
        "Fn::Join": ["-", ["a", {"Fn::Select": [0, ["b"]]}]]
    }
    assert template["Conditions"]["HasName"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "Name"}, ""]}]}
    assert type(template) is dict and type(queue["Type"]) is str  # not cfn-lint's node types
    assert load_template(json.dumps(template)) == template  # JSON templates read too


def test_a_template_that_cannot_be_decoded_names_the_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("Resources:\n  Queue:\n    Type: [unclosed\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=rf"{broken}:\d+: "):
        load_template(broken)
    with pytest.raises(TemplateError, match="template: no Resources"):
        load_template("Parameters: {}\n")


def test_parameter_values_are_checked_in_cloudformations_words() -> None:
    """CloudFormation User Guide, template parameters: AllowedPattern must match the whole
    value; a ConstraintDescription replaces the pattern in the message; Number parameters are
    bounded by MinValue/MaxValue."""
    template = load_template()
    assert parameter_problems(
        template,
        {
            "AlertEmail": "not-an-address",
            "CorpusPrefix": "corpus",  # no trailing slash
            "MaxJobsInFlight": "251",
            "NotebookMaxRunMinutes": "many",
            "LanguageCode": "en-US",
            "Nope": "x",
        },
    ) == [
        "Parameter 'AlertEmail' must match pattern ^$|^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$",
        "Parameter 'CorpusPrefix' failed to satisfy constraint: one or more folder names "
        "(letters, digits and !_.()-), each ending in a slash, such as corpus/ or "
        "audio/en-US/; not empty and without *.",
        "Parameter 'MaxJobsInFlight' must be a number not greater than 250",
        "Parameter 'NotebookMaxRunMinutes' must be a number, not 'many'",
        "unknown template parameter Nope; the template declares AlertEmail, ArtifactsBucket, "
        "ArtifactsPrefix, CorpusPrefix, LambdaCodeKey, LanguageCode, MaxJobsInFlight, "
        "NotebookInstanceType, NotebookMaxRunMinutes, RegressionConfidence, RegressionThreshold, "
        "ScheduleExpression",
    ]
    assert parameter_problems(template, {"AlertEmail": "", "MaxJobsInFlight": "1"}) == []
