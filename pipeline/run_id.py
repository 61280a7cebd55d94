"""Run ids: one per scheduled run, sortable by time, valid in Transcribe job names and S3 keys."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timezone

RUN_ID_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z-[0-9a-f]{6}$")


def new_run_id(now: datetime | None = None) -> str:
    """Return e.g. ``2026-11-24T20-00-00Z-3fa9c1``: UTC time first so ids sort by time."""
    # timezone.utc, not datetime.UTC: the notebook instance runs Python 3.10.
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"{moment:%Y-%m-%dT%H-%M-%SZ}-{secrets.token_hex(3)}"


def is_run_id(value: str) -> bool:
    return bool(RUN_ID_PATTERN.match(value))


if __name__ == "__main__":  # used by lifecycle/on-start.sh
    print(new_run_id())
