"""Read lvs.cf text into an :class:`LvsConfig`, following Piranha's lvsconfig.c.

The parser is deliberately *syntactic*: it accepts every file Piranha's reader
accepts (comments, CRLF, free indentation, quoting, ``strtol`` integers,
service-name ports, duplicate keys, legacy keys) and converts values to the
model's types.  Whether a value makes sense (an IP literal, a known scheduler,
a port in range...) is :func:`piranha_web.lvscf.validate.validate`'s job, so a
console can show *every* semantic problem at once instead of the first one.

Deviations from Piranha, on purpose:

* No DNS at parse time: host values are stored as written and the validator
  requires IP literals (IPv4, or IPv6 as an extension).
* ``address = IP`` without a device (and ``nat_router = IP``) is accepted as an
  extension; pulse then picks the interface itself.
* ``keepalive``, ``deadtime``, ``timeout`` and ``reentry`` accept fractional
  seconds.
* ``fwmark = 0`` means "no fwmark" (as in Piranha) and is stored as ``None``.
* Legacy keys that no daemon ever used (``master``, ``dirs = [ ... ]``), FOS-only
  ``start_cmd``/``stop_cmd`` inside a *virtual* block, and LVS-only keys or
  ``server`` blocks inside a *failover* block are checked for syntax and then
  discarded: they had no effect in Piranha either, so ``fmt`` drops them.
"""

from __future__ import annotations

import math
import socket
from typing import Any, Callable

from .errors import LvsCfError, Problem
from .model import FailoverService, LvsConfig, RealServer, VirtualServer

# Messages are lvsconfig.c's lvsStrerror() strings where Piranha had one.
E_QUOTE = "quotation mismatch"
E_EOF = "unexpected end of file"
E_EXTRA = "unexpected arguments"
E_EQUAL = "equal (=) expected after command"
E_MISSING = "missing arguments"
E_INT = "integer expected"
E_BOOL = "boolean expected"
E_UNKNOWN = "unknown command"
E_LIST = "list expected"
E_EMPTY = "Empty configuration"

_BLANKS = " \t"
_OTHER_ASCII_SPACE = "\v\f\x1c\x1d\x1e\x1f"
_DIGITS = frozenset("0123456789")
_OCTAL = frozenset("01234567")
_HEX = frozenset("0123456789abcdefABCDEF")
_FLOAT_CHARS = frozenset("0123456789.eE+-")

# Used only when the host has no services database (minimal containers).
_FALLBACK_SERVICES = {
    "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "http": 80, "www": 80,
    "pop3": 110, "imap": 143, "https": 443, "imaps": 993, "pop3s": 995,
}


