"""The value rules every block shares: addresses, masks, devices, numbers, types, names, choices.

Each rule adds what it finds to a :class:`Collector`, which resolves the
line of the offending key through the object the parser filled, so
:mod:`piranha_web.lvscf.validate` can report every problem at once.
"""

from __future__ import annotations

import functools
import math
import re
import socket
from typing import Any

from . import keys
from .errors import Problem
from .health import expect_pattern, split_program

_IFNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
DIGITS = frozenset("0123456789")
UNSPECIFIED = ("0.0.0.0", "::")
MAX_U32 = 2 ** 32 - 1
FAMILY_NAMES: dict[int, str] = {socket.AF_INET: "IPv4", socket.AF_INET6: "IPv6"}


class Collector:
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


def check_mask(c: Collector, obj: Any, key: str, value: str | None,
               family: int | None, allow_prefix: bool) -> None:
    if value is None:
        return
    if _mask_bits(value) is not None:
        if family == socket.AF_INET6 and value != "0.0.0.0":
            c.add(obj, key, f"dotted mask {value!r} does not fit an IPv6 address; "
                            "use a prefix length")
        return
    is_number = bool(value) and DIGITS.issuperset(value) and len(value) <= 3
    if (allow_prefix or family == socket.AF_INET6) and is_number:
        limit = 128 if family == socket.AF_INET6 else 32
        if int(value) <= limit:
            return
        c.add(obj, key, f"Bad subnet mask: bad prefix length {value} (0..{limit} for an "
                        f"{FAMILY_NAMES.get(family or socket.AF_INET)} address)")
        return
    what = "dotted mask or prefix length" if allow_prefix else "dotted mask"
    c.add(obj, key, f"Bad subnet mask specified: {value!r} (expected a contiguous {what}, "
                    "e.g. 255.255.255.0)")


def check_ip(c: Collector, obj: Any, key: str, value: str | None, required: bool) -> int | None:
    """Check an address; return its family.  ``required``: must be set and specified."""
    if value is None:
        if required:
            c.add(obj, key, "address is required")
        return None
    family = ip_family(value)
    if family is None:
        c.add(obj, key, f"invalid host name or ip address: {value!r} (use an IP address; "
                        "host names are not resolved)")
    elif required and value in UNSPECIFIED:
        c.add(obj, key, f"address {value} is not a usable address")
    elif family == socket.AF_INET6:
        special = ipv6_special(value)
        if special:
            c.add(obj, key, f"address {value} is {special}; use a global IPv6 address")
            return None
    return family


def ipv6_special(text: str) -> str | None:
    """Why an IPv6 literal cannot be a director, VIP, gateway or real server address (else None)."""
    packed = socket.inet_pton(socket.AF_INET6, text)
    if packed[:12] == b"\0" * 10 + b"\xff\xff":
        return "an IPv4-mapped IPv6 address"
    if packed[0] == 0xFE and packed[1] & 0xC0 == 0x80:
        return "link-local (it needs a scope lvs.cf cannot name)"
    return None


def valid_ifname(name: str, allow_label: bool = True) -> bool:
    """Linux interface name (max 15 chars), optionally with an ``:label`` alias."""
    if not isinstance(name, str) or not 0 < len(name) <= 15:
        return False
    base, colon, label = name.partition(":")
    if colon:
        if not allow_label or not label or not _IFNAME_CHARS.issuperset(label):
            return False
    return bool(base) and base not in (".", "..") and _IFNAME_CHARS.issuperset(base)


def check_device(c: Collector, obj: Any, key: str, value: str | None,
                 allow_label: bool = True) -> None:
    if value is not None and not valid_ifname(value, allow_label):
        c.add(obj, key, f"invalid device name {value!r} (Linux interface name, at most 15 "
                        "characters" + (", optionally with a ':label')" if allow_label else ")"))


