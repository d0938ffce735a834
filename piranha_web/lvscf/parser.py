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

from typing import Any, Callable

from . import keys
from .errors import LvsCfError, Problem
from .model import Director, FailoverService, LvsConfig, RealServer, VirtualServer, item_line_key
from .tokens import (
    BLANKS, BOM, E_EMPTY, E_EOF, E_EQUAL, E_EXTRA, E_MISSING, E_UNKNOWN, OTHER_ASCII_SPACE, LineError,
    c_int, t_bool, t_fwmark, t_port, t_seconds, tokenize, v_bool, v_fwmark, v_host_device, v_int, v_list,
    v_port, v_seconds, v_str,
)

MAX_PROBLEMS = 100


# --------------------------------------------------------------------------- keyword tables

# A table entry is (attr, fn):
#   attr a field name -> single-token key: setattr(obj, attr, fn(token)) (fn None: the token)
#   attr ""           -> single-token key checked with fn(token) and discarded
#   attr None         -> fn(obj, value_tokens) does everything (multi-token keys)
Entry = tuple[Any, Any]

_SINGLE: dict[Callable[[list[str]], Any], Callable[[str], Any] | None] = {
    v_str: None, v_int: c_int, v_bool: t_bool, v_seconds: t_seconds,
    v_port: t_port, v_fwmark: t_fwmark,
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


def _set_address(k: keys.Key) -> Entry:
    """``KEY = IP [DEVICE]``: sets the key's attribute and its device twin."""
    field, device = k.field, k.device_field

    def setter(obj: Any, vals: list[str]) -> None:
        ip, dev = v_host_device(vals)
        setattr(obj, str(field), ip)
        setattr(obj, device, dev)
    return _special(setter)


def _add_peer(k: keys.Key) -> Entry:
    """``KEY = IP AS``, repeatable: each line adds one item (checked by ``validate``)."""
    field = str(k.field)

    def setter(obj: Any, vals: list[str]) -> None:
        if len(vals) < 2:
            raise LineError(E_MISSING)
        if len(vals) > 2:
            raise LineError(E_EXTRA)
        c_int(vals[1])
        getattr(obj, field).append(" ".join(vals))
    return _special(setter)


def _set_virtual_port(obj: Any, vals: list[str]) -> None:
    """Virtual ``port``: servers declared earlier keep the port they inherited.

    Piranha copies the virtual's port into each real server when its ``server``
    line is read; we keep ``None`` (inherit) instead, so pin the old value on the
    servers already read to preserve the file's meaning.
    """
    port = v_port(vals)
    for server in obj.servers:
        if server.port is None:
            server.port = obj.port
    obj.port = port


_CONVERTERS: dict[str, Callable[[list[str]], Any]] = {
    keys.INT: v_int, keys.BOOL: v_bool, keys.SECONDS: v_seconds, keys.PORT: v_port,
    keys.FWMARK: v_fwmark, keys.STR: v_str, keys.QUOTED: v_str, keys.LIST: v_list,
}


def _entry(k: keys.Key) -> Entry:
    """How the parser handles one key of the table."""
    if k.kind == keys.ADDRESS:
        return _set_address(k)
    if k.kind == keys.PEERS:
        return _add_peer(k)
    if k.block == keys.VIRTUAL and k.name == "port":
        return _special(_set_virtual_port)
    conv = _CONVERTERS[k.kind]
    return _field(k.field, conv) if k.field else _discard(conv)


def _table(block: str) -> dict[str, Entry]:
    """Keyword -> entry for the keys that have a line of their own in ``block``."""
    return {k.name: _entry(k) for k in keys.of(block) if k.kind not in (keys.NAME, keys.DEVICE)}


def _shared(own: str, other: str) -> dict[str, Entry]:
    """Virtual and failover blocks share one grammar: the other block's keys are checked and dropped."""
    table = {k.name: _discard(_CONVERTERS[k.kind]) for k in keys.of(other)
             if k.kind not in (keys.NAME, keys.DEVICE, keys.ADDRESS)}
    table.update(_table(own))
    return table


_GLOBAL = _table(keys.GLOBAL)
_VIRTUAL = _shared(keys.VIRTUAL, keys.FAILOVER)
_FAILOVER = _shared(keys.FAILOVER, keys.VIRTUAL)
_SERVER = _table(keys.SERVER)
_DIRECTOR = _table(keys.DIRECTOR)
_REPEATED = {k.name: str(k.field) for k in keys.of(keys.GLOBAL) if k.kind == keys.PEERS}
_BLOCK_OPENERS = ("virtual", "failover", "server", "director")

KEYWORDS = {
    "global": frozenset(_GLOBAL), "virtual": frozenset(_VIRTUAL),
    "failover": frozenset(_FAILOVER), "server": frozenset(_SERVER), "director": frozenset(_DIRECTOR),
}


# --------------------------------------------------------------------------- parser

def parse(text: str, first_line: int = 1) -> LvsConfig:
    """Parse lvs.cf ``text``; raise :class:`LvsCfError` naming every bad line.

    Only syntax and value types are checked here; call ``validate`` (or use
    ``load``) for the semantic rules.  A bad line is reported and skipped, so
    one typo does not hide the next (at most ``MAX_PROBLEMS`` are reported).
    A UTF-8 byte order mark before the first line is ignored.  ``first_line``:
    the number of the text's first line (a block cut out of a file, see reparse).
    """
    if text.startswith(BOM):
        text = text[1:]
    if not text.strip(" \t\r\n"):
        raise LvsCfError(Problem(0, E_EMPTY))
    state = _State()
    lines = text.split("\n")
    if "\r" in text:               # a line ends at its first CR (DOS files)
        lines = [line.partition("\r")[0] for line in lines]
    # str.split() splits on exactly blank and tab for an ASCII line without the
    # other ASCII whitespace (\v \f \x1c-\x1f), which the whole text is checked for once.
    fast = not any(ch in text for ch in OTHER_ASCII_SPACE)
    problems: list[Problem] = []
    for lineno, line in enumerate(lines, first_line):
        toks: list[str] = []   # (reset first: a quote error must not blame the previous key)
        try:
            if fast and line.isascii() and '"' not in line and "'" not in line:
                toks = line.split()
                if not toks or toks[0][0] == "#":
                    continue
            else:
                line = line.strip(BLANKS)
                if not line or line[0] == "#":
                    continue
                toks = tokenize(line)
            state.line(toks, lineno)
        except LineError as stop:
            problems.append(Problem(lineno, stop.message, stop.key or (toks[0] if toks else None)))
            if len(problems) >= MAX_PROBLEMS:
                break
            state.recover(toks, lineno)
    if state.kind != "global" and len(problems) < MAX_PROBLEMS:
        problems.append(Problem(
            state.opened_at, f"{E_EOF}: block '{state.kind} {state.block.name}' opened here is never "
            "closed", state.kind))
    if problems:
        raise LvsCfError(problems)
    return state.cfg


class _State:
    """Where the parser is: the configuration so far and the block being filled."""

    def __init__(self) -> None:
        self.cfg = LvsConfig()
        self.block: Any = self.cfg
        self.kind = "global"
        self.table = _GLOBAL
        self.outer: Any = None          # virtual/failover that holds the current server block
        self.outer_kind = ""
        self.opened_at = self.outer_opened_at = 0

    def line(self, toks: list[str], lineno: int) -> None:
        """Apply one non-blank, non-comment line (its tokens)."""
        key = toks[0]
        entry = self.table.get(key)
        if entry is not None and len(toks) > 1 and toks[1] == "=":
            attr, fn = entry
            if attr is None:
                fn(self.block, toks[2:])
                if key in _REPEATED and self.kind == "global":
                    index = len(getattr(self.block, _REPEATED[key])) - 1
                    self.block._lines[item_line_key(key, index)] = lineno
            elif len(toks) == 3:
                value = toks[2] if fn is None else fn(toks[2])
                if attr:
                    setattr(self.block, attr, value)
            else:
                raise LineError(E_MISSING if len(toks) < 3 else E_EXTRA)
            self.block._lines[key] = lineno
            return
        if key == "}" and len(toks) == 1:
            self.close(lineno)
            return
        if key in _BLOCK_OPENERS and entry is None:
            self.open(_open_block(toks, self.kind), toks[1], lineno)
            return
        if entry is None:
            raise LineError(_unknown_message(key, self.kind), key)
        raise LineError(E_EQUAL, key)

    def close(self, lineno: int = 0) -> None:
        """A ``}`` line (``lineno``; 0 when recovery closes a block)."""
        if self.kind == "global":
            raise LineError("unexpected '}' (no block is open)")
        if self.kind == "virtual":
            self.block._end = lineno
        if self.kind == "server":
            self.block, self.kind, self.opened_at = self.outer, self.outer_kind, self.outer_opened_at
            self.table = _VIRTUAL if self.kind == "virtual" else _FAILOVER
        else:
            self.block, self.kind, self.table = self.cfg, "global", _GLOBAL

    def open(self, opening: str, name: str, lineno: int) -> None:
        """Enter a ``virtual``/``failover``/``server``/``director`` block called ``name``."""
        if opening == "server":
            self.outer, self.outer_kind, self.outer_opened_at = self.block, self.kind, self.opened_at
            server = RealServer(name=name, line=lineno)
            if self.kind == "virtual":
                self.block.servers.append(server)
            # else: checked but dropped, real servers mean nothing to FOS
            self.block = server
            self.kind, self.table = "server", _SERVER
        elif opening == "director":
            self.block = Director(name=name, line=lineno)
            self.cfg.directors.append(self.block)
            self.kind, self.table = "director", _DIRECTOR
        elif opening == "virtual":
            self.block = VirtualServer(name=name, line=lineno)
            self.cfg.virtuals.append(self.block)
            self.kind, self.table = "virtual", _VIRTUAL
        else:
            self.block = FailoverService(name=name, line=lineno)
            self.cfg.failovers.append(self.block)
            self.kind, self.table = "failover", _FAILOVER
        self.opened_at = lineno

    def recover(self, toks: list[str], lineno: int) -> None:
        """After a bad line: still enter a block its line clearly opens, so its keys do not cascade."""
        if "{" not in toks[1:] or toks[0] not in _BLOCK_OPENERS:
            return
        what = toks[0]
        if what == "server" and self.kind not in ("virtual", "failover"):
            return
        if what != "server":
            while self.kind != "global":
                self.close()
        self.open(what, toks[1] if toks[1] != "{" else "", lineno)


def _open_block(toks: list[str], kind: str) -> str:
    """Check a ``virtual|failover|server NAME {`` line; return the block kind."""
    what = toks[0]
    if len(toks) < 3:
        raise LineError(E_MISSING, what)
    if len(toks) > 3:
        raise LineError(E_EXTRA, what)
    if toks[2] != "{":
        raise LineError(f"'{{' expected at the end of the '{what}' line", what)
    if what == "server":
        if kind not in ("virtual", "failover"):
            raise LineError(f"{E_UNKNOWN} (server blocks belong inside a virtual "
                            "or failover block)", what)
    elif kind != "global":
        raise LineError(f"{E_UNKNOWN} ({what} blocks cannot be nested; "
                        f"is a '}}' missing?)", what)
    return what


def _unknown_message(key: str, kind: str) -> str:
    if "=" in key and not key.startswith("="):
        return f"{E_UNKNOWN} ('=' must be separated by blanks: 'key = value')"
    where = "at top level" if kind == "global" else f"in a {kind} block"
    return f"{E_UNKNOWN} {where}"
