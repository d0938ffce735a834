"""The check scheduler: inline connect checks, no drift, robustness, stopping servers mid-check."""

from __future__ import annotations

import asyncio
import functools
import socket
import time
from collections.abc import Awaitable, Callable

import pytest

from piranha_web.pulse.health.checks import (
    CheckResult, PendingConnect, connect_outcome, make_spec, quick_check,
)
from piranha_web.pulse.health.state import DOWN, UP
from piranha_web.pulse.health import monitor as monitor_module
from piranha_web.pulse.health.budget import LONGEST
from piranha_web.pulse.health.monitor import Monitor, Target
from tests.support.ports import free_port


def aio(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test in a fresh event loop (no pytest plugin needed)."""
    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 30))
    return wrapper


def pending_connect(port: int, timeout: float, kind: type[PendingConnect] = PendingConnect) -> PendingConnect:
    """A connect to a loopback ``port`` handed over as still waiting: the monitor's socket path."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    now = time.monotonic()
    return kind(sock, now, now + timeout)


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
    if isinstance(down, PendingConnect):        # a refusal may also come back asynchronously
        writable = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().add_writer(down.sock.fileno(), writable.set_result, None)
        await writable
        asyncio.get_running_loop().remove_writer(down.sock.fileno())
        decided, down = down, connect_outcome(down)
        decided.sock.close()
    assert isinstance(down, CheckResult) and not down.ok and "refused" in down.detail.lower()


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


@aio
async def test_first_round_is_a_burst_then_spread_over_the_interval() -> None:
    """New servers are checked at once (added to the kernel only after a pass), the next round spread."""
    with listener() as srv:
        port = srv.getsockname()[1]
        mon = Monitor()
        targets = [Target(("v", f"rs{i}"), make_spec("127.0.0.1", port, 10.0), 10.0, 10.0)
                   for i in range(100)]
        t0 = asyncio.get_running_loop().time()     # after building the targets: only the scheduler counts
        mon.update(targets)
        await until_true(lambda: mon.checks_done == 100, 5.0)
        second = sorted(due - t0 for due, _seq, _watch in mon._heap)
        await mon.stop()
    assert all(s.state == UP for s in mon.states.values())
    assert len(second) == 100 and second[0] >= 10.0 and second[-1] < 20.0
    assert second[-1] - second[0] > 5.0          # spread over the interval, not all at 10 s


@aio
async def test_one_scheduler_run_never_holds_the_loop_longer_than_a_slice(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """1,000 checks due at once run in slices; other callbacks get their turn between slices."""
    def slow_check(spec: object) -> CheckResult:
        end = time.perf_counter() + 0.001
        while time.perf_counter() < end:
            pass
        return CheckResult(True, "connected", 0.001)

    monkeypatch.setattr(monitor_module, "quick_check", slow_check)
    mon = Monitor()
    mon.update([Target(("v", f"rs{i}"), make_spec("127.0.0.1", 1, 60.0), 60.0, 60.0) for i in range(1000)])
    most = seen = 0
    while mon.checks_done < 1000:
        await asyncio.sleep(0)                   # a waiting reload or heartbeat would run here
        most, seen = max(most, mon.checks_done - seen), mon.checks_done
    await mon.stop()
    assert most <= LONGEST / 0.001 + 2, most        # not all of them in one iteration


@aio
async def test_answers_arriving_together_are_processed_a_slice_per_loop_iteration(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """200 checks whose sockets are ready at once: other callbacks run between slices of completions."""
    class SlowConnect(PendingConnect):
        def step(self) -> tuple[bool, str] | None:
            end = time.perf_counter() + 0.001          # 1 ms of work per finished check
            while time.perf_counter() < end:
                pass
            return super().step()

    def connected(spec: object) -> PendingConnect:
        return pending_connect(port, 30.0, SlowConnect)

    with listener() as srv:
        port = srv.getsockname()[1]
        monkeypatch.setattr(monitor_module, "quick_check", connected)
        mon = Monitor()
        mon.update([Target(("v", f"rs{i}"), make_spec("127.0.0.1", port, 30.0), 60.0, 60.0)
                    for i in range(200)])
        most = seen = 0
        for _ in range(100_000):
            if mon.checks_done >= 200:
                break
            await asyncio.sleep(0)               # a waiting reload or heartbeat would run here
            most, seen = max(most, mon.checks_done - seen), mon.checks_done
        await mon.stop()
    assert mon.checks_done == 200 and all(s.state == UP for s in mon.states.values())
    assert most <= LONGEST / 0.001 + 2, most        # not all of them in one iteration


@aio
async def test_checks_due_close_together_share_one_wake_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """200 servers spread over a 1 s interval: a wake-up per 20 ms (2 % of it), not one per check."""
    wakes = [0]
    tick = Monitor._tick

    def counting(self: Monitor) -> None:
        wakes[0] += 1
        tick(self)

    monkeypatch.setattr(Monitor, "_tick", counting)
    with listener() as srv:
        port = srv.getsockname()[1]
        mon = Monitor()
        mon.update([Target(("v", f"rs{i}"), make_spec("127.0.0.1", port, 1.0), 1.0, 1.0) for i in range(200)])
        await asyncio.sleep(1.2)                 # the burst, then the spread second round
        wakes[0], done = 0, mon.checks_done
        await asyncio.sleep(1.0)
        await mon.stop()
    assert mon.checks_done - done >= 150         # every server still checked about once a second
    assert wakes[0] <= 1.0 / (monitor_module.SLACK_SHARE * 1.0) + 10, wakes[0]


async def until_true(predicate: Callable[[], bool], limit: float) -> None:
    """Wait (bounded) until ``predicate`` holds."""
    for _ in range(int(limit / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


@aio
async def test_a_connect_that_finished_while_the_loop_was_busy_is_not_a_timeout(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop is blocked past the check's timeout while the handshake completes: the socket decides."""
    def in_flight(spec: object) -> PendingConnect:     # what a check across a slow link returns
        return pending_connect(port, 0.05)

    with listener() as srv:
        port = srv.getsockname()[1]
        monkeypatch.setattr(monitor_module, "quick_check", in_flight)
        mon = Monitor()
        mon.update([Target(("v", "rs"), make_spec("127.0.0.1", port, 0.05), 10.0, 10.0)])
        await asyncio.sleep(0)                 # the first check starts ...
        time.sleep(0.2)                        # ... and the loop is busy past its timeout
        await until_true(lambda: mon.checks_done >= 1, 5.0)
        await mon.stop()
    state = mon.states[("v", "rs")]
    assert state.state == UP and state.last_result == "connected", state


@aio
async def test_an_http_answer_that_came_while_the_loop_was_busy_is_not_a_timeout() -> None:
    """An HTTP check waits on callbacks, not a task; past its timeout the socket still decides."""
    import threading

    from piranha_web.lvscf.health import check_settings
    from piranha_web.lvscf.model import VirtualServer
    from piranha_web.pulse.health.checks import spec_for

    asked, busy = threading.Event(), threading.Event()

    def answer_one(srv: socket.socket) -> None:
        conn, _ = srv.accept()
        with conn:
            conn.recv(4096)
            asked.set()
            busy.wait(5)                       # answer only while the loop is blocked
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")

    with listener() as srv:
        port = srv.getsockname()[1]
        server = threading.Thread(target=answer_one, args=(srv,), daemon=True)
        server.start()
        cs = check_settings(VirtualServer("v", port=port, timeout=0.05, check="http"))
        spec = spec_for("127.0.0.1", port, cs, "tcp", None, None, False, None, explicit=True)
        mon = Monitor()
        mon.update([Target(("v", "rs"), spec, 10.0, 10.0)])
        await until_true(asked.is_set, 5.0)    # the request is out ...
        busy.set()
        time.sleep(0.3)                        # ... the loop is busy past the timeout while it is answered
        await until_true(lambda: mon.checks_done >= 1, 5.0)
        await mon.stop()
        server.join(5)
    state = mon.states[("v", "rs")]
    assert state.state == UP and state.last_result == "status 200", state


@aio
async def test_a_socket_that_cannot_be_watched_fails_its_check_and_the_others_go_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from piranha_web.pulse.health.waits import SocketWaits

    def in_flight(spec: object) -> PendingConnect:
        return pending_connect(port, 5.0)

    real_start = SocketWaits.start

    def refusing(self: SocketWaits[object], pending: PendingConnect, owner: object, due: float) -> None:
        if getattr(owner, "target").key[1] == "bad":
            raise OSError(17, "File exists")
        real_start(self, pending, owner, due)

    with listener() as srv:
        port = srv.getsockname()[1]
        monkeypatch.setattr(monitor_module, "quick_check", in_flight)
        monkeypatch.setattr(SocketWaits, "start", refusing)
        mon = Monitor()
        mon.update([Target(("v", name), make_spec("127.0.0.1", port, 5.0), 0.2, 0.2)
                    for name in ("bad", "ok")])
        await until_true(lambda: mon.checks_done >= 6, 5.0)
        await mon.stop()
    assert mon.states[("v", "ok")].state == UP
    assert mon.states[("v", "bad")].state == DOWN and "cannot wait" in mon.states[("v", "bad")].last_result
