"""The twin's IAM: every request signed with a role's session credentials is authorized as AWS
authorizes it, and refused with the service's own AccessDenied error when AWS would refuse it.

Where: moto's server asks ``_authenticate_and_authorize_normal_action`` (every service) or
``_authenticate_and_authorize_s3_action`` (S3, with the bucket and key) before it runs an
action; this part replaces both. What: the access key of the request's SigV4 Authorization
header is looked up among the sessions the twin's STS issued (``credentials``); its role's
inline and managed policies, plus the bucket's or topic's policy where AWS applies one, are
evaluated (``policy``) for the action and resource ARNs AWS authorizes for that call
(``actions``). Requests signed with any other key (the twin's default credentials: the
person at the keyboard, the deploy) stay unrestricted, as an administrator's would.

Services that act with the caller's permissions (Transcribe reading media, Lambda writing a
function's logs or its failure record) ask ``check`` with the caller's session.

Every refusal is logged under ``emulation.iam`` and kept in ``denials`` with the principal,
action and resource. ``TwinConfig.iam`` (or TWIN_IAM=off) turns enforcement off.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from moto.core.responses import ActionAuthenticatorMixin
from moto.dynamodb.models import dynamodb_backends
from moto.iam.access_control import PermissionResult
from moto.iam.models import iam_backends
from moto.s3.models import FakeBucket, s3_backends
from moto.sns.models import sns_backends
from moto.sts.models import sts_backends

from emulation.core.patching import Patches
from emulation.iam.actions import ALWAYS_ALLOWED, Authorization, Call, Unmapped, authorization
from emulation.iam.context import service_context
from emulation.iam.credentials import Caller, Session, assume_for_service
from emulation.iam.messages import denial_error, denial_message
from emulation.iam.policy import Policy, Request, UnsupportedPolicy, evaluate, parse_policy

if TYPE_CHECKING:
    from emulation.core.twin import Twin

logger = logging.getLogger("emulation.iam")

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/")
# The request context the twin gives every request: the twin's HTTP endpoint stands in for
# AWS's HTTPS endpoints, which the SDKs and the AWS CLI use by default.
BASE_CONTEXT = {"aws:securetransport": "true"}


@dataclass(frozen=True)
class AccessDenial:
    """One refused request, as the twin reported it to the caller."""

    principal: str
    action: str
    resource: str
    message: str
    via: str  # "request" (an API call), or the service acting for the caller
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


class IamEnforcement:
    """A TwinPart: role-signed requests are authorized like AWS authorizes them."""

    def __init__(self, twin: Twin, *, enabled: bool = True) -> None:
        self.twin = twin
        self.enabled = enabled
        self.denials: list[AccessDenial] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._patches = Patches()

    # -- TwinPart -------------------------------------------------------------------------------

    def install(self) -> None:
        if not self.enabled:
            logger.warning("IAM enforcement is OFF: role sessions may do anything, unlike on AWS")
            return
        part = self

        def normal(response: Any, resource: str = "*") -> None:
            part._authorize_request(response, None)

        def s3(response: Any, bucket_name: str | None = None, key_name: str | None = None):
            part._authorize_request(response, (bucket_name, key_name))

        self._patches.replace(
            ActionAuthenticatorMixin, "_authenticate_and_authorize_normal_action", normal
        )
        self._patches.replace(ActionAuthenticatorMixin, "_authenticate_and_authorize_s3_action", s3)
        # moto's own bucket-policy check ignores principals and conditions (a Deny with any
        # Condition denies everyone); bucket policies are evaluated here instead.
        self._patches.replace(FakeBucket, "get_permission", _no_moto_bucket_check)

    def reset(self) -> None:
        with self._lock:
            self.denials.clear()

    def uninstall(self) -> None:
        self._patches.restore()

    # -- for the services -----------------------------------------------------------------------

    def current_caller(self) -> Caller | None:
        """The session of the request this thread is serving (None: unrestricted)."""
        return getattr(self._local, "caller", None)

    def check(
        self,
        caller: Caller | None,
        action: str,
        resources: Sequence[str],
        *,
        via: str,
    ) -> AccessDenial | None:
        """Would AWS let ``caller`` do ``action`` on every resource? The denial (recorded and
        logged) if not; None when allowed, when the caller is unrestricted or when off."""
        if caller is None or not self.enabled:
            return None
        wanted = Authorization(action, tuple(resources), BASE_CONTEXT)
        return self._evaluate(caller, wanted, "", via)  # no service answers: IAM's words

    # -- the request path -----------------------------------------------------------------------

    def _authorize_request(self, response: Any, s3_target: tuple[Any, Any] | None) -> None:
        headers = response.headers
        match = _CREDENTIAL.search(headers.get("Authorization") or "")
        caller = self._caller(match.group(1)) if match else None
        self._local.caller = caller
        if caller is None:
            return
        region, signing_name = match.group(2), match.group(3)
        if s3_target is not None:
            call = self._s3_call(response, caller, region, s3_target)
        else:
            call = Call(
                prefix=signing_name,
                operation=response._get_action(),
                params=_params(response),
                region=region,
                account=caller.account,
                partition=caller.partition,
                context=BASE_CONTEXT,
            )
            context = service_context(call.prefix, call.operation, call.params, self._hash_key)
            if context:
                call = replace(call, context={**BASE_CONTEXT, **context})
        if f"{call.prefix}:{call.operation}" in ALWAYS_ALLOWED:
            return
        service = "s3" if s3_target is not None else response.service_name
        try:
            wanted = authorization(call)
        except Unmapped as exc:
            message = f"User: {caller.arn} is not authorized by the twin: {exc}"
            self._record(AccessDenial(caller.arn, f"{call.prefix}:{call.operation}", "?",
                                      message, "request"))  # fmt: skip
            raise denial_error(service, message) from exc
        denial = self._evaluate(caller, wanted, service, "request")
        if denial is None and s3_target is not None and wanted.action == "s3:GetObject":
            denial = self._missing_object(caller, s3_target)
        if denial is not None:
            raise denial_error(service, denial.message)

    def _hash_key(self, table: str, index: str | None) -> str | None:
        """The partition key attribute of a table in the twin (or of one of its indexes)."""
        for regions in dict.values(dynamodb_backends):
            for backend in dict.values(regions):
                found = backend.tables.get(table)
                if found is None:
                    continue
                schema = found.get_index(index).schema if index else found.schema
                return next((k["AttributeName"] for k in schema if k["KeyType"] == "HASH"), None)
        return None

    def _caller(self, access_key_id: str) -> Caller | None:
        """The assumed-role session this key belongs to, or None (unrestricted)."""
        for account, partitions in dict.items(sts_backends):
            for partition, backend in dict.items(partitions):
                session = backend.get_assumed_role_from_access_key(access_key_id)
                if session is not None:
                    return Caller(session.arn, session.role_arn, account, partition)
        return None

    def _s3_call(self, response: Any, caller: Caller, region: str, target: tuple[Any, Any]) -> Call:
        bucket, key = target
        action = response.data.get("Action") or response._get_action()
        context = dict(BASE_CONTEXT)
        querystring = getattr(response, "querystring", None) or {}
        if action == "ListBucket" and "prefix" in querystring:
            context["s3:prefix"] = _first(querystring["prefix"])
        params = {"BucketName": bucket, "ObjectName": key}
        return Call("s3", action, {k: v for k, v in params.items() if v}, region,
                    caller.account, caller.partition, context)  # fmt: skip

    def _missing_object(self, caller: Caller, target: tuple[Any, Any]) -> AccessDenial | None:
        """S3 answers a missing key with AccessDenied, not NoSuchKey, to a caller without
        s3:ListBucket on the bucket (S3 API reference, GetObject, "Permissions")."""
        bucket_name, key = target
        backend = s3_backends[caller.account][caller.partition]
        bucket = backend.buckets.get(bucket_name)
        if bucket is None or key is None or bucket.keys.get(key) is not None:
            return None
        listing = Authorization(
            "s3:ListBucket",
            (f"arn:{caller.partition}:s3:::{bucket_name}",),
            {**BASE_CONTEXT, "s3:prefix": key},
        )
        return self._evaluate(caller, listing, "s3", "request")

    # -- evaluation -----------------------------------------------------------------------------

    def _evaluate(
        self, caller: Caller, wanted: Authorization, service: str, via: str
    ) -> AccessDenial | None:
        principal = caller.principal()
        identity = self._role_policies(caller)
        for resource in wanted.resources:
            request = Request(principal, wanted.action, resource, wanted.context)
            try:
                decision = evaluate(request, identity, self._resource_policies(caller, resource))
            except UnsupportedPolicy as exc:
                message = (
                    f"User: {caller.arn} is not authorized to perform: {wanted.action} on "
                    f"resource: {resource}: the twin cannot evaluate {exc}, so it refuses "
                    "rather than guess what AWS decides"
                )
                return self._record(AccessDenial(caller.arn, wanted.action, resource, message, via))
            if not decision.allowed:
                message = denial_message(
                    caller.arn, wanted.action, resource, decision.reason(wanted.action), service
                )
                return self._record(AccessDenial(caller.arn, wanted.action, resource, message, via))
        return None

    def _record(self, denial: AccessDenial) -> AccessDenial:
        with self._lock:
            self.denials.append(denial)
        logger.warning("AccessDenied (%s): %s", denial.via, denial.message)
        return denial

    def _role_policies(self, caller: Caller) -> list[Policy]:
        """The role's inline and managed policies, parsed (cached by their text)."""
        backend = iam_backends[caller.account][caller.partition]
        try:
            role = backend.get_role(caller.role_name)
        except Exception:
            return []
        policies = [
            parse_policy(document, f"{caller.role_name}/{name}")
            for name, document in sorted(role.policies.items())
        ]
        for arn, managed in role.managed_policies.items():
            version = next(
                (v for v in managed.versions if v.version_id == managed.default_version_id), None
            )
            if version is not None:
                policies.append(parse_policy(version.document, arn))
        return policies

    def _resource_policies(self, caller: Caller, resource: str) -> list[Policy]:
        """The bucket policy (S3) or topic policy (SNS) AWS evaluates with the request."""
        if resource.startswith(f"arn:{caller.partition}:s3:::"):
            bucket_name = resource.split(":::", 1)[1].split("/", 1)[0]
            backend = s3_backends[caller.account][caller.partition]
            bucket = backend.buckets.get(bucket_name)
            if bucket is not None and bucket.policy:
                text = bucket.policy.decode("utf-8")
                return [parse_policy(text, f"bucket policy of {bucket_name}", resource_based=True)]
        elif resource.startswith(f"arn:{caller.partition}:sns:"):
            region = resource.split(":")[3]
            backend = sns_backends[caller.account][region]
            topic = backend.topics.get(resource)
            if topic is not None:
                name = f"topic policy of {topic.name}"
                return [parse_policy(topic.policy, name, resource_based=True)]
        return []


def session_for(twin: Twin, role_arn: str, service: str, session_name: str) -> Session | None:
    """The role's session as ``service`` gets it when the twin enforces IAM (RoleNotAssumable
    if its trust policy says no); None when it does not (the code keeps the default keys)."""
    iam = twin.find_part(IamEnforcement)
    if iam is None or not iam.enabled:
        return None
    return assume_for_service(twin, role_arn, service, session_name)


def _no_moto_bucket_check(bucket: Any, action: str, resource: str) -> PermissionResult:
    return PermissionResult.NEUTRAL


def _first(value: Any) -> str:
    return str(value[0] if isinstance(value, list) and value else value)


def _params(response: Any) -> dict[str, Any]:
    """The request's parameters: parsed by moto where it parses, else the JSON body, plus the
    query string (query-protocol services send their parameters there)."""
    params: dict[str, Any] = {}
    for key, value in (getattr(response, "querystring", None) or {}).items():
        params[key] = _first(value)
    parsed = getattr(response, "params", None)
    if isinstance(parsed, dict) and parsed:
        params.update(parsed)
        return params
    body = getattr(response, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str) and body.startswith("{"):
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            params.update(decoded)
    return params