class _Stop(Exception):
    """Internal: carries one syntax problem up to :func:`parse`."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key


# --------------------------------------------------------------------------- lexing

def _tokenize_quoted(line: str) -> list[str]:
    """Split a line that contains quote characters (the slow path).

    A token that *starts* with ``"`` or ``'`` runs to the next same quote,
    which must end the token; quotes are removed, nothing is unescaped.
    """
    toks: list[str] = []
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c == " " or c == "\t":
            i += 1
            continue
        if c == '"' or c == "'":
            j = line.find(c, i + 1)
            if j < 0 or (j + 1 < n and line[j + 1] not in _BLANKS):
                raise _Stop(E_QUOTE)
            toks.append(line[i + 1:j])
            i = j + 1
        else:
            j = i + 1
            while j < n and line[j] != " " and line[j] != "\t":
                j += 1
            toks.append(line[i:j])
            i = j
    return toks


def _tokenize(line: str) -> list[str]:
    """Tokens of one (already stripped, non-comment) line."""
    if '"' in line or "'" in line:
        return _tokenize_quoted(line)
    if "\t" in line:
        line = line.replace("\t", " ")
    toks = line.split(" ")
    if "" in toks:
        toks = [t for t in toks if t]
    return toks


# --------------------------------------------------------------------------- values

def c_int(tok: str) -> int:
    """Integer as C ``strtol(tok, &end, 0)`` with no trailing garbage allowed.

    ``0x1F`` is hex, a leading ``0`` means octal (``010`` == 8), a sign is allowed.
    """
    if tok.isdigit() and tok.isascii() and (tok[0] != "0" or len(tok) == 1):
        return int(tok)         # the common case: plain decimal
    s = tok.lstrip(" \t\n\v\f\r")
    neg = False
    if s[:1] in ("+", "-"):
        neg = s[0] == "-"
        s = s[1:]
    if not s:
        raise _Stop(E_INT)
    if s[0] != "0":
        if not _DIGITS.issuperset(s):
            raise _Stop(E_INT)
        value = int(s)
    elif len(s) > 2 and s[1] in "xX" and _HEX.issuperset(s[2:]):
        value = int(s[2:], 16)
    elif _OCTAL.issuperset(s):
        value = int(s, 8)
    else:
        raise _Stop(E_INT)
    return -value if neg else value


def _one(vals: list[str]) -> str:
    if not vals:
        raise _Stop(E_MISSING)
    if len(vals) > 1:
        raise _Stop(E_EXTRA)
    return vals[0]


# Token converters: one value token -> model value (the common, fast case).

def _t_bool(tok: str) -> bool:
    n = c_int(tok)
    if n != 0 and n != 1:
        raise _Stop(E_BOOL)
    return n == 1


def _t_seconds(tok: str) -> float:
    """Integer seconds as Piranha, or (our extension) a decimal fraction."""
    try:
        return c_int(tok)
    except _Stop:
        pass
    s = tok.strip()
    if s and _FLOAT_CHARS.issuperset(s) and any(ch in _DIGITS for ch in s):
        try:
            value = float(s)
        except ValueError:
            pass
        else:
            if math.isfinite(value):
                return int(value) if value.is_integer() and abs(value) < 2 ** 53 else value
    raise _Stop(E_INT)


def _t_port(tok: str) -> int:
    """Port number, or a TCP service name resolved like ``getservbyname``."""
    try:
        return c_int(tok)
    except _Stop:
        pass
    try:
        return socket.getservbyname(tok, "tcp")
    except (OSError, ValueError, UnicodeError):
        if tok in _FALLBACK_SERVICES:
            return _FALLBACK_SERVICES[tok]
    raise _Stop(E_INT)


def _t_fwmark(tok: str) -> int | None:
    return c_int(tok) or None


# Value converters: all value tokens -> model value (checks the token count).

def _v_str(vals: list[str]) -> str:
    return _one(vals)


def _v_int(vals: list[str]) -> int:
    return c_int(_one(vals))


def _v_bool(vals: list[str]) -> bool:
    return _t_bool(_one(vals))


def _v_seconds(vals: list[str]) -> float:
    return _t_seconds(_one(vals))


def _v_port(vals: list[str]) -> int:
    return _t_port(_one(vals))


def _v_fwmark(vals: list[str]) -> int | None:
    return _t_fwmark(_one(vals))


def _v_list(vals: list[str]) -> list[str]:
    if len(vals) < 2 or vals[0] != "[" or vals[-1] != "]":
        raise _Stop(E_LIST)
    return vals[1:-1]


def _v_host_device(vals: list[str]) -> tuple[str, str | None]:
    """``IP DEVICE`` (Piranha) or just ``IP`` (our extension)."""
    if not vals:
        raise _Stop(E_MISSING)
    if len(vals) > 2:
        raise _Stop(E_EXTRA)
    return vals[0], (vals[1] if len(vals) == 2 else None)


# --------------------------------------------------------------------------- keyword tables

# A table entry is (attr, fn):
#   attr a field name -> single-token key: setattr(obj, attr, fn(token)) (fn None: the token)
#   attr ""           -> single-token key checked with fn(token) and discarded
#   attr None         -> fn(obj, value_tokens) does everything (multi-token keys)
Entry = tuple[Any, Any]

_SINGLE: dict[Callable[[list[str]], Any], Callable[[str], Any] | None] = {
    _v_str: None, _v_int: c_int, _v_bool: _t_bool, _v_seconds: _t_seconds,
    _v_port: _t_port, _v_fwmark: _t_fwmark,
}


def _field(attr: str, conv: Callable[[list[str]], Any]) -> Entry:
    """Key whose value sets the model field ``attr``."""
    if conv in _SINGLE:
        return (attr, _SINGLE[conv])

    def setter(obj: Any, vals: list[str]) -> None:
        setattr(obj, attr, conv(vals))
    return (None, setter)


def _discard(conv: Callable[[list[str]], Any]) -> Entry:
    """Key Piranha accepted but that means nothing to us: check its syntax, drop it."""
    if conv in _SINGLE:
        return ("", _SINGLE[conv])

    def setter(obj: Any, vals: list[str]) -> None:
        conv(vals)
    return (None, setter)


def _special(fn: Callable[[Any, list[str]], None]) -> Entry:
    return (None, fn)


def _set_address(obj: Any, vals: list[str]) -> None:
    obj.address, obj.device = _v_host_device(vals)


def _set_nat_router(obj: Any, vals: list[str]) -> None:
    obj.nat_router, obj.nat_router_device = _v_host_device(vals)


def _set_virtual_port(obj: Any, vals: list[str]) -> None:
    """Virtual ``port``: servers declared earlier keep the port they inherited.

    Piranha copies the virtual's port into each real server when its ``server``
    line is read; we keep ``None`` (inherit) instead, so pin the old value on the
    servers already read to preserve the file's meaning.
    """
    port = _v_port(vals)
    for server in obj.servers:
        if server.port is None:
            server.port = obj.port
    obj.port = port


_GLOBAL: dict[str, Entry] = {
    "serial_no": _field("serial_no", _v_int),
    "primary": _field("primary", _v_str),
    "primary_private": _field("primary_private", _v_str),
    "primary_shared": _field("primary_shared", _v_str),
    "backup": _field("backup", _v_str),
    "backup_private": _field("backup_private", _v_str),
    "backup_shared": _field("backup_shared", _v_str),
    "backup_active": _field("backup_active", _v_bool),
    "service": _field("service", _v_str),
    "rsh_command": _field("rsh_command", _v_str),
    "heartbeat": _field("heartbeat", _v_bool),
    "heartbeat_port": _field("heartbeat_port", _v_port),
    "keepalive": _field("keepalive", _v_seconds),
    "deadtime": _field("deadtime", _v_seconds),
    "heartbeat_key_file": _field("heartbeat_key_file", _v_str),  # extension (pulse HMAC)
    "network": _field("network", _v_str),
    "nat_router": _special(_set_nat_router),
    "nat_nmask": _field("nat_nmask", _v_str),
    "reservation_conflict_action": _field("reservation_conflict_action", _v_str),
    "debug_level": _field("debug_level", _v_str),
    "active_cmd": _field("active_cmd", _v_str),
    "inactive_cmd": _field("inactive_cmd", _v_str),
    "monitor_links": _field("monitor_links", _v_int),
    "syncdaemon": _field("syncdaemon", _v_bool),
    "syncd_iface": _field("syncd_iface", _v_str),
    "syncd_id": _field("syncd_id", _v_int),
    "tcp_timeout": _field("tcp_timeout", _v_int),
    "tcpfin_timeout": _field("tcpfin_timeout", _v_int),
    "udp_timeout": _field("udp_timeout", _v_int),
    "hard_shutdown": _field("hard_shutdown", _v_bool),
    "ipvsadm": _field("ipvsadm", _v_str),
    "sync": _field("sync", _v_bool),
    # legacy, parsed and unused by Piranha
    "master": _discard(_v_str),
    "dirs": _discard(_v_list),
}

_VIRTUAL: dict[str, Entry] = {
    "active": _field("active", _v_bool),
    "address": _special(_set_address),
    "vip_nmask": _field("vip_nmask", _v_str),
    "sorry_server": _field("sorry_server", _v_str),
    "fwmark": _field("fwmark", _v_fwmark),
    "port": _special(_set_virtual_port),
    "protocol": _field("protocol", _v_str),
    "scheduler": _field("scheduler", _v_str),
    "persistent": _field("persistent", _v_int),
    "pmask": _field("pmask", _v_str),
    "send": _field("send", _v_str),
    "expect": _field("expect", _v_str),
    "use_regex": _field("use_regex", _v_bool),
    "send_program": _field("send_program", _v_str),
    "load_monitor": _field("load_monitor", _v_str),
    "timeout": _field("timeout", _v_seconds),
    "reentry": _field("reentry", _v_seconds),
    "quiesce_server": _field("quiesce_server", _v_bool),
    "client_monitor": _field("client_monitor", _v_str),
    "start_cmd": _discard(_v_str),
    "stop_cmd": _discard(_v_str),
    "master": _discard(_v_str),
    "dirs": _discard(_v_list),
}

# Same parser as virtual blocks: check the syntax of LVS-only keys, keep FOS ones.
_FAILOVER: dict[str, Entry] = dict(_VIRTUAL)
_FAILOVER.update({
    "fwmark": _discard(_v_fwmark),
    "persistent": _discard(_v_int),
    "use_regex": _discard(_v_bool),
    "quiesce_server": _discard(_v_bool),
    "protocol": _discard(_v_str),
    "scheduler": _discard(_v_str),
    "sorry_server": _discard(_v_str),
    "pmask": _discard(_v_str),
    "send_program": _discard(_v_str),
    "load_monitor": _discard(_v_str),
    "client_monitor": _discard(_v_str),
    "port": _field("port", _v_port),
    "start_cmd": _field("start_cmd", _v_str),
    "stop_cmd": _field("stop_cmd", _v_str),
})

_SERVER: dict[str, Entry] = {
    "address": _field("address", _v_str),
    "active": _field("active", _v_bool),
    "weight": _field("weight", _v_int),
    "port": _field("port", _v_int),
}

KEYWORDS = {
    "global": frozenset(_GLOBAL), "virtual": frozenset(_VIRTUAL),
    "failover": frozenset(_FAILOVER), "server": frozenset(_SERVER),
}


# --------------------------------------------------------------------------- parser

def parse(text: str) -> LvsConfig:
    """Parse lvs.cf ``text``; raise :class:`LvsCfError` naming the first bad line.

    Only syntax and value types are checked here; call ``validate`` (or use
    ``load``) for the semantic rules.
    """
    if not text.strip(" \t\r\n"):
        raise LvsCfError(Problem(0, E_EMPTY))
    cfg = LvsConfig()
    block: Any = cfg
    kind = "global"
    table = _GLOBAL
    outer: Any = None          # virtual/failover that holds the current server block
    outer_kind = ""
    opened_at = outer_opened_at = 0
    lineno = 0
    toks: list[str] = []
    try:
        lines = text.split("\n")
        if "\r" in text:               # a line ends at its first CR (DOS files)
            lines = [line.partition("\r")[0] for line in lines]
        # str.split() splits on exactly blank and tab for an ASCII line without the
        # other ASCII whitespace (\v \f \x1c-\x1f), which the whole text is checked for once.
        fast = not any(ch in text for ch in _OTHER_ASCII_SPACE)
        for lineno, line in enumerate(lines, 1):
            toks = []       # (reset first: a quote error must not blame the previous key)
            if fast and line.isascii() and '"' not in line and "'" not in line:
                toks = line.split()
                if not toks or toks[0][0] == "#":
                    continue
            else:
                line = line.strip(_BLANKS)
                if not line or line[0] == "#":
                    continue
                toks = _tokenize(line)
            key = toks[0]
            entry = table.get(key)
            if entry is not None and len(toks) > 1 and toks[1] == "=":
                attr, fn = entry
                if attr is None:
                    fn(block, toks[2:])
                elif len(toks) == 3:
                    value = toks[2] if fn is None else fn(toks[2])
                    if attr:
                        setattr(block, attr, value)
                else:
                    raise _Stop(E_MISSING if len(toks) < 3 else E_EXTRA)
                block._lines[key] = lineno
                continue
            if key == "}" and len(toks) == 1:
                if kind == "global":
                    raise _Stop("unexpected '}' (no block is open)")
                if kind == "server":
                    block, kind, opened_at = outer, outer_kind, outer_opened_at
                    table = _VIRTUAL if kind == "virtual" else _FAILOVER
                else:
                    block, kind, table = cfg, "global", _GLOBAL
                continue
            if key in ("virtual", "failover", "server") and entry is None:
                opening = _open_block(toks, kind)
                if opening == "server":
                    outer, outer_kind, outer_opened_at = block, kind, opened_at
                    server = RealServer(name=toks[1], line=lineno)
                    if kind == "virtual":
                        block.servers.append(server)
                    # else: checked but dropped, real servers mean nothing to FOS
                    block = server
                    kind, table = "server", _SERVER
                elif opening == "virtual":
                    block = VirtualServer(name=toks[1], line=lineno)
                    cfg.virtuals.append(block)
                    kind, table = "virtual", _VIRTUAL
                else:
                    block = FailoverService(name=toks[1], line=lineno)
                    cfg.failovers.append(block)
                    kind, table = "failover", _FAILOVER
                opened_at = lineno
                continue
            if entry is None:
                raise _Stop(_unknown_message(key, kind), key)
            raise _Stop(E_EQUAL, key)
    except _Stop as stop:
        where = stop.key or (toks[0] if toks else None)
        raise LvsCfError(Problem(lineno, stop.message, where)) from None
    if kind != "global":
        raise LvsCfError(Problem(
            opened_at, f"{E_EOF}: block '{kind} {block.name}' opened here is never closed",
            kind))
    return cfg


def _open_block(toks: list[str], kind: str) -> str:
    """Check a ``virtual|failover|server NAME {`` line; return the block kind."""
    what = toks[0]
    if len(toks) < 3:
        raise _Stop(E_MISSING, what)
    if len(toks) > 3:
        raise _Stop(E_EXTRA, what)
    if toks[2] != "{":
        raise _Stop(f"'{{' expected at the end of the '{what}' line", what)
    if what == "server":
        if kind not in ("virtual", "failover"):
            raise _Stop(f"{E_UNKNOWN} (server blocks belong inside a virtual "
                        "or failover block)", what)
    elif kind != "global":
        raise _Stop(f"{E_UNKNOWN} ({what} blocks cannot be nested; "
                    f"is a '}}' missing?)", what)
    return what


def _unknown_message(key: str, kind: str) -> str:
    if "=" in key and not key.startswith("="):
        return f"{E_UNKNOWN} ('=' must be separated by blanks: 'key = value')"
    where = "at top level" if kind == "global" else f"in a {kind} block"
    return f"{E_UNKNOWN} {where}"
