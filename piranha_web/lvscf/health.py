"""What pulse's health checks and role commands make of lvs.cf strings, shared with validation.

The validator and pulse must read ``send``/``expect``/``send_program`` and the
role commands the same way, or a value the console accepts could fail only
when pulse loads it.  Both sides call these functions.
"""

from __future__ import annotations

import re
import shlex

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
