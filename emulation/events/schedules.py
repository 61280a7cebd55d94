"""EventBridge's schedule expressions as AWS reads them: ``rate()`` and six-field ``cron()``.

``rate(1 minute)``, ``rate(5 minutes)``, hours, days (singular for 1);
``cron(minutes hours day-of-month month day-of-week year)`` in UTC, with exactly one of the two
day fields "?", day-of-week 1-7 = SUN-SAT or names, and ``L``, ``nL``, ``n#k``, ``nW``. Not
supported (raises ScheduleExpressionError): ``LW``, and ``L`` or ``W`` combined with names or
lists. croniter evaluates the translated expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import CroniterBadCronError, croniter

from emulation.core.errors import TwinConfigError

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


class ScheduleExpressionError(TwinConfigError):
    """A ScheduleExpression that AWS would reject, or that the twin cannot evaluate."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc(moment: datetime) -> datetime:
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
