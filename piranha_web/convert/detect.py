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
from .keepalived import from_keepalived, to_keepalived

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


def loads_any(text: str, fmt: str | None = None, validate: bool = True) -> LvsConfig:
    """Parse ``text`` in ``fmt`` (detected when None); validate unless told not to.

    Raises :class:`piranha_web.lvscf.LvsCfError` for any problem, whatever the
    format, so callers handle one exception type.
    """
    fmt = fmt or detect_format(text)
    if fmt == "json":
        cfg = from_json(text)
    elif fmt == "keepalived":
        cfg = from_keepalived(text)
    elif fmt == "lvs.cf":
        cfg = lvscf.parse(text)
    else:
        raise ValueError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
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
