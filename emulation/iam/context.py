"""Service-specific condition keys of a request: what AWS puts in the request context.

Only the keys the template uses, each read from the request as the Service Authorization
Reference defines it:

- ``transcribe:OutputBucketName`` / ``transcribe:OutputKey``: StartTranscriptionJob's own
  OutputBucketName and OutputKey parameters (absent from a request without them).
- ``dynamodb:LeadingKeys`` (multivalued): the partition key values of the items the request
  reads or writes (DynamoDB Developer Guide, "Using IAM policy conditions for fine-grained
  access control"): PutItem's Item, GetItem/UpdateItem/DeleteItem's Key, BatchWriteItem's and
  BatchGetItem's items of that table, Query's partition key equality. A Scan has none.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

ContextValue = str | tuple[str, ...]
# The partition key's attribute name of a table, or of one of its indexes (None: unknown).
HashKeyOf = Callable[[str, str | None], str | None]

_EQUALS = re.compile(r"^\s*([#:\w.-]+)\s*=\s*([#:\w.-]+)\s*(?:AND\b.*)?$", re.IGNORECASE | re.S)


def _scalar(value: Any) -> str | None:
    """A DynamoDB attribute value ({"S": "x"}, {"N": "1"}, {"B": ...}) as text."""
    if isinstance(value, Mapping) and len(value) == 1:
        ((kind, text),) = value.items()
        if kind in ("S", "N", "B"):
            return str(text)
    return None


def _leading(items: list[Mapping[str, Any]], hash_key: str) -> tuple[str, ...]:
    values = (_scalar(item.get(hash_key)) for item in items)
    return tuple(sorted({value for value in values if value is not None}))


def _query_partition(params: Mapping[str, Any], hash_key: str) -> tuple[str, ...]:
    names = params.get("ExpressionAttributeNames") or {}
    values = params.get("ExpressionAttributeValues") or {}
    match = _EQUALS.match(params.get("KeyConditionExpression") or "")
    if match is None:
        return ()
    left, right = match.groups()
    if names.get(left, left) == hash_key and right in values:
        found = _scalar(values[right])
        return (found,) if found is not None else ()
    return ()


def dynamodb_leading_keys(
    operation: str, params: Mapping[str, Any], table: str, hash_key: str
) -> tuple[str, ...] | None:
    """The partition key values ``operation`` touches in ``table`` (None: not defined)."""
    if operation == "PutItem":
        return _leading([params.get("Item") or {}], hash_key)
    if operation in ("GetItem", "UpdateItem", "DeleteItem"):
        return _leading([params.get("Key") or {}], hash_key)
    if operation == "Query":
        return _query_partition(params, hash_key)
    if operation == "BatchWriteItem":
        requests = (params.get("RequestItems") or {}).get(table) or []
        items = [
            (request.get("PutRequest") or {}).get("Item")
            or (request.get("DeleteRequest") or {}).get("Key")
            or {}
            for request in requests
        ]
        return _leading(items, hash_key)
    if operation == "BatchGetItem":
        keys = ((params.get("RequestItems") or {}).get(table) or {}).get("Keys") or []
        return _leading(keys, hash_key)
    return None


def service_context(
    prefix: str, operation: str, params: Mapping[str, Any], hash_key_of: HashKeyOf
) -> dict[str, ContextValue]:
    """The condition keys of this request beyond the global ones (lowercase names)."""
    context: dict[str, ContextValue] = {}
    if prefix == "transcribe" and operation == "StartTranscriptionJob":
        for name in ("OutputBucketName", "OutputKey"):
            if params.get(name):
                context[f"transcribe:{name.lower()}"] = str(params[name])
    elif prefix == "dynamodb":
        # One set for the request: the template's batches write one table (a batch over
        # several tables would need a context per table's ARN).
        tables = (
            list(params.get("RequestItems") or {})
            if operation.startswith("Batch")
            else [params.get("TableName")]
        )
        leading: set[str] = set()
        for table in filter(None, tables):
            hash_key = hash_key_of(str(table), params.get("IndexName"))
            keys = (
                None
                if hash_key is None
                else dynamodb_leading_keys(operation, params, table, hash_key)
            )
            if keys is not None:
                leading.update(keys)
        if operation in ("PutItem", "GetItem", "UpdateItem", "DeleteItem", "Query") or leading:
            context["dynamodb:leadingkeys"] = tuple(sorted(leading))
    return context
