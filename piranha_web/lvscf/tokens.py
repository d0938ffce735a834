"""Tokens and values of one lvs.cf line, as Piranha's lvsconfig.c reads them.

Lexing (blanks, quotes) and the value rules (C ``strtol`` integers, booleans,
seconds with our fractional extension, service-name ports) are the same in
every block; :mod:`piranha_web.lvscf.parser` applies them line by line and
knows which key takes which value.  A bad token raises :class:`LineError`.
"""

from __future__ import annotations

import math
import socket

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
E_RANGE = "integer out of range (too many digits)"

BOM = "\ufeff"
# A longer integer is out of every range lvs.cf has (Python refuses > 4300 digits anyway).
MAX_DIGITS = 40

BLANKS = " \t"
OTHER_ASCII_SPACE = "\v\f\x1c\x1d\x1e\x1f"
_DIGITS = frozenset("0123456789")
_OCTAL = frozenset("01234567")
_HEX = frozenset("0123456789abcdefABCDEF")
_FLOAT_CHARS = frozenset("0123456789.eE+-")

# Used only when the host has no services database (minimal containers).
_FALLBACK_SERVICES = {
    "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "http": 80, "www": 80,
    "pop3": 110, "imap": 143, "https": 443, "imaps": 993, "pop3s": 995,
}


class LineError(Exception):
    """One syntax problem of the line being read (the parser adds the line number)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key


# --------------------------------------------------------------------------- lexing

def tokenize_quoted(line: str) -> list[str]:
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
            if j < 0 or (j + 1 < n and line[j + 1] not in BLANKS):
                raise LineError(E_QUOTE)
            toks.append(line[i + 1:j])
            i = j + 1
        else:
            j = i + 1
            while j < n and line[j] != " " and line[j] != "\t":
                j += 1
            toks.append(line[i:j])
            i = j
    return toks


def tokenize(line: str) -> list[str]:
    """Tokens of one (already stripped, non-comment) line."""
    if '"' in line or "'" in line:
        return tokenize_quoted(line)
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
    if tok.isdigit() and tok.isascii() and (tok[0] != "0" or len(tok) == 1) and len(tok) < MAX_DIGITS:
        return int(tok)         # the common case: plain decimal
    s = tok.lstrip(" \t\n\v\f\r")
    neg = False
    if s[:1] in ("+", "-"):
        neg = s[0] == "-"
        s = s[1:]
    if not s:
        raise LineError(E_INT)
    if len(s.lstrip("0xX")) > MAX_DIGITS and (_DIGITS | _HEX | {"x", "X"}).issuperset(s):
        raise LineError(E_RANGE)
    if s[0] != "0":
        if not _DIGITS.issuperset(s):
            raise LineError(E_INT)
        value = int(s)
    elif len(s) > 2 and s[1] in "xX" and _HEX.issuperset(s[2:]):
        value = int(s[2:], 16)
    elif _OCTAL.issuperset(s):
        value = int(s, 8)
    else:
        raise LineError(E_INT)
    return -value if neg else value


def one(vals: list[str]) -> str:
    if not vals:
        raise LineError(E_MISSING)
    if len(vals) > 1:
        raise LineError(E_EXTRA)
    return vals[0]


# Token converters: one value token -> model value (the common, fast case).

def t_bool(tok: str) -> bool:
    n = c_int(tok)
    if n != 0 and n != 1:
        raise LineError(E_BOOL)
    return n == 1


def _integer_or_none(tok: str) -> int | None:
    """``c_int(tok)``, or None when the token is no integer (one with too many digits still raises)."""
    try:
        return c_int(tok)
    except LineError as stop:
        if stop.message == E_RANGE:
            raise
    return None


def t_seconds(tok: str) -> float:
    """Integer seconds as Piranha, or (our extension) a decimal fraction."""
    whole = _integer_or_none(tok)
    if whole is not None:
        return whole
    s = tok.strip()
    if s and _FLOAT_CHARS.issuperset(s) and any(ch in _DIGITS for ch in s):
        try:
            value = float(s)
        except ValueError:
            pass
        else:
            if math.isfinite(value):
                return int(value) if value.is_integer() and abs(value) < 2 ** 53 else value
    raise LineError(E_INT)


def t_port(tok: str) -> int:
    """Port number, or a TCP service name resolved like ``getservbyname``."""
    number = _integer_or_none(tok)
    if number is not None:
        return number
    try:
        return socket.getservbyname(tok, "tcp")
    except (OSError, ValueError, UnicodeError):
        if tok in _FALLBACK_SERVICES:
            return _FALLBACK_SERVICES[tok]
    raise LineError(E_INT)


def t_fwmark(tok: str) -> int | None:
    return c_int(tok) or None


# Value converters: all value tokens -> model value (checks the token count).

def v_str(vals: list[str]) -> str:
    return one(vals)


def v_int(vals: list[str]) -> int:
    return c_int(one(vals))


def v_bool(vals: list[str]) -> bool:
    return t_bool(one(vals))


def v_seconds(vals: list[str]) -> float:
    return t_seconds(one(vals))


def v_port(vals: list[str]) -> int:
    return t_port(one(vals))


def v_fwmark(vals: list[str]) -> int | None:
    return t_fwmark(one(vals))


def v_list(vals: list[str]) -> list[str]:
    if len(vals) < 2 or vals[0] != "[" or vals[-1] != "]":
        raise LineError(E_LIST)
    return vals[1:-1]


def v_host_device(vals: list[str]) -> tuple[str, str | None]:
    """``IP DEVICE`` (Piranha) or just ``IP`` (our extension)."""
    if not vals:
        raise LineError(E_MISSING)
    if len(vals) > 2:
        raise LineError(E_EXTRA)
    return vals[0], (vals[1] if len(vals) == 2 else None)
