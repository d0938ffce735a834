"""Write an :class:`LvsConfig` as lvs.cf text in Piranha's GUI layout.

Key order and indentation (tabs) follow the PHP GUI's ``write_config``
(parse.php) so a file Piranha's GUI wrote comes back with a minimal diff:
global keys, then ``failover`` blocks, then ``virtual`` blocks with their
``server`` blocks.  Keys the GUI always writes are always written; every other
key only when it differs from the parser default, so nothing we write changes
meaning when read back: ``parse(dumps(c)) == c`` for every valid ``c``.
Unlike the GUI, lines are never truncated and keys Piranha's reader rejects
(``expect_program``, ``deadtime`` in a virtual block...) are never written.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any

from .errors import LvsCfError, Problem
from .model import FailoverService, LvsConfig, RealServer, VirtualServer

# (key, kind, always) — kind: "num", "str", "quoted" (send/expect/commands), "addr".
_GLOBAL_KEYS: tuple[tuple[str, str, bool], ...] = (
    ("serial_no", "num", True),
    ("primary", "str", False),
    ("primary_private", "str", False),
    ("primary_shared", "str", False),
    ("service", "str", True),
    ("rsh_command", "str", False),
    ("backup_active", "num", True),
    ("backup", "str", False),
    ("backup_private", "str", False),
    ("backup_shared", "str", False),
    ("heartbeat", "num", True),
    ("heartbeat_port", "num", True),
    ("keepalive", "num", True),
    ("deadtime", "num", True),
    ("network", "str", True),
    ("nat_router", "nat", False),
    ("nat_nmask", "str", False),
    ("reservation_conflict_action", "str", False),
    ("debug_level", "str", True),
    ("active_cmd", "str", False),
    ("inactive_cmd", "str", False),
    ("monitor_links", "num", False),
    ("syncdaemon", "num", False),
    # Not written by the GUI (0.8.6 additions and legacy keys): after its keys.
    ("syncd_iface", "str", False),
    ("syncd_id", "num", False),
    ("heartbeat_key_file", "str", False),   # extension: pulse heartbeat secret
    ("tcp_timeout", "num", False),
    ("tcpfin_timeout", "num", False),
    ("udp_timeout", "num", False),
    ("hard_shutdown", "num", False),
    ("ipvsadm", "str", False),
    ("sync", "num", False),
)

_VIRTUAL_KEYS: tuple[tuple[str, str, bool], ...] = (
    ("active", "num", True),
    ("address", "addr", False),
    ("sorry_server", "str", False),
    ("vip_nmask", "str", False),
    ("fwmark", "num", False),
    ("port", "num", True),
    ("persistent", "num", False),
    ("pmask", "str", False),
    ("send", "quoted", False),
    ("expect", "quoted", False),
    ("use_regex", "num", True),
    ("send_program", "quoted", False),
    ("load_monitor", "str", False),
    ("scheduler", "str", True),
    ("protocol", "str", True),
    ("timeout", "num", True),
    ("reentry", "num", True),
    ("quiesce_server", "num", True),
    ("client_monitor", "str", False),
)

_SERVER_KEYS: tuple[tuple[str, str, bool], ...] = (
    ("address", "str", True),
    ("active", "num", True),
    ("port", "num", False),
    ("weight", "num", True),
)

_FAILOVER_KEYS: tuple[tuple[str, str, bool], ...] = (
    ("active", "num", True),
    ("address", "addr", False),
    ("vip_nmask", "str", False),
    ("port", "num", True),
    ("send", "quoted", False),
    ("expect", "quoted", False),
    ("timeout", "num", True),
    ("reentry", "num", True),
    ("start_cmd", "quoted", False),
    ("stop_cmd", "quoted", False),
)


def _defaults(cls: type) -> dict[str, Any]:
    return {f.name: f.default for f in fields(cls) if f.default is not MISSING}


_DEFAULTS = {cls: _defaults(cls) for cls in (LvsConfig, VirtualServer, RealServer, FailoverService)}


def _num(value: Any) -> str:
    if value is True or value is False:
        return "1" if value else "0"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _unwritable(obj: Any, key: str, why: str) -> LvsCfError:
    lines = getattr(obj, "_lines", {})
    return LvsCfError(Problem(lines.get(key, getattr(obj, "line", 0)), why, key))


def _token(obj: Any, key: str, value: str, prefer_quotes: bool = False) -> str:
    """``value`` as one lvs.cf token: bare when possible, else quoted."""
    if "\n" in value or "\r" in value:
        raise _unwritable(obj, key, "value contains a line break and cannot be written")
    bare_ok = (value != "" and " " not in value and "\t" not in value
               and value[0] != '"' and value[0] != "'")
    if bare_ok and not prefer_quotes:
        return value
    if '"' not in value:
        return f'"{value}"'
    if "'" not in value:
        return f"'{value}'"
    if bare_ok:
        return value
    raise _unwritable(obj, key, "value contains both quote kinds and cannot be written")


def _emit(out: list[str], indent: str, obj: Any, keys: tuple[tuple[str, str, bool], ...]) -> None:
    defaults = _DEFAULTS[type(obj)]
    for key, kind, always in keys:
        if kind == "nat":
            value = obj.nat_router
            if value is None:
                continue
            text = _token(obj, key, value)
            if obj.nat_router_device is not None:
                text += " " + _token(obj, key, obj.nat_router_device)
            out.append(f"{indent}nat_router = {text}")
            continue
        value = getattr(obj, key)
        if value is None or (not always and value == defaults.get(key)):
            continue
        if kind == "num":
            text = _num(value)
        elif kind == "addr":
            text = _token(obj, key, value)
            if obj.device is not None:
                text += " " + _token(obj, key, obj.device)
        else:
            text = _token(obj, key, value, prefer_quotes=(kind == "quoted"))
        out.append(f"{indent}{key} = {text}")


def dumps(cfg: LvsConfig) -> str:
    """Render ``cfg`` as lvs.cf text (GUI key order, tab indentation, final newline).

    Raises :class:`LvsCfError` only for values no lvs.cf line can carry (line
    breaks, or blanks together with both quote kinds); ``validate`` reports those
    too, so a validated config always renders.
    """
    out: list[str] = []
    _emit(out, "", cfg, _GLOBAL_KEYS)
    for fos in cfg.failovers:
        out.append(f"failover {_token(fos, 'failover', fos.name)} {{")
        _emit(out, "\t", fos, _FAILOVER_KEYS)
        out.append("}")
    for vs in cfg.virtuals:
        out.append(f"virtual {_token(vs, 'virtual', vs.name)} {{")
        _emit(out, "\t", vs, _VIRTUAL_KEYS)
        for rs in vs.servers:
            out.append(f"\tserver {_token(rs, 'server', rs.name)} {{")
            _emit(out, "\t\t", rs, _SERVER_KEYS)
            out.append("\t}")
        out.append("}")
    out.append("")
    return "\n".join(out)
