"""BIRD's control socket: the protocol birdc speaks, over the Unix socket; no shell, no birdc binary.

Each reply line is ``CODE-text`` (more follows), ``CODE text`` (the last line)
or `` text`` (continues the previous code).  Codes 8000 and above are errors.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

TIMEOUT = 2.0          # seconds for one command: BIRD answers in milliseconds
MAX_REPLY = 1 << 20    # bytes: a runaway reply is cut off


class BirdError(Exception):
    """BIRD refused a command, or its socket could not be used."""


@dataclass
class Reply:
    """A command's reply lines as (code, text), the last one included."""

    lines: list[tuple[int, str]] = field(default_factory=list)

    @property
    def code(self) -> int:
        """The last line's code (0xxx success, 8xxx/9xxx error)."""
        return self.lines[-1][0] if self.lines else 0


def _read_reply(sock: socket.socket) -> Reply:
    """Lines up to and including the final ``CODE text`` line."""
    buf = b""
    reply = Reply()
    code = 0
    while True:
        while b"\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise BirdError("BIRD closed the control socket")
            buf += chunk
            if len(buf) > MAX_REPLY:
                raise BirdError("BIRD's reply is too long")
        raw, buf = buf.split(b"\n", 1)
        line = raw.decode("utf-8", "replace")
        if line[:1] == " " or len(line) < 5 or not line[:4].isdigit():
            reply.lines.append((code, line[1:]))
            continue
        code = int(line[:4])
        reply.lines.append((code, line[5:]))
        if line[4] == " ":
            if buf:
                raise BirdError("unexpected data after BIRD's reply")
            return reply


def command(path: Path, text: str, timeout: float = TIMEOUT) -> Reply:
    """Send one command line and return the reply; raise BirdError on refusal or socket trouble."""
    if "\n" in text or "\r" in text:
        raise ValueError("one command line")
    deadline = time.monotonic() + timeout
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            hello = _read_reply(sock)
            if hello.code >= 8000:
                raise BirdError(f"BIRD: {hello.lines[-1][1]}")
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            sock.sendall(text.encode() + b"\n")
            reply = _read_reply(sock)
    except OSError as exc:
        raise BirdError(f"control socket {path}: {exc.strerror or exc}") from exc
    if reply.code >= 8000:
        raise BirdError(f"BIRD refused {text!r}: {reply.lines[-1][1]}")
    return reply
