"""Reversible attribute patches on moto's modules and model classes.

The twin's parts change moto's behaviour by replacing a few methods on its state models. Each
part keeps one ``Patches`` so ``uninstall()`` puts every original back exactly as it was
(including "the class had no own attribute, it inherited one").
"""

from __future__ import annotations

from typing import Any

_ABSENT = object()


class Patches:
    """Remembers what it replaced, and restores it in reverse order."""

    def __init__(self) -> None:
        self._saved: list[tuple[object, str, object]] = []

    def replace(self, owner: object, name: str, new: object) -> Any:
        """Set ``owner.name = new`` and return the original (what callers delegate to), or None
        when the owner had none (moto lacks some API methods the twin adds)."""
        original = getattr(owner, name, None)
        own = vars(owner).get(name, _ABSENT) if hasattr(owner, "__dict__") else _ABSENT
        self._saved.append((owner, name, own))
        setattr(owner, name, new)
        return original

    def restore(self) -> None:
        while self._saved:
            owner, name, own = self._saved.pop()
            if own is _ABSENT:
                delattr(owner, name)
            else:
                setattr(owner, name, own)
