"""The local channel from the console to pulse: a Unix socket in pulse's runtime directory.

pulse runs as root, the console as its own user.  The socket is
world-connectable (mode 0666) but every connection's peer credentials
(``SO_PEERCRED``) are checked: only root, pulse's own user and the
configured console user get an answer.  At most ``MAX_CLIENTS`` connections
are served at once, each sends one JSON object on one line (at most
``MAX_REQUEST`` bytes, within ``TIMEOUT`` seconds) and gets one JSON object
back.  The client half (:func:`request`) is plain blocking stdlib so the
console and the command line can use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import pwd
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("pulse")

SOCKET_NAME = "pulse-runtime.sock"
MAX_CLIENTS = 8
MAX_REQUEST = 16384
MAX_REPLY = 8 * 1024 * 1024
TIMEOUT = 2.0
_CRED = struct.Struct("=iII")   # struct ucred: pid, uid, gid

Reply = dict[str, Any] | Awaitable[dict[str, Any]]     # an answer, or one that takes I/O to find
Handler = Callable[[dict[str, Any], int], Reply]


class ChannelError(Exception):
    """The console could not talk to pulse (not running, refused, or a malformed answer)."""


def console_uid(user: str | None) -> int | None:
    """The uid of the console's user (a name or a number); None when unset or unknown."""
    if not user:
        return None
    if user.isdigit():
        return int(user)
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        log.warning("console user %r does not exist: only root may use the runtime channel", user)
        return None


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a Unix socket (kernel-reported, not claimed)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CRED.size)
    return int(_CRED.unpack(raw)[1])


class Channel:
    """The server side, run in pulse's event loop."""

    def __init__(self, path: Path, allowed: set[int], handle: Handler) -> None:
        self.path = path
        self.allowed = allowed | {0, os.geteuid()}
        self.handle = handle
        self.clients = 0
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        """Listen (a stale socket from a crashed run is replaced); failure is logged, not fatal."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        try:
            self.server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=MAX_REQUEST)
            os.chmod(self.path, 0o666)
        except OSError as exc:
            log.error("runtime channel %s unavailable: %s", self.path, exc)

    async def stop(self) -> None:
        """Stop listening and remove the socket."""
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), TIMEOUT)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: check the peer, read one request, answer, close."""
        self.clients += 1
        try:
            reply = await self._answer(reader, writer)
            writer.write(json.dumps(reply, separators=(",", ":")).encode() + b"\n")
            await asyncio.wait_for(writer.drain(), TIMEOUT)
        except (OSError, TimeoutError):
            pass
        finally:
            self.clients -= 1
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> dict[str, Any]:
        sock = writer.get_extra_info("socket")
        uid = peer_uid(sock) if sock is not None else -1
        if uid not in self.allowed:
            log.warning("runtime channel: refused uid %d", uid)
            return {"ok": False, "status": 403, "error": "this user may not talk to pulse"}
        if self.clients > MAX_CLIENTS:
            return {"ok": False, "status": 429, "error": "too many runtime requests at once"}
        try:
            line = await asyncio.wait_for(reader.readline(), TIMEOUT)
            data = json.loads(line)
        except (ValueError, asyncio.LimitOverrunError):
            return {"ok": False, "status": 400, "error": "send one JSON object on one line"}
        if not isinstance(data, dict):
            return {"ok": False, "status": 400, "error": "send one JSON object on one line"}
        try:
            reply = self.handle(data, uid)
            if inspect.isawaitable(reply):
                reply = await asyncio.wait_for(reply, TIMEOUT)
            return reply
        except TimeoutError:
            return {"ok": False, "status": 409, "error": "pulse could not finish it in time"}
        except Exception as exc:  # noqa: BLE001 - a bad request must never stop pulse
            log.exception("runtime request failed")
            return {"ok": False, "status": 500, "error": f"pulse could not handle it: {exc}"}


def request(path: str | os.PathLike[str], payload: dict[str, Any],
            timeout: float = TIMEOUT) -> dict[str, Any]:
    """Send one request to pulse and return its answer (blocking; raises ChannelError)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(os.fspath(path))
            sock.sendall(json.dumps(payload, separators=(",", ":")).encode() + b"\n")
            chunks: list[bytes] = []
            size = 0
            while not chunks or not chunks[-1].endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_REPLY:
                    raise ChannelError("pulse's answer is too large")
    except (FileNotFoundError, ConnectionRefusedError):
        raise ChannelError("pulse is not running (no runtime channel)") from None
    except OSError as exc:
        raise ChannelError(f"cannot talk to pulse: {exc.strerror or exc}") from None
    try:
        reply = json.loads(b"".join(chunks))
    except ValueError:
        raise ChannelError("pulse sent a malformed answer") from None
    if not isinstance(reply, dict):
        raise ChannelError("pulse sent a malformed answer")
    return reply
