"""Session credentials as AWS hands them to code: AssumeRole through the twin's STS.

The Lambda service assumes a function's execution role for each execution environment and
puts the session in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, with the
function's name as the session name (Lambda developer guide, "Defining Lambda function
permissions with an execution role"). A notebook instance's processes get its role's session
from the instance metadata service, session name ``SageMaker``. Both services may assume the
role only if its trust policy lets their service principal do ``sts:AssumeRole``; the twin
evaluates that too, and refuses with the service's words when it does not.

The twin's STS (moto) remembers every session it issued, which is how the authorizer maps an
access key back to its role. The twin does not expire sessions (AWS refreshes them for both
services), so a long run keeps working as it would on AWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from moto.iam.models import iam_backends

from emulation.core.errors import EmulationError
from emulation.iam.policy import Principal, Request, evaluate, parse_policy

if TYPE_CHECKING:
    from emulation.core.twin import Twin

LAMBDA_PRINCIPAL = "lambda.amazonaws.com"
SAGEMAKER_PRINCIPAL = "sagemaker.amazonaws.com"
SAGEMAKER_SESSION_NAME = "SageMaker"


class RoleNotAssumable(EmulationError):
    """The role's trust policy does not let the service assume it (AWS's words)."""


@dataclass(frozen=True)
class Caller:
    """An assumed-role session making requests: what the authorizer evaluates as."""

    arn: str  # arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
    role_arn: str
    account: str
    partition: str = "aws"

    @property
    def role_name(self) -> str:
        return self.role_arn.split("/")[-1]

    def principal(self) -> Principal:
        """As a Principal element may name it: the role's ARN or the session's."""
        return Principal(self.arn, self.account, matches=(self.role_arn, self.arn))


@dataclass(frozen=True)
class Session:
    access_key_id: str
    secret_access_key: str
    session_token: str
    role_arn: str
    arn: str  # arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION

    def caller(self) -> Caller:
        parts = self.role_arn.split(":")
        return Caller(self.arn, self.role_arn, parts[4], parts[1])

    def env(self) -> dict[str, str]:
        """The variables the SDKs and the AWS CLI read credentials from."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


def service_may_assume(role_arn: str, service: str) -> bool:
    """Does the role's trust policy let ``service`` (``lambda.amazonaws.com``) assume it?"""
    parts = role_arn.split(":")
    account, partition, name = parts[4], parts[1], role_arn.split("/")[-1]
    try:
        role = iam_backends[account][partition].get_role(name)
    except Exception:
        return False
    trust = parse_policy(role.assume_role_policy_document, f"trust policy of {name}",
                         resource_based=True)  # fmt: skip
    caller = Principal(service, account, kind="Service", matches=(service,))
    return evaluate(Request(caller, "sts:AssumeRole", role_arn), resource=[trust]).allowed


def assume_for_service(twin: Twin, role_arn: str, service: str, session_name: str) -> Session:
    """A session of ``role_arn`` as ``service`` gets it (RoleNotAssumable when the trust
    policy does not allow that service)."""
    if not service_may_assume(role_arn, service):
        raise RoleNotAssumable(
            f"The role defined for the function cannot be assumed by {service.split('.')[0]}: "
            f"the trust policy of {role_arn} does not allow {service} to sts:AssumeRole"
        )
    answer = twin.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session_name)
    credentials = answer["Credentials"]
    return Session(
        access_key_id=credentials["AccessKeyId"],
        secret_access_key=credentials["SecretAccessKey"],
        session_token=credentials["SessionToken"],
        role_arn=role_arn,
        arn=answer["AssumedRoleUser"]["Arn"],
    )
