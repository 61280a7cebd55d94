"""ListTranscriptionJobs as AWS pages it (botocore's service model documents each rule):

* "Jobs are ordered by creation date, with the newest job first" (Status);
* "If you do not specify a value, a default of 5 is used" (MaxResults, at most 100);
* "The search is not case sensitive" (JobNameContains);
* NextToken is opaque. A token the service did not issue, or one reused with other filters, is a
  BadRequestException (the twin's wording; AWS's text is not public) instead of moto's HTTP 500.

Tokens name the last job of the page (creation time and name) rather than an offset, so jobs
started while a client pages through the list neither repeat nor go missing.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from emulation.transcribe.exceptions import BadRequestException

DEFAULT_PAGE_SIZE = 5
INVALID_TOKEN = "The NextToken you provided isn't valid. Repeat the request without it."


@dataclass(frozen=True)
class ListQuery:
    status: str | None = None
    name_contains: str | None = None
    next_token: str | None = None
    max_results: int | None = None


def _sort_key(job: Any) -> tuple[str, str]:
    return (job.creation_time.isoformat(), job.transcription_job_name)


def _filters(query: ListQuery) -> list[str | None]:
    contains = query.name_contains.lower() if query.name_contains else None
    return [query.status, contains]


def _encode(key: tuple[str, str], query: ListQuery) -> str:
    raw = json.dumps({"after": list(key), "filters": _filters(query)}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode(token: str, query: ListQuery) -> tuple[str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        after = data["after"]
        valid = (
            data["filters"] == _filters(query)
            and isinstance(after, list)
            and len(after) == 2
            and all(isinstance(part, str) for part in after)
        )
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        valid = False
    if not valid:
        raise BadRequestException(INVALID_TOKEN)
    return (after[0], after[1])


def list_jobs(jobs: Iterable[Any], query: ListQuery) -> dict[str, Any]:
    """One page of ListTranscriptionJobs' response for `query`."""
    contains = query.name_contains.lower() if query.name_contains else None
    selected = [
        job
        for job in jobs
        if (query.status is None or job.status == query.status)
        and (contains is None or contains in job.transcription_job_name.lower())
    ]
    selected.sort(key=_sort_key, reverse=True)
    if query.next_token is not None:
        after = _decode(query.next_token, query)
        selected = [job for job in selected if _sort_key(job) < after]
    size = query.max_results or DEFAULT_PAGE_SIZE
    page = selected[:size]
    response: dict[str, Any] = {
        "TranscriptionJobSummaries": [job.response_object("LIST") for job in page]
    }
    if len(selected) > size:
        response["NextToken"] = _encode(_sort_key(page[-1]), query)
    if query.status:
        response["Status"] = query.status
    return response
