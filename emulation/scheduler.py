"""The twin's scheduler: EventBridge rules with rate() or cron() schedules fire on a clock.

moto stores scheduled rules but never fires them, and it wrongly lets a schedule-only rule match
every ``put_events`` event (then fails with a 500 on a Lambda target). This part reads the rules
from moto's events backend and, on ``tick(now)``, invokes the targets whose time has come with
AWS's Scheduled Event; ``fire(rule)`` does it at once (tests, ``make e2e``); ``start()`` runs
ticks in the background for ``serve``. It also patches ``Rule.send_to_targets`` (moto's model):
schedule-only and disabled rules never match events, and Lambda targets of matching rules are
invoked asynchronously through the twin's Lambda runtime.

Schedules follow AWS: ``rate(1 minute)``, ``rate(5 minutes)``, hours, days (singular for 1);
``cron(minutes hours day-of-month month day-of-week year)`` in UTC, with exactly one of the two
day fields "?", day-of-week 1-7 = SUN-SAT or names, and ``L``, ``nL``, ``n#k``, ``nW``. Not
supported (raises ScheduleExpressionError): ``LW``, and ``L`` or ``W`` combined with names or
lists. A rate schedule starts when the scheduler first sees the rule (AWS: when it is created).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from croniter import CroniterBadCronError, croniter
from jsonpath_ng.ext import parse as jsonpath
from moto.events import models as events_models
from moto.events.utils import EventTemplateParser
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends

from emulation.lambda_policy import Caller
from emulation.lambda_sandbox import LambdaRuntimeError
from emulation.patching import Patches
from pipeline.errors import ConfigurationError, PipelineError

if TYPE_CHECKING:
    from moto.events.models import Rule

    from emulation.lambda_runtime import LambdaRuntime
    from emulation.twin import Twin

logger = logging.getLogger("emulation.scheduler")

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


class ScheduleExpressionError(ConfigurationError):
    """A ScheduleExpression that AWS would reject, or that the twin cannot evaluate."""


class SchedulerError(PipelineError):
    """A rule cannot be fired (unknown, disabled, not scheduled)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class Schedule:
    """A parsed ScheduleExpression: when it first fires after a start, and after each firing."""

    expression: str
    period: timedelta | None = None  # rate()
    cron: str | None = None  # croniter's 7-field form of cron()

    def first_due(self, start: datetime) -> datetime:
        if self.period is not None:
            return start + self.period
        # A cron time equal to the start (to the second) counts as due.
        return self.next_due(start - timedelta(seconds=1))

    def next_due(self, after: datetime) -> datetime:
        if self.period is not None:
            return after + self.period
        return croniter(self.cron, after).get_next(datetime)


def parse_schedule(expression: str) -> Schedule:
    """Parse AWS's rate()/cron() syntax; errors name the expression and the offending part."""
    expression = expression.strip()
    if rate := _RATE.match(expression):
        value, unit = int(rate[1]), rate[2]
        if value < 1:
            raise ScheduleExpressionError(f"{expression}: the value must be a positive integer")
        if (value == 1) != (not unit.endswith("s")):
            raise ScheduleExpressionError(
                f"{expression}: AWS wants the singular unit for 1 and the plural otherwise"
            )
        return Schedule(expression, period=value * _UNITS[unit.rstrip("s")])
    if cron := _CRON.match(expression):
        translated = aws_cron_to_croniter(cron[1], expression)
        try:
            croniter(translated, utc_now())
        except CroniterBadCronError as exc:
            raise ScheduleExpressionError(f"{expression}: {exc}") from exc
        return Schedule(expression, cron=translated)
    raise ScheduleExpressionError(f"{expression}: not rate(value unit) nor cron(six fields)")


