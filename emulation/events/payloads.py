"""The Scheduled Event EventBridge hands a scheduled rule's targets, as AWS documents it.

Standard library only: the twin's scheduler sends it, and ``asr-monitor generate-event
schedule`` prints the same one for ``invoke``. Source: EventBridge User Guide, "Creating a rule
that runs on a schedule" (the example event: version 0, detail-type "Scheduled Event", source
aws.events, the rule's ARN in resources, an empty detail).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any


def scheduled_event(rule_arn: str, when: datetime) -> dict[str, Any]:
    """The event for the rule ``arn:<partition>:events:<region>:<account>:rule/<name>``."""
    parts = rule_arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "events" or not parts[5].startswith("rule/"):
        raise ValueError(f"{rule_arn!r} is not an EventBridge rule ARN")
    moment = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": parts[4],
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": parts[3],
        "resources": [rule_arn],
        "detail": {},
    }
