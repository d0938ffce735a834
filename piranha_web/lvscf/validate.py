"""Semantic rules for an :class:`LvsConfig`: everything the parser lets through.

:func:`validate` collects *all* problems (each with the line of the offending
key when the config came from :func:`parse`, else line 0) and raises one
:class:`LvsCfError` carrying them, so a form or ``piranha-config check`` can
show everything at once.

Decisions worth knowing (deviations from Piranha are stricter, never looser,
except where noted):

* Addresses must be IP literals (IPv4 dotted quad, or IPv6 as an extension);
  hostnames are rejected because we never do DNS while reading the file.
* Masks (``vip_nmask``, ``nat_nmask``, ``pmask``) are contiguous dotted IPv4
  masks; ``vip_nmask``/``pmask`` may also be a prefix length (IPv6 services).
  ``0.0.0.0`` (or ``0``) means "no mask" as in Piranha.
* A virtual ``port`` of 0 is allowed only with an ``fwmark`` (the service then
  matches on the mark; IPVS keeps the packet's destination port).  Real-server
  ports follow the same rule through inheritance.
* Unset (``None``) or unspecified (``0.0.0.0``/``::``) addresses are only a
  problem on *active* virtual servers, real servers and failover services:
  Piranha's GUI writes inactive placeholders with ``0.0.0.0``.
* A missing ``primary`` is allowed (single-node setups managed by hand).
"""

from __future__ import annotations

import math
import socket
from typing import Any

from .errors import LvsCfError, Problem
from .model import (
    CONFLICT_ACTIONS,
    LOAD_MONITORS,
    NETWORKS,
    PROTOCOLS,
    SCHEDULERS,
    SERVICES,
    FailoverService,
    LvsConfig,
    RealServer,
    VirtualServer,
)

_IFNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_DIGITS = frozenset("0123456789")
_UNSPECIFIED = ("0.0.0.0", "::")
MAX_U32 = 2 ** 32 - 1


