"""The twin's scheduler: EventBridge rules with rate() or cron() schedules fire on a clock.

moto stores scheduled rules but never fires them, and it wrongly lets a schedule-only rule match
every ``put_events`` event (then fails with a 500 on a Lambda target). This part reads the rules
from moto's events backend and, on ``tick(now)``, invokes the targets whose time has come with
AWS's Scheduled Event; ``fire(rule)`` does it at once (tests, ``make e2e``); ``start()`` runs
ticks in the background for ``serve``. It also patches ``Rule.send_to_targets`` (moto's model):
schedule-only and disabled rules never match events, and Lambda targets of matching rules are
invoked asynchronously through the twin's Lambda runtime.

Schedules are parsed by ``schedules`` as AWS reads them. A rate schedule starts when the
scheduler first sees the rule (AWS: when it is created).
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from jsonpath_ng.ext import parse as jsonpath
from moto.events import models as events_models
from moto.events.utils import EventTemplateParser
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends

from emulation.awslambda.permissions import Invoker
from emulation.awslambda.sandbox import LambdaRuntimeError
from emulation.core.errors import EmulationError
from emulation.core.patching import Patches
from emulation.events.payloads import scheduled_event
from emulation.events.schedules import ScheduleExpressionError, parse_schedule, utc, utc_now

if TYPE_CHECKING:
    from moto.events.models import Rule

    from emulation.awslambda.runtime import LambdaRuntime
    from emulation.core.twin import Twin

logger = logging.getLogger("emulation.events")


class SchedulerError(EmulationError):
    """A rule cannot be fired (unknown, disabled, not scheduled)."""


def target_input(target: dict[str, Any], event: dict[str, Any]) -> Any:
    """What a target receives: Input (constant JSON), InputPath, InputTransformer, or the event."""
    if "Input" in target:
        return json.loads(target["Input"])
    if "InputPath" in target:
        matches = jsonpath(target["InputPath"]).find(event)
        return matches[0].value if matches else None
    if transformer := target.get("InputTransformer"):
        # moto's parser also fills <aws.events.event.ingestion-time>; give it one.
        return EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event={**event, "ingestion-time": event["time"]},
        )
    return event


class _WithTargets:
    """A rule seen with some of its targets only (a copy would be a new tracked moto model)."""

    def __init__(self, rule: Rule, targets: list[dict[str, Any]]) -> None:
        self._rule = rule
        self.targets = targets

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rule, name)


@dataclass(frozen=True)
class Firing:
    """A scheduled rule fired: which rule, for which time, with which event."""

    rule_name: str
    rule_arn: str
    time: datetime
    event: dict[str, Any]
    request_ids: list[str] = field(default_factory=list)


class Scheduler:
    """TwinPart that fires EventBridge schedules, and fixes moto's event-to-rule matching."""

    def __init__(
        self,
        twin: Twin,
        clock: Callable[[], datetime] = utc_now,
        *,
        runtime: LambdaRuntime | None = None,
        interval: float = 1.0,
    ) -> None:
        self.twin = twin
        self.runtime = runtime  # runs Lambda targets; None: they are recorded as undeliverable
        self.clock = clock
        self.interval = interval
        self.firings: list[Firing] = []
        self._due: dict[str, tuple[str, datetime]] = {}  # rule ARN -> (expression, next time)
        self._reported: set[tuple[str, str]] = set()  # (rule ARN, expression) already reported
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._patches = Patches()
        self._original_send: Callable[..., None] | None = None

    # -- TwinPart -------------------------------------------------------------------------------

    def install(self) -> None:
        scheduler = self
        self._original_send = events_models.Rule.send_to_targets

        def send_to_targets(
            rule: Rule, original_event: dict[str, Any], transform_input: bool = True
        ) -> None:
            if rule.scheduled_expression and not rule.event_pattern.get_pattern():
                return  # a schedule-only rule matches no event (moto matched every one)
            if rule.state != "ENABLED" or not rule.event_pattern.matches_event(original_event):
                return
            scheduler._deliver(rule, original_event, "events", transform_input=transform_input)

        self._patches.replace(events_models.Rule, "send_to_targets", send_to_targets)

    def reset(self) -> None:
        with self._lock:
            self._due.clear()
            self._reported.clear()
            self.firings.clear()

    def uninstall(self) -> None:
        self.stop()
        self._patches.restore()

    # -- public API -----------------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> list[Firing]:
        """Fire every enabled scheduled rule whose time has come (once, even if several passed)."""
        now = utc(now or self.clock())
        fired = []
        with self._lock:
            seen = set()
            for rule in self._scheduled_rules():
                seen.add(rule.arn)
                when = self._advance(rule, now)
                if when is not None and rule.state == "ENABLED":
                    fired.append(self._fire(rule, when))
            for arn in set(self._due) - seen:
                del self._due[arn]
        return fired

    def fire(self, rule_name: str, event_bus: str = "default") -> Firing:
        """Fire a scheduled rule now, whatever its schedule says."""
        with self._lock:
            for rule in self._scheduled_rules():
                if rule.name == rule_name and rule.event_bus_name == event_bus:
                    if rule.state != "ENABLED":
                        raise SchedulerError(f"rule {rule.arn} is {rule.state}; enable it first")
                    return self._fire(rule, self.clock())
        raise SchedulerError(f"no scheduled rule {rule_name!r} on event bus {event_bus!r}")

    def start(self) -> None:
        """Tick every ``interval`` seconds in a background thread (for ``serve``)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="twin-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None

    # -- internals ------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception as exc:
                self.twin.record_error(
                    "events", f"tick failed: {exc}", traceback=traceback.format_exc()
                )

    @staticmethod
    def _scheduled_rules() -> list[Rule]:
        """Every rule with a schedule, in every events backend that exists (none is created)."""
        return [
            rule
            for regions in dict.values(events_models.events_backends)
            for backend in dict.values(regions)
            for bus in backend.event_buses.values()
            for rule in bus.rules.values()
            if rule.scheduled_expression
        ]

    def _advance(self, rule: Rule, now: datetime) -> datetime | None:
        """Move the rule's schedule past ``now``; return the latest time that was due, if any."""
        expression = rule.scheduled_expression
        try:
            schedule = parse_schedule(expression)
        except ScheduleExpressionError as exc:
            if (rule.arn, expression) not in self._reported:
                self._reported.add((rule.arn, expression))
                self.twin.record_error("events", f"rule {rule.arn} cannot fire: {exc}")
            return None
        known = self._due.get(rule.arn)
        due = known[1] if known and known[0] == expression else schedule.first_due(now)
        latest = None
        while due <= now:
            latest, due = due, schedule.next_due(due)
        self._due[rule.arn] = (expression, due)
        return latest

    def _fire(self, rule: Rule, when: datetime) -> Firing:
        event = scheduled_event(rule.arn, when)
        logger.info("rule %s fired for %s", rule.name, event["time"])
        request_ids = self._deliver(rule, event, "schedule", transform_input=True)
        firing = Firing(rule.name, rule.arn, utc(when), event, request_ids)
        self.firings.append(firing)
        return firing

    def _deliver(
        self, rule: Rule, event: dict[str, Any], source: str, *, transform_input: bool
    ) -> list[str]:
        """Send ``event`` to the rule's targets; return the Lambda request ids.

        Lambda targets go through the runtime (asynchronously). For a scheduled event, SQS and
        SNS targets are sent here too, with the target's input applied; moto can do neither
        (its input templates expect put_events' fields). Other targets go to moto's delivery.
        """
        request_ids = []
        others = []
        for target in rule.targets:
            service = target["Arn"].split(":")[2]
            payload = target_input(target, event) if transform_input else event
            if service == "lambda":
                request_id = self._invoke(rule, target["Arn"], payload, source)
                request_ids += [request_id] if request_id else []
            elif source == "schedule" and service in ("sqs", "sns"):
                self._send(rule, target, payload)
            else:
                others.append(target)
        if others:
            try:
                moto_transform = transform_input and source != "schedule"
                self._original_send(_WithTargets(rule, others), event, moto_transform)
            except Exception as exc:
                arns = ", ".join(target["Arn"] for target in others)
                self.twin.record_error(
                    "events",
                    f"rule {rule.arn}: moto could not deliver to {arns}: {exc}",
                    traceback=traceback.format_exc(),
                )
        return request_ids

    def _send(self, rule: Rule, target: dict[str, Any], payload: Any) -> None:
        _, _, service, region, account, resource = target["Arn"].split(":", 5)
        body = json.dumps(payload)
        try:
            if service == "sqs":
                group_id = target.get("SqsParameters", {}).get("MessageGroupId")
                sqs_backends[account][region].send_message(resource, body, group_id=group_id)
            else:
                sns_backends[account][region].publish(message=body, arn=target["Arn"])
        except Exception as exc:
            self.twin.record_error(
                "events",
                f"rule {rule.arn}: could not deliver to {target['Arn']}: {exc}",
                traceback=traceback.format_exc(),
            )

    def _invoke(self, rule: Rule, arn: str, payload: Any, source: str) -> str | None:
        runtime = self.runtime
        if runtime is None:
            self.twin.record_error("events", f"rule {rule.arn}: no Lambda runtime for {arn}")
            return None
        try:
            function = runtime.function(arn)
        except LambdaRuntimeError as exc:
            self.twin.record_error("events", f"rule {rule.arn}: {exc}")
            return None
        caller = Invoker("events.amazonaws.com", rule.arn, rule.account_id)
        return runtime.invoke_async(function, payload, source=source, caller=caller)
