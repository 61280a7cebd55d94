"""AWS's wording and error shape for a refused request, per service.

The message is IAM's ("Troubleshoot access denied error messages", IAM User Guide):
``User: <principal> is not authorized to perform: <action> on resource: <arn> because no
identity-based policy allows the <action> action`` (or ``with an explicit deny in an
identity-based policy``). Actions without a resource type leave out ``on resource``. S3 quotes
the resource ARN (S3 User Guide, "Access denied message examples").

The error code per protocol (botocore's service models and each service's API reference):
JSON services answer ``AccessDeniedException`` (HTTP 400), Lambda ``AccessDeniedException``
(403), S3 ``AccessDenied`` (403, XML), SNS ``AuthorizationError`` (403, its model's
AuthorizationErrorException), other query services (STS, IAM) ``AccessDenied`` (403).
"""

from __future__ import annotations

from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.s3.exceptions import S3ClientError

# Services whose error code is not their protocol's default.
_QUERY_CODES = {"sns": "AuthorizationError"}
# How a service writes the action in its message, where it differs from the policy's
# ``prefix:Action``: SNS upper-cases its prefix ("SNS:Publish"), SQS lower-cases the whole.
_ACTION_SHOWN = {"sns": lambda a: "SNS:" + a.split(":", 1)[1], "sqs": str.lower}
_XML_SERVICES = {"sns", "sts", "iam", "sqs-query", "cloudformation", "ec2"}


def denial_message(principal: str, action: str, resource: str, reason: str, service: str) -> str:
    """IAM's sentence for a denied request (``reason`` from ``Decision.reason``)."""
    shown_action = _ACTION_SHOWN.get(service, str)(action)
    reason = reason.replace(action, shown_action)
    action = shown_action
    if resource == "*":
        return f"User: {principal} is not authorized to perform: {action} {reason}"
    shown = f'"{resource}"' if service == "s3" else resource
    return f"User: {principal} is not authorized to perform: {action} on resource: {shown} {reason}"


class AccessDeniedJson(JsonRESTError):
    """A JSON service's refusal: ``{"__type": "AccessDeniedException", "message": ...}``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__("AccessDeniedException", message)
        self.code = status


class AccessDeniedXml(AccessDeniedError):
    """A query service's refusal (``<ErrorResponse><Error><Code>...``), HTTP 403."""

    def __init__(self, error_code: str, message: str) -> None:
        # moto's AccessDeniedError fixes its own message; its base class takes ours.
        super(AccessDeniedError, self).__init__(error_code, message)


def denial_error(service: str, message: str) -> Exception:
    """The exception moto turns into the service's own AccessDenied response."""
    if service == "s3":  # serialized by moto from S3's model: HTTP 403, XML
        return S3ClientError("AccessDenied", message)
    if service in _XML_SERVICES:
        return AccessDeniedXml(_QUERY_CODES.get(service, "AccessDenied"), message)
    return AccessDeniedJson(message, 403 if service == "lambda" else 400)
