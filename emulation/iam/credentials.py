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
from moto.sts.models import sts_backends

from emulation.core.errors import EmulationError
from emulation.iam.policy import (
    PolicyError,
    Principal,
    Request,
    UnsupportedPolicy,
    evaluate,
    parse_policy,
)

if TYPE_CHECKING:
    from emulation.core.twin import Twin

LAMBDA_PRINCIPAL = "lambda.amazonaws.com"
SAGEMAKER_PRINCIPAL = "sagemaker.amazonaws.com"
SAGEMAKER_SESSION_NAME = "SageMaker"
SESSION_SECONDS = 3600


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

    @classmethod
    def of_role(cls, role_arn: str, session_name: str) -> Caller:
        """The session a service holds of ``role_arn`` (for what it does with the role)."""
        parts = role_arn.split(":")
        partition, account, name = parts[1], parts[4], role_arn.split("/")[-1]
        arn = f"arn:{partition}:sts::{account}:assumed-role/{name}/{session_name}"
        return cls(arn, role_arn, account, partition)


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
    caller = Principal(service, account, kind="Service", matches=(service,))
    try:
        trust = parse_policy(
            role.assume_role_policy_document, f"trust policy of {name}", resource_based=True
        )
        return evaluate(Request(caller, "sts:AssumeRole", role_arn), resource=[trust]).allowed
    except (PolicyError, UnsupportedPolicy, ValueError):
        return False  # AWS refuses such a trust policy when the role is created


def assume_for_service(twin: Twin, role_arn: str, service: str, session_name: str) -> Session:
    """A session of ``role_arn`` as ``service`` gets it (RoleNotAssumable when the trust
    policy does not allow that service)."""
    if not service_may_assume(role_arn, service):
        raise RoleNotAssumable(
            f"The role defined for the function cannot be assumed by {service.split('.')[0]}: "
            f"the trust policy of {role_arn} does not allow {service} to sts:AssumeRole"
        )
    # In-process, as a service calls STS (no SDK-side check of the session name's length:
    # Lambda names the session after the function, which may be one character long).
    account, partition = role_arn.split(":")[4], role_arn.split(":")[1]
    assumed = sts_backends[account][partition].assume_role(
        region_name=twin.region,
        role_session_name=session_name,
        role_arn=role_arn,
        policy="",
        duration=SESSION_SECONDS,
        external_id="",
    )
    return Session(
        access_key_id=assumed.access_key_id,
        secret_access_key=assumed.secret_access_key,
        session_token=assumed.session_token,
        role_arn=role_arn,
        arn=assumed.arn,
    )