def aws_cron_to_croniter(body: str, expression: str) -> str:
    """AWS's ``min hour dom month dow year`` as croniter's ``min hour dom month dow sec year``."""
    fields = body.split()
    if len(fields) != 6:
        raise ScheduleExpressionError(
            f"{expression}: AWS cron has six fields (minutes hours day-of-month month "
            f"day-of-week year), not {len(fields)}"
        )
    minute, hour, day_of_month, month, day_of_week, year = fields
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ScheduleExpressionError(
            f"{expression}: exactly one of day-of-month and day-of-week must be '?'"
        )
    if "LW" in day_of_month.upper():
        raise ScheduleExpressionError(f"{expression}: 'LW' is not supported by the twin")
    day_of_week = ",".join(_day_of_week(item, expression) for item in day_of_week.split(","))
    return f"{minute} {hour} {day_of_month} {month} {day_of_week} 0 {year}"


def _day_of_week(item: str, expression: str) -> str:
    """AWS numbers days 1-7 from Sunday; croniter 0-6. ``L`` alone is the last day: Saturday."""
    item = item.upper()
    if item in ("?", "*"):
        return item
    if item == "L":
        return "6"
    if last := re.fullmatch(r"([1-7])L", item):
        return f"L{int(last[1]) - 1}"
    if nth := re.fullmatch(r"([1-7])#([1-5])", item):
        return f"{int(nth[1]) - 1}#{nth[2]}"
    if re.search(r"[LW]", re.sub(r"SUN|MON|TUE|WED|THU|FRI|SAT", "", item)):
        raise ScheduleExpressionError(
            f"{expression}: day-of-week '{item}' is not supported by the twin"
        )
    base, slash, step = item.partition("/")
    for number in re.findall(r"\d+", base):
        if not 1 <= int(number) <= 7:
            raise ScheduleExpressionError(f"{expression}: day-of-week {number} is not in 1-7")
    return re.sub(r"\d+", lambda number: str(int(number[0]) - 1), base) + slash + step


def scheduled_event(rule: Rule, when: datetime) -> dict[str, Any]:
    """The event EventBridge sends a scheduled rule's targets."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": rule.account_id,
        "time": _utc(when).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": rule.region_name,
        "resources": [rule.arn],
        "detail": {},
    }


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
        interval: float = 1.0,
    ) -> None:
        self.twin = twin
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
        now = _utc(now or self.clock())
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
                    "scheduler", f"tick failed: {exc}", traceback=traceback.format_exc()
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
                self.twin.record_error("scheduler", f"rule {rule.arn} cannot fire: {exc}")
            return None
        known = self._due.get(rule.arn)
        due = known[1] if known and known[0] == expression else schedule.first_due(now)
        latest = None
        while due <= now:
            latest, due = due, schedule.next_due(due)
        self._due[rule.arn] = (expression, due)
        return latest

    def _fire(self, rule: Rule, when: datetime) -> Firing:
        event = scheduled_event(rule, when)
        logger.info("rule %s fired for %s", rule.name, event["time"])
        request_ids = self._deliver(rule, event, "schedule", transform_input=True)
        firing = Firing(rule.name, rule.arn, _utc(when), event, request_ids)
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
                    "scheduler",
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
                "scheduler",
                f"rule {rule.arn}: could not deliver to {target['Arn']}: {exc}",
                traceback=traceback.format_exc(),
            )

    def _invoke(self, rule: Rule, arn: str, payload: Any, source: str) -> str | None:
        runtime: LambdaRuntime | None = self.twin.parts.get("lambda")  # type: ignore[assignment]
        if runtime is None:
            self.twin.record_error("scheduler", f"rule {rule.arn}: no Lambda runtime for {arn}")
            return None
        try:
            function = runtime.function(arn)
        except LambdaRuntimeError as exc:
            self.twin.record_error("scheduler", f"rule {rule.arn}: {exc}")
            return None
        caller = Caller("events.amazonaws.com", rule.arn, rule.account_id)
        return runtime.invoke_async(function, payload, source=source, caller=caller)
