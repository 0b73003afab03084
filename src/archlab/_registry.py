"""A small name -> factory registry shared by blocks, attention modules and models.

Follows torchvision's ``register_model`` decorator idea, with one addition: an
unknown name raises ``ValueError`` that lists the closest registered names.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterator
from typing import Any


def closest(name: str, choices: list[str] | tuple[str, ...] | Any, n: int = 3) -> list[str]:
    """Return up to ``n`` names from ``choices`` that look like ``name`` (difflib ratio)."""
    choices = list(choices)
    found = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    if not found:
        found = [c for c in choices if name.lower() in c.lower()][:n]
    return found


def unknown_name_message(kind: str, name: str, choices: list[str] | Any) -> str:
    """One-line message for an unknown ``name`` of ``kind``, with suggestions."""
    near = closest(name, choices)
    hint = (
        f"did you mean {', '.join(repr(c) for c in near)}?"
        if near
        else f"known: {', '.join(sorted(choices))}"
    )
    return f"unknown {kind} {name!r}; {hint}"


class Registry:
    """A dict of named factories with metadata, filled by a decorator."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., Any]] = {}
        self._meta: dict[str, dict[str, Any]] = {}

    def register(
        self, name: str | None = None, **meta: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: register ``fn`` under ``name`` (default: its ``__name__``)."""

        def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
            key = name or fn.__name__
            if key in self._entries:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._entries[key] = fn
            self._meta[key] = dict(meta)
            return fn

        return wrap

    def get(self, name: str) -> Callable[..., Any]:
        if name not in self._entries:
            raise ValueError(unknown_name_message(self.kind, name, self._entries))
        return self._entries[name]

    def meta(self, name: str) -> dict[str, Any]:
        self.get(name)
        return self._meta[name]

    def names(self, pattern: str | None = None) -> list[str]:
        names = sorted(self._entries)
        if pattern:
            names = [n for n in names if fnmatch.fnmatch(n, pattern)]
        return names

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
