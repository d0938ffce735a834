"""What pulse's health checks and role commands make of lvs.cf strings, shared with validation.

The validator and pulse must read ``send``/``expect``/``send_program`` and the
role commands the same way, or a value the console accepts could fail only
when pulse loads it.  Both sides call these functions.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass
from typing import Any

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "'": "'", '"': '"'}


def decode_escapes(text: str) -> str:
    """Decode nanny's backslash escapes; an unknown escape is kept as written."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in _ESCAPES:
            out.append(_ESCAPES[text[i + 1]])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def split_program(command: str) -> list[str]:
    """Argument list of a program line (``send_program``, ``active_cmd``...): shlex, no shell.

    Raises ValueError when the line cannot be split (an unbalanced quote) or is empty.
    """
    args = shlex.split(command)
    if not args:
        raise ValueError("no program given")
    return args


def expect_pattern(expect: str) -> "re.Pattern[bytes]":
    """The compiled ``expect`` of ``use_regex = 1`` (escapes decoded, matched against bytes).

    Raises ``re.error`` for an invalid expression.
    """
    return re.compile(decode_escapes(expect).encode())


# ----------------------------------------------------------------------------- check settings

_INHERITED = ("fall", "rise", "check_interval", "check_timeout", "check", "check_path", "check_host",
              "check_status", "check_body", "check_digest", "check_port", "check_verify",
              "check_ca_file", "check_query", "check_qtype", "check_dynamic", "agent_port", "slowstart")


@dataclass(frozen=True)
class CheckSettings:
    """The effective health-check settings of one real server (its overrides, else its virtual's).

    ``interval``/``timeout``: ``check_interval``/``check_timeout`` when given
    (one alone sets both, except that ``check_timeout`` alone keeps ``timeout``
    as the interval); otherwise Piranha's ``timeout``, which was both.
    ``rise``: the key when set, else Piranha's ``reentry`` seconds of
    consecutive success (``ceil(reentry / interval)`` checks).
    ``kind``: ``check`` when set, else what Piranha derived from the keys.
    """

    kind: str
    interval: float
    timeout: float
    rise: int
    fall: int
    port: int | None
    path: str
    host: str | None
    status: tuple[tuple[int, int], ...]
    body: str | None
    digest: str | None
    verify: bool
    ca_file: str | None
    query: str | None
    qtype: str
    dynamic: bool
    agent_port: int | None
    slowstart: float


def rise_count(reentry: float, interval: float) -> int:
    """Passing checks in a row a DOWN server needs before it is UP again (nanny's count)."""
    if interval <= 0:
        return 1
    return max(1, math.ceil(reentry / interval - 1e-9))


def parse_status(text: str | None) -> tuple[tuple[int, int], ...]:
    """``200-299,301`` as ranges; None: keepalived's default, any 2xx.  ValueError when malformed."""
    if text is None:
        return ((200, 299),)
    out: list[tuple[int, int]] = []
    for part in text.replace(" ", "").split(","):
        low, sep, high = part.partition("-")
        if not low.isdigit() or (sep and not high.isdigit()):
            raise ValueError(f"invalid status code range {part!r} (e.g. 200-299,301)")
        lo, hi = int(low), int(high) if sep else int(low)
        if not 100 <= lo <= hi <= 599:
            raise ValueError(f"status code range {part!r} is not within 100..599")
        out.append((lo, hi))
    return tuple(out)


def derived_check(vs: Any) -> str:
    """The check Piranha ran for a virtual server that does not name one."""
    if vs.send_program:
        return "program"
    if vs.send is not None or vs.expect is not None:
        return "send-expect"
    return "tcp"


def _own(vs: Any, rs: Any, name: str) -> Any:
    value = getattr(rs, name, None) if rs is not None else None
    return getattr(vs, name) if value is None else value


def has_overrides(rs: Any) -> bool:
    """Does real server ``rs`` set any health key of its own (else its virtual's settings are its own)?"""
    return any(getattr(rs, name, None) is not None for name in _INHERITED)


def check_settings(vs: Any, rs: Any = None) -> CheckSettings:
    """Resolve ``rs``'s settings (``None``: the virtual server's own).  Raises ValueError on a bad status."""
    o = {name: _own(vs, rs, name) for name in _INHERITED}
    interval, timeout = o["check_interval"], o["check_timeout"]
    if interval is None:
        interval = float(vs.timeout)
        timeout = interval if timeout is None else timeout
    elif timeout is None:
        timeout = interval
    rise = o["rise"] if o["rise"] is not None else rise_count(float(vs.reentry), float(interval))
    return CheckSettings(
        kind=o["check"] or derived_check(vs), interval=float(interval), timeout=float(timeout),
        rise=int(rise), fall=int(o["fall"] or 1), port=o["check_port"], path=o["check_path"] or "/",
        host=o["check_host"], status=parse_status(o["check_status"]), body=o["check_body"],
        digest=o["check_digest"].lower() if o["check_digest"] else None, verify=bool(o["check_verify"]),
        ca_file=o["check_ca_file"], query=o["check_query"], qtype=(o["check_qtype"] or "A").upper(),
        dynamic=bool(o["check_dynamic"]), agent_port=o["agent_port"], slowstart=float(o["slowstart"] or 0))
