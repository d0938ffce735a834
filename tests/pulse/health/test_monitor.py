"""The check scheduler: inline connect checks, no drift, robustness, stopping servers mid-check."""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import Awaitable, Callable

from piranha_web.pulse.health.checks import CheckResult, make_spec, quick_check
from piranha_web.pulse.health.state import DOWN, UP
from piranha_web.pulse.health.monitor import Monitor, Target
from tests.support.ports import free_port


def aio(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test in a fresh event loop (no pytest plugin needed)."""
    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 30))
    return wrapper


def listener() -> socket.socket:
    """A loopback listener with a large backlog (connects complete in the kernel)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(512)
    return srv


@aio
async def test_plain_connect_is_decided_without_waiting() -> None:
    with listener() as srv:
        up = quick_check(make_spec("127.0.0.1", srv.getsockname()[1], 1.0))
    assert isinstance(up, CheckResult) and up.ok and up.detail == "connected"
    down = quick_check(make_spec("127.0.0.1", free_port(), 1.0))
    if not isinstance(down, CheckResult):       # a refusal may also come back asynchronously
        down = await down
    assert not down.ok and "refused" in down.detail.lower()


@aio
async def test_send_expect_continues_asynchronously() -> None:
    async def hello(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.read(10)
        w.write(b"HELLO")
        await w.drain()
        w.close()

    server = await asyncio.start_server(hello, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        pending = quick_check(make_spec("127.0.0.1", port, 1.0, send="hi", expect="HEL"))
        assert not isinstance(pending, CheckResult)
        res = await pending
    assert res.ok and res.detail == "expect matched"


@aio
async def test_schedule_does_not_drift() -> None:
    """Due times are anchored: 20 servers at 0.1 s for 1 s give ~200 checks."""
    with listener() as srv:
        port = srv.getsockname()[1]
        mon = Monitor()
        mon.update([Target(("v", f"rs{i}"), make_spec("127.0.0.1", port, 0.1), 0.1, 0.1)
                    for i in range(20)])
        await asyncio.sleep(1.05)
        await mon.stop()
    assert 150 <= mon.checks_done <= 230
    assert all(s.state == UP for s in mon.states.values())


@aio
async def test_failing_change_handler_does_not_stop_checking() -> None:
    calls: list[str] = []

    def boom(key: tuple[str, str], state: str) -> None:
        calls.append(state)
        raise RuntimeError("handler bug")

    mon = Monitor(boom)
    port = free_port()
    mon.update([Target(("v", "a"), make_spec("127.0.0.1", port, 0.05), 0.05, 0.05),
                Target(("v", "b"), make_spec("127.0.0.1", port, 0.05), 0.05, 0.05)])
    await asyncio.sleep(0.4)
    await mon.stop()
    assert calls == [DOWN, DOWN] and mon.checks_done >= 8


@aio
async def test_removed_server_is_cancelled_mid_check_and_not_checked_again() -> None:
    async def hang(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        w.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    mon = Monitor()
    async with server:
        mon.update([Target(("v", "slow"), make_spec("127.0.0.1", port, 3.0, send="x", expect="OK"), 3.0, 0)])
        for _ in range(60):             # the first check starts within the (spread) first second
            if mon._inflight:
                break
            await asyncio.sleep(0.05)
        assert len(mon._inflight) == 1
        mon.update([])
        await asyncio.sleep(0.05)
        assert not mon._inflight and mon.checks_done == 0
        assert ("v", "slow") not in mon.states
        await mon.stop()


@aio
async def test_kept_server_keeps_state_and_is_checked_once_per_interval() -> None:
    with listener() as srv:
        port = srv.getsockname()[1]
        mon = Monitor()
        t = Target(("v", "a"), make_spec("127.0.0.1", port, 0.1), 0.1, 0.1)
        mon.update([t])
        await asyncio.sleep(0.35)
        mon.update([t])                 # unchanged target: no second schedule entry
        mon.update([t])
        await asyncio.sleep(0.5)
        await mon.stop()
    assert 7 <= mon.checks_done <= 10
    assert mon.states[("v", "a")].state == UP
