"""lvs.cf as JSON: a lossless, typed mirror of :class:`LvsConfig`.

The document is the model's fields by name (globals at the top level, then
``virtuals`` with their ``servers`` and ``failovers``), plus a ``format`` tag
so a stray JSON file is not mistaken for a configuration.  Every field is
written, defaults included, so the document says exactly what pulse will do
without the reader knowing Piranha's defaults.  Reading is strict: unknown
keys and wrong types are errors naming the JSON path (``virtuals[0].port``),
because a silently dropped key is a silently changed load balancer.
"""

from __future__ import annotations

import json
import math
import types
import typing
from dataclasses import MISSING, fields
from typing import Any

from piranha_web.lvscf import FailoverService, LvsCfError, LvsConfig, Problem, RealServer, VirtualServer
from piranha_web.lvscf.model import Director

FORMAT_TAG = "piranha-web/lvs.cf"
FORMAT_VERSION = 1
_HEADER = ("format", "format_version")
# Children: key in the parent -> element class.
_CHILDREN: dict[type, dict[str, type]] = {
    LvsConfig: {"virtuals": VirtualServer, "failovers": FailoverService, "directors": Director},
    VirtualServer: {"servers": RealServer},
    RealServer: {},
    FailoverService: {},
    Director: {},
}


def _public_fields(cls: type) -> list[Any]:
    """Fields that carry meaning (not the parser's line bookkeeping)."""
    return [f for f in fields(cls) if f.name != "line" and not f.name.startswith("_")]


def _as_dict(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    children = _CHILDREN[type(obj)]
    for f in _public_fields(type(obj)):
        value = getattr(obj, f.name)
        out[f.name] = [_as_dict(child) for child in value] if f.name in children else value
    return out


def to_dict(cfg: LvsConfig) -> dict[str, Any]:
    """``cfg`` as plain JSON-able data, with the format tag first."""
    return {"format": FORMAT_TAG, "format_version": FORMAT_VERSION, **_as_dict(cfg)}


def to_json(cfg: LvsConfig) -> str:
    """``cfg`` as an indented JSON document ending in a newline."""
    return json.dumps(to_dict(cfg), indent=2, ensure_ascii=False) + "\n"


def _error(path: str, message: str, line: int = 0) -> LvsCfError:
    return LvsCfError(Problem(line, message, path or None))


def _allowed(hint: Any) -> tuple[type, ...]:
    """Python types a JSON value may have for a field annotated ``hint``."""
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    members = typing.get_args(hint) if union else (hint,)
    allowed: list[type] = []
    for member in members:
        if member is type(None):
            allowed.append(type(None))
        elif member is float:
            allowed.extend((int, float))
        elif typing.get_origin(member) is list:     # a repeatable key (bgp_peer): its lines
            allowed.append(list)
        elif isinstance(member, type):
            allowed.append(member)
    return tuple(allowed)


def _type_name(types_: tuple[type, ...]) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}
    wanted = [names.get(t, t.__name__) for t in types_ if not (t is int and float in types_)]
    return " or ".join(wanted)


def _check_value(path: str, value: Any, hint: Any) -> Any:
    allowed = _allowed(hint)
    # bool is an int in Python; JSON true is never a port or a weight.
    if isinstance(value, bool) and bool not in allowed:
        raise _error(path, f"expected {_type_name(allowed)}, got boolean")
    if isinstance(value, float) and not math.isfinite(value):
        raise _error(path, "expected a finite number")
    if isinstance(value, float) and int in allowed and float not in allowed:
        if not value.is_integer():
            raise _error(path, "expected integer, got a fraction")
        value = int(value)   # 80.0 is what some JSON writers make of 80
    if isinstance(value, list) and not all(isinstance(item, str) for item in value):
        raise _error(path, "expected an array of strings")
    if not isinstance(value, allowed):
        got = "null" if value is None else type(value).__name__
        got = {"dict": "object", "list": "array", "str": "string", "float": "number"}.get(got, got)
        raise _error(path, f"expected {_type_name(allowed)}, got {got}")
    return value


def _build(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise _error(path, "expected an object")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in _public_fields(cls)}
    unknown = sorted(set(data) - set(known) - (set(_HEADER) if cls is LvsConfig else set()))
    if unknown:
        raise _error(f"{path}.{unknown[0]}" if path else unknown[0], "unknown key")
    kwargs: dict[str, Any] = {}
    for name, f in known.items():
        where = f"{path}.{name}" if path else name
        if name not in data:
            if f.default is MISSING and f.default_factory is MISSING:  # type: ignore[misc]
                raise _error(where, "required key is missing")
            continue
        if name in _CHILDREN[cls]:
            items = data[name]
            if not isinstance(items, list):
                raise _error(where, "expected an array")
            kwargs[name] = [_build(_CHILDREN[cls][name], item, f"{where}[{i}]")
                            for i, item in enumerate(items)]
        else:
            kwargs[name] = _check_value(where, data[name], hints[name])
    return cls(**kwargs)


def from_dict(data: Any) -> LvsConfig:
    """Build an :class:`LvsConfig` from JSON data; strict about keys and types.

    Missing keys take the model's (Piranha's) defaults, so a hand-written
    document may be as short as ``{"virtuals": []}``.  Semantic checks are left
    to :func:`piranha_web.lvscf.validate`, as for lvs.cf text.
    """
    if isinstance(data, dict):
        tag = data.get("format", FORMAT_TAG)
        if tag != FORMAT_TAG:
            raise _error("format", f"not a piranha-web configuration (format {tag!r}, "
                                   f"expected {FORMAT_TAG!r})")
        version = data.get("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise _error("format_version", f"unsupported format_version {version!r} "
                                           f"(this version reads {FORMAT_VERSION})")
    return _build(LvsConfig, data, "")


def from_json(text: str) -> LvsConfig:
    """Parse a JSON document written by :func:`to_json` (or by hand)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _error("", f"invalid JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None
    except ValueError as exc:          # an integer of more than 4300 digits
        raise _error("", f"invalid JSON: {exc}") from None
    except RecursionError:
        raise _error("", "invalid JSON: nested too deeply") from None
    return from_dict(data)


def field_types(cls: type) -> dict[str, Any]:
    """Public field name -> type hint of a model class (children excluded)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in _public_fields(cls) if f.name not in _CHILDREN[cls]}


def check_fields(cls: type, data: Any, allowed: tuple[str, ...] | None = None) -> dict[str, Any]:
    """A partial object (API PATCH/POST body): known keys only, each of the model's type.

    Raises :class:`LvsCfError` whose problems name each bad key; semantic
    checks stay with ``lvscf.validate`` (run by the service layer).
    """
    if not isinstance(data, dict):
        raise _error("", "expected a JSON object")
    types_ = field_types(cls)
    names = tuple(types_) if allowed is None else allowed
    problems: list[Problem] = []
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            problems.append(Problem(0, "unknown or read-only field", key))
            continue
        try:
            out[key] = _check_value(key, value, types_[key])
        except LvsCfError as err:
            problems.extend(err.problems)
    if problems:
        raise LvsCfError(problems)
    return out
