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

from typing import Any

from . import keys
from .errors import LvsCfError, Problem
from .model import LvsConfig

# Writer kinds: "num", "str", "quoted" (send/expect/commands), "addr" (IP [DEVICE]).
_WRITE_KIND = {keys.INT: "num", keys.BOOL: "num", keys.SECONDS: "num", keys.PORT: "num",
               keys.FWMARK: "num", keys.STR: "str", keys.QUOTED: "quoted"}
Row = tuple[str, str, bool, Any, str]   # key, writer kind, always, default, device attribute


def _rows(block: str) -> tuple[Row, ...]:
    """(key, writer kind, always, Piranha default, device twin) of ``block``'s written keys, in order."""
    out: list[Row] = []
    for k in keys.of(block):
        if k.write == keys.NEVER:
            continue
        kind = "addr" if k.kind == keys.ADDRESS else _WRITE_KIND[k.kind]
        out.append((k.name, kind, k.write == keys.ALWAYS, k.default, k.device_field))
    return tuple(out)


_GLOBAL_KEYS = _rows(keys.GLOBAL)
_VIRTUAL_KEYS = _rows(keys.VIRTUAL)
_SERVER_KEYS = _rows(keys.SERVER)
_FAILOVER_KEYS = _rows(keys.FAILOVER)


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


def _emit(out: list[str], indent: str, obj: Any, rows: tuple[Row, ...]) -> None:
    for key, kind, always, default, device_field in rows:
        value = getattr(obj, key)
        if value is None or (not always and value == default):
            continue
        if kind == "num":
            text = _num(value)
        elif kind == "addr":
            text = _token(obj, key, value)
            device = getattr(obj, device_field)
            if device is not None:
                text += " " + _token(obj, key, device)
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
