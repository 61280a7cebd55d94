"""DynamoDB applies each write, its condition included, atomically; moto 5.2.5 does not.

AWS: "a conditional write succeeds only if the item attributes meet one or more expected
conditions" and concurrent conditional writes to one item are serialized, so of two
``attribute_not_exists(pk)`` puts exactly one succeeds (DynamoDB Developer Guide, "Condition
expressions" and "Conditional writes"). moto evaluates the condition against the current item
and then stores the new one, with no lock between, so threads of the twin's HTTP server
serving overlapping requests can both pass the same condition. This part serializes the
backend's write methods with one lock, which is stricter than per-item serialization but
equal in outcome (the twin is not a throughput benchmark).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from emulation.core.patching import Patches

# BatchWriteItem reaches the backend as put_item/delete_item per item (as on AWS, each item
# of a batch is its own atomic write); transactions call these under the same (re-entrant) lock.
WRITE_METHODS = ("put_item", "update_item", "delete_item", "transact_write_items")


class AtomicWrites:
    """Twin part: one lock around each DynamoDB write (condition check and write together)."""

    def __init__(self) -> None:
        self._patches = Patches()
        self._lock = threading.RLock()

    def install(self) -> None:
        from moto.dynamodb.models import DynamoDBBackend

        for name in WRITE_METHODS:
            self._patches.replace(
                DynamoDBBackend, name, self._locked(getattr(DynamoDBBackend, name))
            )

    def _locked(self, method: Callable[..., Any]) -> Callable[..., Any]:
        lock = self._lock

        @functools.wraps(method)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        return locked

    def reset(self) -> None:
        """Nothing recorded."""

    def uninstall(self) -> None:
        self._patches.restore()
