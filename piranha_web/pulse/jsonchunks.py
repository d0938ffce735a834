"""JSON text in pieces, for documents whose big parts are produced on demand.

At 10,000 real servers the status document is megabytes.  Built as one
dict and encoded with one ``json.dumps`` call it holds the event loop for
a good fraction of a second (seconds in an emulated guest) and the GIL for
the whole encoding, which also stalls the heartbeat thread.  Its big parts
are therefore :class:`LazyList` / :class:`LazyMap` values: :func:`chunks`
walks them and yields the text one element at a time, so the caller can
let the loop (and other threads) run between elements; :func:`materialize`
turns the same document into plain lists and dicts for in-process readers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

_dumps = json.JSONEncoder(separators=(",", ":")).encode


class LazyList:
    """A JSON array whose elements are produced while it is written."""

    __slots__ = ("items",)

    def __init__(self, items: Iterable[Any]) -> None:
        self.items = items


class LazyMap:
    """A JSON object whose (key, value) pairs are produced while it is written."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: Iterable[tuple[str, Any]]) -> None:
        self.pairs = pairs


def grouped(pairs: Iterable[tuple[tuple[str, str], Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``((outer, inner), value)`` pairs, consecutive by ``outer``, as ``(outer, {inner: value})``.

    The status document's per-server maps are keyed by virtual server, then
    real server: this makes one lazy element per virtual server.
    """
    group: dict[str, Any] = {}
    current: str | None = None
    for (outer, inner), value in pairs:
        if outer != current and group:
            yield current or "", group
            group = {}
        current = outer
        group[inner] = value
    if group:
        yield current or "", group


def chunks(value: Any) -> Iterator[str]:
    """Compact JSON text of ``value``: one piece per element of each lazy part, one for the rest."""
    if isinstance(value, LazyList):
        yield "["
        for n, item in enumerate(value.items):
            yield from _element("," if n else "", item)
        yield "]"
    elif isinstance(value, LazyMap):
        yield "{"
        for n, (key, item) in enumerate(value.pairs):
            yield from _element(("," if n else "") + _dumps(key) + ":", item)
        yield "}"
    elif isinstance(value, dict) and _has_lazy(value):
        yield "{"
        for n, (key, item) in enumerate(value.items()):
            yield ("," if n else "") + _dumps(key) + ":"
            yield from chunks(item)
        yield "}"
    else:
        yield _dumps(value)


def _element(prefix: str, item: Any) -> Iterator[str]:
    """One element of a lazy part, with its separator (and key); only a lazy element is walked."""
    if isinstance(item, (LazyList, LazyMap)):
        yield prefix
        yield from chunks(item)
    else:
        yield prefix + _dumps(item)


def materialize(value: Any) -> Any:
    """The same value with every lazy part made a list or dict."""
    if isinstance(value, LazyList):
        return [_plain(item) for item in value.items]
    if isinstance(value, LazyMap):
        return {key: _plain(item) for key, item in value.pairs}
    if isinstance(value, dict) and _has_lazy(value):
        return {key: materialize(item) for key, item in value.items()}
    return value


def _plain(item: Any) -> Any:
    """An element of a lazy part: walked only when it is lazy itself."""
    return materialize(item) if isinstance(item, (LazyList, LazyMap)) else item


def _is_lazy(value: Any) -> bool:
    """Does ``value`` need walking (a lazy part, or a dict holding one)?"""
    return isinstance(value, (LazyList, LazyMap)) or (isinstance(value, dict) and _has_lazy(value))


def _has_lazy(value: dict[str, Any]) -> bool:
    """Does this dict hold a lazy part directly or in a nested dict?"""
    return any(_is_lazy(item) for item in value.values())
