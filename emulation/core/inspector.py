"""Read-only views of what happened inside the twin, for tests, ``make e2e`` and ``serve``.

SNS messages come from moto's own record (every topic's ``sent_notifications``, which is also
what ``GET /moto-api/data.json`` shows), so email subscriptions, which moto only records, are
visible too. Everything else comes from the parts, found by their class: the Lambda runtime's
invocations, the notebook host's transitions, the Transcribe engine's jobs, the IAM part's
refused requests, and the twin's error list. ``Inspector(twin)`` is cheap to build.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from moto.sns.models import sns_backends

from emulation.awslambda.async_invoke import TwinBusyError
from emulation.awslambda.runtime import LambdaRuntime
from emulation.iam.authorizer import AccessDenial, IamEnforcement
from emulation.sagemaker.hooks import ON_CREATE, ON_START
from emulation.sagemaker.notebook_host import NotebookHost, Transition
from emulation.transcribe.service import JobRecord, TranscribeService

if TYPE_CHECKING:
    from datetime import datetime

    from emulation.awslambda.invocation import Invocation
    from emulation.core.twin import Twin, TwinError


@dataclass(frozen=True)
class Delivery:
    """A subscription of the topic the message went to (moto keeps no per-message log)."""

    protocol: str
    endpoint: str
    subscription_arn: str


@dataclass(frozen=True)
class SnsMessage:
    topic_arn: str
    message_id: str
    subject: str | None
    message: str
    attributes: dict[str, str]  # name -> value (String, Number and base64 Binary as text)
    deliveries: tuple[Delivery, ...]


class Inspector:
    """Queries over the twin's state; cheap to build (``Inspector(twin)``)."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin

    def sns_messages(self, topic_arn: str | None = None) -> list[SnsMessage]:
        """Messages published to topics, oldest first within each topic.

        ``deliveries`` lists the topic's subscriptions at read time whose filter policy accepts
        the message: a subscription made after the message was published is listed too.
        """
        messages = []
        for regions in dict.values(sns_backends):
            for backend in dict.values(regions):
                for topic in backend.topics.values():
                    if topic_arn is not None and topic.arn != topic_arn:
                        continue
                    subscriptions = [
                        sub for sub in backend.subscriptions.values() if sub.topic.arn == topic.arn
                    ]
                    for message_id, message, subject, attributes, _group in list(
                        topic.sent_notifications
                    ):
                        messages.append(
                            SnsMessage(
                                topic_arn=topic.arn,
                                message_id=message_id,
                                subject=subject,
                                message=message,
                                attributes={
                                    name: str(value["Value"])
                                    for name, value in (attributes or {}).items()
                                },
                                deliveries=_deliveries(subscriptions, message, attributes),
                            )
                        )
        return messages

    def invocations(self, function_name: str | None = None) -> list[Invocation]:
        """Every handler execution (each retry is one), optionally of one function (name/ARN)."""
        runtime = self.twin.find_part(LambdaRuntime)
        return runtime.invocations_of(function_name) if runtime is not None else []

    def lambda_failure(self, function_name: str, since: datetime | None = None) -> str | None:
        """The function's error once its last retry failed (None while a retry is to come);
        ``since``: only invocations that started then or later."""
        invocations = [
            invocation
            for invocation in self.invocations(function_name)
            if since is None or invocation.started_at >= since
        ]
        if not invocations or invocations[-1].error is None:
            return None
        try:
            self.twin.part(LambdaRuntime).wait_idle(timeout=0)
        except TwinBusyError:
            return None  # a retry is still to come
        return f"{function_name} failed: {invocations[-1].error}"

    def instance_log(self, name: str, run_id: str | None = None) -> str:
        """The instance's OnCreate and OnStart hook output, then its runs' logs as the run wrote
        them on the instance's volume (only ``run_id``'s when given)."""
        host = self.twin.part(NotebookHost)
        runs = host.sandbox(name).sagemaker_home / "asr-monitor" / "runs"
        logs = sorted(runs.glob(f"{run_id or '*'}/run.log"))
        hooks = [host.hook_log(name, ON_CREATE), host.hook_log(name, ON_START)]
        return "\n".join(
            part for part in hooks + [p.read_text(errors="replace") for p in logs] if part
        )

    def errors(self) -> list[TwinError]:
        """Everything that went wrong: handler errors, failed deliveries, bad schedules..."""
        return list(self.twin.errors)

    def access_denials(self) -> list[AccessDenial]:
        """Requests the twin refused as AWS's IAM would, oldest first ([] when not enforced)."""
        iam = self.twin.find_part(IamEnforcement)
        return list(iam.denials) if iam is not None else []

    def notebook_transitions(self) -> list[Transition]:
        """The notebook host's instance status changes ([] when that part is not composed)."""
        host = self.twin.find_part(NotebookHost)
        return list(host.transitions) if host is not None else []

    def transcription_jobs(self) -> list[JobRecord]:
        """The Transcribe engine's jobs, oldest first ([] when that part is not composed)."""
        service = self.twin.find_part(TranscribeService)
        return service.jobs if service is not None else []


def _deliveries(
    subscriptions: list[Any], message: str, attributes: dict[str, Any] | None
) -> tuple[Delivery, ...]:
    return tuple(
        Delivery(sub.protocol, sub.endpoint, sub.arn)
        for sub in subscriptions
        if sub._filter_policy_matcher is None
        or sub._filter_policy_matcher.matches(attributes, message)
    )