def check_int(c: Collector, obj: Any, key: str, low: float, high: float) -> None:
    value = getattr(obj, key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        c.add(obj, key, "integer expected")
    elif not low <= value <= high:
        c.add(obj, key, f"{value} is out of range ({low}..{high})")


def check_seconds(c: Collector, obj: Any, k: keys.Key) -> None:
    key = k.name
    value = getattr(obj, key)
    low, high = k.low or 0, k.high or keys.MAX_SECONDS
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        c.add(obj, key, "number of seconds expected")
    elif value < 0 or (value == 0 and low > 0):
        c.add(obj, key, f"must be {'more than 0' if low > 0 else '0 or more'} seconds")
    elif not low <= value <= high:
        c.add(obj, key, f"{number_text(value)} seconds is out of range "
                        f"({number_text(low)}..{number_text(high)})")


@functools.cache
def _bounded(block: str) -> tuple[keys.Key, ...]:
    """The keys of ``block`` with bounds (looked up once: validation runs per real server)."""
    return tuple(k for k in keys.of(block) if k.low is not None and k.high is not None and k.field)


@functools.cache
def _typed(block: str) -> tuple[tuple[str, bool, bool], ...]:
    """(field, is text, may be unset) of the text and boolean keys of ``block``."""
    return tuple((name, k.kind in _TEXT_KINDS, k.default is None) for k in keys.of(block)
                 if (name := k.field) and k.kind in (*_TEXT_KINDS, keys.BOOL))


def check_numbers(c: Collector, obj: Any, block: str, skip: tuple[str, ...] = ()) -> None:
    """Every bounded number of ``block``: finite, and inside what pulse, IPVS and SQLite hold."""
    for k in _bounded(block):
        assert k.field is not None and k.low is not None and k.high is not None
        if k.name in skip:
            continue
        if k.default is None and getattr(obj, k.field) is None:
            continue          # an optional key left unset
        if k.kind == keys.SECONDS:
            check_seconds(c, obj, k)
        else:
            check_int(c, obj, k.field, k.low, k.high)


_TEXT_KINDS = (keys.STR, keys.QUOTED, keys.ADDRESS, keys.DEVICE)


def check_types(c: Collector, obj: Any, block: str) -> None:
    """Text keys are writable text, booleans are booleans."""
    for name, text, optional in _typed(block):
        if text:
            check_text(c, obj, name, getattr(obj, name))
        elif not (optional and getattr(obj, name) is None):
            check_bool(c, obj, name)


def check_program(c: Collector, obj: Any, key: str, what: str) -> None:
    """A program line pulse runs: an absolute path, and shlex can split it."""
    value = getattr(obj, key)
    if not isinstance(value, str):
        return
    try:
        args = split_program(value)
    except ValueError as exc:
        c.add(obj, key, f"cannot be split into arguments ({exc}); balance the quotes")
        return
    if not args[0].startswith("/"):
        c.add(obj, key, f"{what} must start with an absolute path")


def check_regex(c: Collector, obj: Any) -> None:
    """``use_regex = 1``: ``expect`` must compile as pulse compiles it."""
    if obj.use_regex is not True or not isinstance(obj.expect, str):
        return
    try:
        expect_pattern(obj.expect)
    except (re.error, RecursionError, OverflowError) as exc:
        c.add(obj, "expect", f"invalid regular expression: {exc}")


def check_choice(c: Collector, obj: Any, key: str, choices: tuple[str, ...]) -> None:
    value = getattr(obj, key)
    if value is not None and value not in choices:
        c.add(obj, key, f"invalid argument {value!r} (one of: {', '.join(choices)})")


def check_bool(c: Collector, obj: Any, key: str) -> None:
    if not isinstance(getattr(obj, key), bool):
        c.add(obj, key, "boolean expected")


def check_text(c: Collector, obj: Any, key: str, value: Any) -> None:
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


def check_name(c: Collector, obj: Any, kind: str) -> None:
    name = obj.name
    if not isinstance(name, str) or not name:
        c.add(obj, kind, "name is required")
        return
    if any(ch in name for ch in " \t\n\r\x00") or name[0] in "\"'#" or name in ("{", "}", "="):
        c.add(obj, kind, f"invalid {kind} name {name!r} (one word; no blanks, quotes "
                         "or '#' at the start, not '{', '}' or '=')")


# --------------------------------------------------------------------------- object checks


def number_text(value: float) -> str:
    """A number as lvs.cf writes it: ``6``, not ``6.0``."""
    return str(int(value)) if float(value).is_integer() else repr(value)
