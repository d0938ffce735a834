"""Helpers for the pulse tests: lvs.cf text, listeners on 127.0.0.1, async test runner."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from pathlib import Path


def aio(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test in a fresh event loop, bounded to 60 s."""
    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 60))
    return wrapper


def lvs_cf(servers: dict[str, tuple[str, int, int]], *, serial: int = 1, extra_vs: str = "",
           timeout: float = 0.2, reentry: float = 0.4, scheduler: str = "rr", tail: str = "") -> str:
    """A NAT lvs.cf with one virtual server 'www' and the given (address, port, weight) servers."""
    blocks = "".join(
        f"    server {name} {{\n        address = {addr}\n        active = 1\n"
        f"        port = {port}\n        weight = {weight}\n    }}\n"
        for name, (addr, port, weight) in servers.items())
    return (f"serial_no = {serial}\nprimary = 203.0.113.1\nservice = lvs\nnetwork = nat\n"
            f"nat_router = 192.0.2.254 eth1:1\n"
            f"virtual www {{\n    active = 1\n    address = 203.0.113.10 eth0:1\n    port = 80\n"
            f"    scheduler = {scheduler}\n    protocol = tcp\n    timeout = {timeout}\n"
            f"    reentry = {reentry}\n{extra_vs}{blocks}}}\n{tail}")


def ha_pair_globals(serial: int) -> str:
    """The global part of an lvs.cf for a primary/backup pair (192.0.2.1/.2) with fast heartbeats."""
    return (f"serial_no = {serial}\nprimary = 192.0.2.1\nbackup_active = 1\nbackup = 192.0.2.2\n"
            f"keepalive = 0.1\ndeadtime = 0.5\nnetwork = direct\n")


def write(path: Path, text: str) -> None:
    """Replace the file so its mtime/size/inode change (as the console's atomic write does)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


class Listener:
    """A TCP server on 127.0.0.1 that can be stopped and restarted on the same port."""

    def __init__(self) -> None:
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.close()

    async def start(self) -> "Listener":
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


async def until(cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> float:
    """Poll ``cond`` every 20 ms; returns the seconds waited or raises AssertionError."""
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - t0
