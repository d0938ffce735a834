"""Checks waiting on their socket: verdicts from readiness, deadlines, the loop's budget, stopping."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

from piranha_web.pulse.health.budget import LONGEST, IterationBudget
from piranha_web.pulse.health.checks import CheckResult, PendingConnect
from piranha_web.pulse.health.waits import SocketWaits
from tests.pulse.health.test_monitor import aio, listener, pending_connect


class Silent:
    """A check waiting for an answer that never comes (reads), stepped by the waits."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self.sock, self.start = sock, time.monotonic()
        self.deadline, self.want_write, self.steps = self.start + timeout, False, 0

    def step(self) -> tuple[bool, str] | None:
        self.steps += 1
        return None


def collector() -> tuple[SocketWaits[str], list[tuple[str, CheckResult]]]:
    got: list[tuple[str, CheckResult]] = []
    waits: SocketWaits[str] = SocketWaits(IterationBudget(0.004),
                                          lambda owner, result, due: got.append((owner, result)), str)
    return waits, got


@aio
async def test_an_established_connect_is_decided_from_its_writable_event() -> None:
    with listener() as srv:
        waits, got = collector()
        pending = pending_connect(srv.getsockname()[1], 5.0)
        sock = pending.sock
        waits.start(pending, "rs1", pending.start)
        for _ in range(200):
            if got:
                break
            await asyncio.sleep(0.01)
        assert [(o, r.ok, r.detail) for o, r in got] == [("rs1", True, "connected")]
        assert len(waits) == 0 and sock.fileno() == -1          # decided: closed, out of the set
        waits.stop()


@aio
async def test_a_silent_server_times_out_once_and_its_socket_is_asked_at_the_deadline() -> None:
    with listener() as srv:
        waits, got = collector()
        sock = socket.create_connection(srv.getsockname())
        sock.setblocking(False)
        silent = Silent(sock, 0.1)
        waits.start(silent, "rs1", 0.0)  # type: ignore[arg-type]
        await asyncio.sleep(0.3)
        assert [(o, r.ok, r.detail) for o, r in got] == [("rs1", False, "timeout")]
        assert silent.steps == 1 and len(waits) == 0             # asked once, at the deadline
        waits.stop()


@aio
async def test_many_ready_sockets_are_handled_a_budget_per_loop_iteration() -> None:
    """300 ready sockets whose verdict takes 1 ms each: other callbacks run in between."""
    class Slow(PendingConnect):
        def step(self) -> tuple[bool, str] | None:
            end = time.perf_counter() + 0.001
            while time.perf_counter() < end:
                pass
            return True, "answered"

    with listener() as srv:
        waits, got = collector()
        socks: list[Any] = []
        for i in range(300):
            pending = pending_connect(srv.getsockname()[1], 30.0, Slow)
            socks.append(pending)
            waits.start(pending, f"rs{i}", pending.start)
        most = seen = 0
        for _ in range(100_000):
            if len(got) == 300:
                break
            await asyncio.sleep(0)
            most, seen = max(most, len(got) - seen), len(got)
        assert len(got) == 300 and all(r.detail == "answered" for _, r in got)
        assert most <= LONGEST / 0.001 + 2, most
        waits.stop()


@aio
async def test_stop_closes_every_waiting_socket_without_a_verdict() -> None:
    with listener() as srv:
        waits, got = collector()
        socks = [socket.create_connection(srv.getsockname()) for _ in range(3)]
        for sock in socks:
            sock.setblocking(False)
            waits.start(Silent(sock, 30.0), "rs", 0.0)  # type: ignore[arg-type]
        waits.stop()
        await asyncio.sleep(0.05)
        assert got == [] and all(s.fileno() == -1 for s in socks) and len(waits) == 0
