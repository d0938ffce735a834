"""Tell lvs.cf, JSON and keepalived.conf apart, and read or write any of them.

Detection looks at content, not file names, because lvs.cf has no extension
of its own and people keep all three as ``*.conf``: JSON starts with ``{``;
keepalived.conf has top-level ``keyword {`` blocks or keepalived keywords
(``virtual_server``, ``vrrp_instance``...); everything else is lvs.cf, whose
statements are ``key = value``.
"""

from __future__ import annotations

import re
from pathlib import Path

from piranha_web import lvscf
from piranha_web.lvscf import LvsConfig

from .jsonfmt import from_json, to_json
from .keepalived import read_keepalived, to_keepalived

FORMATS = ("lvs.cf", "json", "keepalived")
_KEEPALIVED = re.compile(
    r"^\s*(virtual_server|virtual_server_group|vrrp_instance|vrrp_sync_group|global_defs|"
    r"vrrp_script|static_ipaddress|static_routes|include)\b", re.MULTILINE)


def detect_format(text: str) -> str:
    """One of :data:`FORMATS` for ``text`` (lvs.cf when nothing else fits)."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return "json"
    if _KEEPALIVED.search(text):
        return "keepalived"
    return "lvs.cf"


def read_noted(text: str, fmt: str | None = None) -> tuple[LvsConfig, list[lvscf.Problem]]:
    """Parse ``text`` in ``fmt`` (detected when None), unvalidated, with the notes of a lossy
    conversion: what keepalived.conf says that lvs.cf cannot (lvs.cf and JSON lose nothing).

    Raises :class:`piranha_web.lvscf.LvsCfError` for anything the format itself refuses.
    """
    fmt = fmt or detect_format(text)
    if fmt == "json":
        return from_json(text), []
    if fmt == "keepalived":
        return read_keepalived(text)
    if fmt == "lvs.cf":
        return lvscf.parse(text), []
    raise ValueError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")


def loads_any(text: str, fmt: str | None = None, validate: bool = True, lossy: bool = False) -> LvsConfig:
    """Parse ``text`` in ``fmt`` (detected when None); validate unless told not to.

    Raises :class:`piranha_web.lvscf.LvsCfError` for any problem, whatever the
    format, so callers handle one exception type; settings lvs.cf cannot
    carry are problems too unless ``lossy`` (see :func:`read_noted`).
    """
    cfg, notes = read_noted(text, fmt)
    if notes and not lossy:
        raise lvscf.LvsCfError(notes)
    if validate:
        lvscf.validate(cfg)
    return cfg


def read_any(path: str | Path, fmt: str | None = None, validate: bool = True) -> LvsConfig:
    """Read a configuration file in any supported format (see :func:`loads_any`)."""
    return loads_any(Path(path).read_text(encoding="utf-8"), fmt, validate)


def dumps_as(cfg: LvsConfig, fmt: str, role: str = "primary") -> str:
    """Render ``cfg`` in ``fmt``; ``role`` only matters for keepalived."""
    if fmt == "json":
        return to_json(cfg)
    if fmt == "keepalived":
        return to_keepalived(cfg, role)
    if fmt == "lvs.cf":
        return lvscf.dumps(cfg)
    raise ValueError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