class _Collector:
    """Accumulates problems, resolving each key's line through the object."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, obj: Any, key: str, message: str) -> None:
        self.problems.append(Problem(_line(obj, key), message, key))


def _line(obj: Any, key: str) -> int:
    lines = getattr(obj, "_lines", None) or {}
    return lines.get(key, getattr(obj, "line", 0))


# --------------------------------------------------------------------------- value checks

def ip_family(text: str) -> int | None:
    """``socket.AF_INET``/``AF_INET6`` when ``text`` is an IP literal, else None.

    ``inet_pton`` is strict (no ``10.1``, no leading zeros, no hostnames) and
    much cheaper than ``ipaddress`` — this runs for every real server.
    """
    if not isinstance(text, str):
        return None
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    try:
        socket.inet_pton(family, text)
    except (OSError, ValueError):
        return None
    return family


def _mask_bits(text: str) -> int | None:
    """Prefix length of a contiguous dotted IPv4 mask, else None."""
    try:
        packed = socket.inet_pton(socket.AF_INET, text)
    except (OSError, ValueError, TypeError):
        return None
    value = int.from_bytes(packed, "big")
    inverted = value ^ MAX_U32
    if inverted & (inverted + 1):
        return None
    return 32 - inverted.bit_length()


def _check_mask(c: _Collector, obj: Any, key: str, value: str | None,
                family: int | None, allow_prefix: bool) -> None:
    if value is None:
        return
    if _mask_bits(value) is not None:
        if family == socket.AF_INET6 and value != "0.0.0.0":
            c.add(obj, key, f"dotted mask {value!r} does not fit an IPv6 address; "
                            "use a prefix length")
        return
    if allow_prefix and value and _DIGITS.issuperset(value) and len(value) <= 3:
        limit = 128 if family == socket.AF_INET6 else 32
        if int(value) <= limit:
            return
    what = "dotted mask or prefix length" if allow_prefix else "dotted mask"
    c.add(obj, key, f"Bad subnet mask specified: {value!r} (expected a contiguous {what}, "
                    "e.g. 255.255.255.0)")


def _check_ip(c: _Collector, obj: Any, key: str, value: str | None, required: bool) -> int | None:
    """Check an address; return its family.  ``required``: must be set and specified."""
    if value is None:
        if required:
            c.add(obj, key, "address is required")
        return None
    family = ip_family(value)
    if family is None:
        c.add(obj, key, f"invalid host name or ip address: {value!r} (use an IP address; "
                        "host names are not resolved)")
    elif required and value in _UNSPECIFIED:
        c.add(obj, key, f"address {value} is not a usable address")
    return family


def valid_ifname(name: str, allow_label: bool = True) -> bool:
    """Linux interface name (max 15 chars), optionally with an ``:label`` alias."""
    if not isinstance(name, str) or not 0 < len(name) <= 15:
        return False
    base, colon, label = name.partition(":")
    if colon:
        if not allow_label or not label or not _IFNAME_CHARS.issuperset(label):
            return False
    return bool(base) and base not in (".", "..") and _IFNAME_CHARS.issuperset(base)


def _check_device(c: _Collector, obj: Any, key: str, value: str | None,
                  allow_label: bool = True) -> None:
    if value is not None and not valid_ifname(value, allow_label):
        c.add(obj, key, f"invalid device name {value!r} (Linux interface name, at most 15 "
                        "characters" + (", optionally with a ':label')" if allow_label else ")"))


def _check_int(c: _Collector, obj: Any, key: str, low: float, high: float) -> None:
    value = getattr(obj, key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        c.add(obj, key, "integer expected")
    elif not low <= value <= high:
        c.add(obj, key, f"{value} is out of range ({low}..{high})")


def _check_seconds(c: _Collector, obj: Any, key: str, allow_zero: bool) -> None:
    value = getattr(obj, key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        c.add(obj, key, "number of seconds expected")
    elif value < 0 or (value == 0 and not allow_zero):
        c.add(obj, key, f"must be {'0 or more' if allow_zero else 'more than 0'} seconds")


def _check_choice(c: _Collector, obj: Any, key: str, choices: tuple[str, ...]) -> None:
    value = getattr(obj, key)
    if value is not None and value not in choices:
        c.add(obj, key, f"invalid argument {value!r} (one of: {', '.join(choices)})")


def _check_bool(c: _Collector, obj: Any, key: str) -> None:
    if not isinstance(getattr(obj, key), bool):
        c.add(obj, key, "boolean expected")


def _check_text(c: _Collector, obj: Any, key: str, value: Any) -> None:
    """A string value must survive being written to and read from the file."""
    if value is None:
        return
    if not isinstance(value, str):
        c.add(obj, key, "text expected")
        return
    for bad, what in (("\n", "a line break"), ("\r", "a carriage return"), ("\x00", "a NUL byte")):
        if bad in value:
            c.add(obj, key, f"value contains {what}")
            return
    if '"' in value and "'" in value:
        c.add(obj, key, "value contains both quote kinds (\" and ') and cannot be quoted")


def _check_name(c: _Collector, obj: Any, kind: str) -> None:
    name = obj.name
    if not isinstance(name, str) or not name:
        c.add(obj, kind, "name is required")
        return
    if any(ch in name for ch in " \t\n\r\x00") or name[0] in "\"'#" or name in ("{", "}", "="):
        c.add(obj, kind, f"invalid {kind} name {name!r} (one word; no blanks, quotes "
                         "or '#' at the start, not '{', '}' or '=')")


# --------------------------------------------------------------------------- object checks

_GLOBAL_TEXT = ("primary_shared", "backup_shared", "rsh_command", "debug_level", "active_cmd",
                "inactive_cmd", "ipvsadm", "service", "network", "reservation_conflict_action",
                "syncd_iface", "nat_nmask", "primary", "primary_private", "backup",
                "backup_private", "nat_router", "nat_router_device", "heartbeat_key_file")
_GLOBAL_BOOLS = ("backup_active", "heartbeat", "syncdaemon", "hard_shutdown", "sync")


def _check_global(c: _Collector, cfg: LvsConfig) -> None:
    for key in _GLOBAL_TEXT:
        _check_text(c, cfg, key, getattr(cfg, key))
    for key in _GLOBAL_BOOLS:
        _check_bool(c, cfg, key)
    _check_int(c, cfg, "serial_no", 0, 2 ** 63 - 1)
    _check_int(c, cfg, "heartbeat_port", 1, 65535)
    _check_int(c, cfg, "monitor_links", 0, 1)
    _check_int(c, cfg, "syncd_id", 0, 255)
    for key in ("tcp_timeout", "tcpfin_timeout", "udp_timeout"):
        _check_int(c, cfg, key, 0, MAX_U32)
    _check_seconds(c, cfg, "keepalive", allow_zero=False)
    _check_seconds(c, cfg, "deadtime", allow_zero=False)
    if (isinstance(cfg.keepalive, (int, float)) and isinstance(cfg.deadtime, (int, float))
            and 0 < cfg.deadtime <= cfg.keepalive):
        c.add(cfg, "deadtime", f"deadtime ({_n(cfg.deadtime)}) must be longer than keepalive "
                               f"({_n(cfg.keepalive)})")
    _check_choice(c, cfg, "service", SERVICES)
    _check_choice(c, cfg, "network", NETWORKS)
    _check_choice(c, cfg, "reservation_conflict_action", CONFLICT_ACTIONS)
    for key in ("primary", "primary_private", "backup", "backup_private"):
        _check_ip(c, cfg, key, getattr(cfg, key), required=False)
        if getattr(cfg, key) in _UNSPECIFIED:
            c.add(cfg, key, f"invalid host name or ip address: {getattr(cfg, key)}")
    if cfg.backup_active is True and not cfg.backup:
        c.add(cfg, "backup_active", "backup_active = 1 but no backup address is set")
    nat_family = _check_ip(c, cfg, "nat_router", cfg.nat_router, required=False)
    if cfg.nat_router is not None and cfg.nat_router in _UNSPECIFIED:
        c.add(cfg, "nat_router", f"address {cfg.nat_router} is not a usable address")
    if cfg.nat_router_device is not None and cfg.nat_router is None:
        c.add(cfg, "nat_router", "a nat_router device needs a nat_router address")
    _check_device(c, cfg, "nat_router", cfg.nat_router_device)
    _check_mask(c, cfg, "nat_nmask", cfg.nat_nmask, nat_family, allow_prefix=False)
    _check_device(c, cfg, "syncd_iface", cfg.syncd_iface, allow_label=False)
    if isinstance(cfg.heartbeat_key_file, str) and not cfg.heartbeat_key_file.startswith("/"):
        c.add(cfg, "heartbeat_key_file", "heartbeat_key_file must be an absolute path")
    for key in ("active_cmd", "inactive_cmd"):
        value = getattr(cfg, key)
        if isinstance(value, str) and not value.startswith("/"):
            c.add(cfg, key, "command must start with an absolute path")
    if (cfg.service == "lvs" and cfg.network == "nat" and cfg.nat_router is None
            and any(v.active for v in cfg.virtuals)):
        c.add(cfg, "network", "network = nat needs nat_router (the real servers' gateway)")


def _n(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


_VIRTUAL_TEXT = ("address", "device", "vip_nmask", "sorry_server", "protocol", "scheduler",
                 "pmask", "send", "expect", "send_program", "load_monitor", "client_monitor")


def _check_virtual(c: _Collector, cfg: LvsConfig, vs: VirtualServer) -> None:
    _check_name(c, vs, "virtual")
    for key in _VIRTUAL_TEXT:
        _check_text(c, vs, key, getattr(vs, key))
    for key in ("active", "use_regex", "quiesce_server"):
        _check_bool(c, vs, key)
    family = _check_ip(c, vs, "address", vs.address, required=vs.active is True)
    if vs.device is not None and vs.address is None:
        c.add(vs, "address", "a device needs an address")
    _check_device(c, vs, "address", vs.device)
    _check_mask(c, vs, "vip_nmask", vs.vip_nmask, family, allow_prefix=True)
    _check_mask(c, vs, "pmask", vs.pmask, family, allow_prefix=True)
    if vs.sorry_server is not None:
        sorry = _check_ip(c, vs, "sorry_server", vs.sorry_server, required=True)
        if family and sorry and sorry != family and cfg.network != "tunnel":
            c.add(vs, "sorry_server", "sorry_server and the virtual address are of "
                                      "different IP families")
    _check_int(c, vs, "fwmark", 1, MAX_U32)
    _check_int(c, vs, "port", 0 if vs.fwmark else 1, 65535)
    _check_int(c, vs, "persistent", 0, MAX_U32)
    _check_choice(c, vs, "protocol", PROTOCOLS)
    _check_choice(c, vs, "scheduler", SCHEDULERS)
    _check_choice(c, vs, "load_monitor", LOAD_MONITORS)
    _check_seconds(c, vs, "timeout", allow_zero=False)
    _check_seconds(c, vs, "reentry", allow_zero=True)
    for key in ("send_program", "client_monitor"):
        value = getattr(vs, key)
        if isinstance(value, str) and not value.startswith("/"):
            c.add(vs, key, "program must start with an absolute path")
    names: set[str] = set()
    targets: set[tuple[str, int]] = set()
    for rs in vs.servers:
        _check_server(c, cfg, vs, rs, family)
        if rs.name in names:
            c.add(rs, "server", f"duplicate server name {rs.name!r} in virtual {vs.name!r}")
        names.add(rs.name)
        target = (rs.address, vs.server_port(rs) if isinstance(vs.port, int) else 0)
        if target in targets and rs.address not in _UNSPECIFIED:
            c.add(rs, "address", f"real server {rs.address} port {target[1]} appears twice "
                                 f"in virtual {vs.name!r}")
        targets.add(target)


def _check_server(c: _Collector, cfg: LvsConfig, vs: VirtualServer, rs: RealServer,
                  vip_family: int | None) -> None:
    _check_name(c, rs, "server")
    _check_text(c, rs, "address", rs.address)
    for key in ("active",):
        _check_bool(c, rs, key)
    family = _check_ip(c, rs, "address", rs.address, required=rs.active is True)
    if (vip_family and family and family != vip_family and cfg.network != "tunnel"):
        c.add(rs, "address", "real server and virtual address are of different IP families "
                             "(only network = tunnel can mix them)")
    _check_int(c, rs, "weight", 0, 65535)
    _check_int(c, rs, "port", 0 if vs.fwmark else 1, 65535)


def _check_failover(c: _Collector, cfg: LvsConfig, fos: FailoverService) -> None:
    _check_name(c, fos, "failover")
    for key in ("address", "device", "vip_nmask", "send", "expect", "start_cmd", "stop_cmd"):
        _check_text(c, fos, key, getattr(fos, key))
    _check_bool(c, fos, "active")
    family = _check_ip(c, fos, "address", fos.address, required=fos.active is True)
    if fos.device is not None and fos.address is None:
        c.add(fos, "address", "a device needs an address")
    _check_device(c, fos, "address", fos.device)
    _check_mask(c, fos, "vip_nmask", fos.vip_nmask, family, allow_prefix=True)
    _check_int(c, fos, "port", 1, 65535)
    _check_seconds(c, fos, "timeout", allow_zero=False)
    _check_seconds(c, fos, "reentry", allow_zero=True)
    if fos.active is True and cfg.service == "fos":
        for key in ("start_cmd", "stop_cmd"):
            if not getattr(fos, key):
                c.add(fos, key, f"{key} is required for an active failover service")


def _check_conflicts(c: _Collector, cfg: LvsConfig) -> None:
    """Names must be unique; two active services must not claim the same traffic."""
    seen: dict[str, str] = {}
    for vs in cfg.virtuals:
        if vs.name in seen:
            c.add(vs, "virtual", f"duplicate virtual server name {vs.name!r}")
        seen[vs.name] = "virtual"
    fos_names: set[str] = set()
    for fos in cfg.failovers:
        if fos.name in fos_names:
            c.add(fos, "failover", f"duplicate failover service name {fos.name!r}")
        fos_names.add(fos.name)
    claims: dict[tuple[Any, ...], str] = {}
    for vs in cfg.virtuals:
        if vs.active is not True:
            continue
        if vs.fwmark:
            claim: tuple[Any, ...] = ("fwmark", vs.fwmark)
            what = f"fwmark {vs.fwmark}"
            key = "fwmark"
        elif vs.address is not None:
            claim = ("vip", vs.address, vs.port, vs.protocol)
            what = f"{vs.address}:{vs.port}/{vs.protocol}"
            key = "port"
        else:
            continue
        if claim in claims:
            c.add(vs, key, f"active virtual servers {claims[claim]!r} and {vs.name!r} "
                           f"both claim {what}")
        else:
            claims[claim] = vs.name


def problems(cfg: LvsConfig) -> list[Problem]:
    """Every problem in ``cfg``, sorted by line (stable), without raising."""
    c = _Collector()
    _check_global(c, cfg)
    for vs in cfg.virtuals:
        _check_virtual(c, cfg, vs)
    for fos in cfg.failovers:
        _check_failover(c, cfg, fos)
    _check_conflicts(c, cfg)
    return sorted(c.problems, key=lambda p: p.line)


def validate(cfg: LvsConfig) -> None:
    """Raise :class:`LvsCfError` listing every problem in ``cfg``; return None if valid."""
    found = problems(cfg)
    if found:
        raise LvsCfError(found)
