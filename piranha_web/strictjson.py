"""Request bodies as plain JSON only: no NaN or Infinity, no nesting deeper than a config needs.

Python's decoder accepts ``NaN``/``Infinity`` (no lvs.cf value or database
column can hold them) and recurses once per nesting level, so a body of
100,000 brackets raises RecursionError wherever a view or a form reads
``request.get_json()``.  The app's JSON provider refuses both up front, and
a body it refuses reads as "no JSON" (the API answers 400) instead of an
exception in whatever code looked at it.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Request
from flask.json.provider import DefaultJSONProvider

MAX_DEPTH = 32
_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def too_deep(body: str | bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays/objects nest deeper than ``limit`` (brackets inside strings do not count)."""
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    depth = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # closing quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            if depth > limit:
                return True
        elif byte in _CLOSE:
            depth -= 1
    return False


def loads(body: str | bytes, **kwargs: Any) -> Any:
    """``json.loads`` that raises ValueError for NaN/Infinity and for too deep nesting."""
    if too_deep(body):
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(body, parse_constant=_refuse_constant, **kwargs)
    except RecursionError:  # pragma: no cover - too_deep stops this first
        raise ValueError("JSON nested too deeply") from None


class StrictJSONProvider(DefaultJSONProvider):
    """The app's JSON provider: standard dumps, strict :func:`loads`."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:  # noqa: D102
        return loads(s, **kwargs)


class StrictRequest(Request):
    """A request whose unreadable JSON body is ``None`` for every reader (views, Flask-WTF forms)."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:  # noqa: D102
        return None
