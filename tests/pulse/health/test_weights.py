"""rise/fall counting, slow-start ramps, agent and dynamic weights, nanny's load formula."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path

from piranha_web.lvscf.health import check_settings
from piranha_web.lvscf.model import VirtualServer
from piranha_web.pulse.health.checks import make_spec, spec_for
from piranha_web.pulse.health.load import load_argv, nanny_weight, parse_load
from piranha_web.pulse.health.monitor import Monitor, Target
from piranha_web.pulse.health.state import DOWN, UNKNOWN, UP, HealthState
from piranha_web.pulse.health.weights import agent_weight, kernel_weight, ramp_weight
from tests.pulse.health.test_checks import aio
from tests.pulse.health.test_probes import serve_agent


def test_fall_and_rise_count_from_the_current_state() -> None:
    s = HealthState(rise=2, fall=3, state=UP)
    assert [s.record(False, t) for t in (1, 2)] == [False, False] and s.state == UP
    assert s.record(True, 3) is False and s.failures == 0      # a success resets the failures
    assert [s.record(False, t) for t in (4, 5, 6)] == [False, False, True] and s.state == DOWN
    assert s.record(True, 7) is False and s.record(False, 8) is False
    assert s.record(True, 9) is False and s.record(True, 10) is True and s.state == UP
    assert "".join("+" if r else "-" for r in s.history) == "--+---+-++"


def test_unknown_enters_after_its_first_success() -> None:
    s = HealthState(rise=5, fall=3)
    assert s.state == UNKNOWN and s.record(True, 1) and s.state == UP
    t = HealthState(rise=2, fall=3)
    assert t.record(False, 1) and t.state == DOWN            # not in the table: nothing to keep


def test_ramp_is_smooth_from_a_32nd() -> None:
    assert [ramp_weight(64, 10, t) for t in (0, 2.5, 5, 9.9, 10, 11)] == [2, 17, 33, 63, 64, 64]
    assert ramp_weight(10, 10, 0) == 1 and ramp_weight(0, 10, 1) == 0


def test_agent_percent_rounds_half_up_and_keeps_one() -> None:
    assert [agent_weight(10, p) for p in (50, 15, 1, 0, 100)] == [5, 2, 1, 0, 10]
    assert agent_weight(3, 50) == 2


def test_kernel_weight_precedence() -> None:
    s = HealthState(state=UP)
    assert kernel_weight(10, s, 0, 0) == 10
    s.dynamic_weight = 4
    assert kernel_weight(10, s, 0, 0) == 4
    s.ramp_start = 100.0
    assert kernel_weight(10, s, 10, 105) == 1 + int(3 * 0.5)
    s.agent_pct = 50
    assert kernel_weight(10, s, 10, 105) == 5                 # the agent's weight does not ramp
    s.drain = True
    assert kernel_weight(10, s, 10, 105) == 0


def test_nanny_formula() -> None:
    assert nanny_weight(10, 10, 0.0) == 15                    # + W/2 * cbrt(1)
    assert nanny_weight(10, 10, 0.9) == 10                    # +2.3 < W/4: unchanged
    assert nanny_weight(15, 10, 2.0) == 10                    # - W/2 * cbrt(1)
    assert nanny_weight(10, 10, 9.0) == 10                    # never below the configured weight
    assert nanny_weight(95, 10, 0.0) == 100                   # at most 10 x
    assert nanny_weight(98, 10, 0.0) == 98                    # +2 < W/4: unchanged
    assert nanny_weight(10, 10, 1.0) == 10


def test_load_parsing_and_commands() -> None:
    assert parse_load(" 16:01:02 up 3 days,  2 users,  load average: 0.42, 0.30, 0.11") == 0.42
    assert parse_load("rs1  up 3+02:01, 2 users, load 1.50, 1.00, 0.50\nrs2  up 1+00:00, "
                      "0 users, load 0.10, 0.10, 0.10", "rs2") == 0.10
    assert parse_load("no numbers") is None
    assert load_argv("uptime", "198.51.100.1", "/usr/bin/rsh")[-2:] == ["198.51.100.1", "uptime"]
    assert load_argv("uptime", "198.51.100.1", None)[:5] == ["ssh", "-o", "BatchMode=yes", "-o",
                                                             "StrictHostKeyChecking=yes"]


async def eventually(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    return sock


def target(name: str, port: int, **kw: object) -> Target:
    return Target(("v", name), make_spec("127.0.0.1", port, 0.5), 0.1, 0.1, **kw)  # type: ignore[arg-type]


@aio
async def test_slow_start_only_for_servers_a_reload_adds() -> None:
    sock = listener()
    changes: list[tuple[str, str]] = []
    mon = Monitor(lambda k, s: changes.append((k[1], s)))
    try:
        mon.update([target("old", sock.getsockname()[1], weight=64, slowstart=3.0)])
        await asyncio.sleep(0.3)
        assert mon.health()[("v", "old")] == UP and mon.weights() == {}        # start: no ramp
        mon.update([target("old", sock.getsockname()[1], weight=64, slowstart=3.0),
                    target("new", sock.getsockname()[1], weight=64, slowstart=3.0)])
        for _ in range(100):                  # its first check: at once (first round as a burst)
            if mon.health().get(("v", "new")) == UP:
                break
            await asyncio.sleep(0.01)
        seen = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < 4.0:
            seen.append(mon.weights().get(("v", "new"), 64))
            await asyncio.sleep(0.25)
        assert seen[0] <= 16 and seen[-1] == 64      # low at first (a busy host samples it late)
        assert seen == sorted(seen) and len(set(seen)) >= 3, seen
        ramp_changes = [c for c in changes if c[0] == "new"]
        assert 3 <= len(ramp_changes) <= 6, ramp_changes                        # about one per second
    finally:
        await mon.stop()
        sock.close()


@aio
async def test_agent_weights_and_drain_through_the_monitor() -> None:
    said = [b"50%\n"]
    server, port = await serve_agent(said)
    vs = VirtualServer("v", check="agent", agent_port=port, check_interval=0.1, fall=2)
    spec = spec_for("127.0.0.1", 80, check_settings(vs), "tcp", None, None, False, None, True)
    mon = Monitor()
    key = ("v", "a")
    async with server:
        try:
            mon.update([Target(key, spec, 0.1, 0.1, 1, 2, 10)])
            await asyncio.sleep(0.35)
            assert mon.health()[key] == UP and mon.weights() == {key: 5}
            said[0] = b"drain\n"
            await asyncio.sleep(0.3)
            assert mon.health()[key] == UP and mon.weights() == {key: 0}
            said[0] = b"75%\n"                                   # a percentage keeps the drain
            await asyncio.sleep(0.3)
            assert mon.weights() == {key: 0}
            said[0] = b"maint\n"
            await asyncio.sleep(0.3)
            assert mon.health()[key] == DOWN
            said[0] = b"ready\n"
            await asyncio.sleep(0.3)
            assert mon.health()[key] == UP and mon.weights() == {key: 8}
        finally:
            await mon.stop()


@aio
async def test_load_monitor_follows_nanny_with_a_stub(tmp_path: Path) -> None:
    stub = tmp_path / "fake-rsh"
    load = tmp_path / "load"
    load.write_text("0.00")
    stub.write_text(f"#!/bin/sh\necho \" 10:00:00 up 1 day, load average: $(cat {load}), 0.5, 0.5\"\n")
    stub.chmod(0o755)
    sock = listener()
    mon = Monitor(load_period=0.2)
    key = ("v", "a")
    try:
        argv = tuple(load_argv("uptime", "127.0.0.1", str(stub)))
        mon.update([target("a", sock.getsockname()[1], weight=10, load=argv)])
        assert await eventually(lambda: mon.weights().get(key, 10) >= 20)     # 10 -> 15 -> 20 ...
        load.write_text("9.00")
        assert await eventually(lambda: mon.weights() == {})                 # back down to 10
    finally:
        await mon.stop()
        sock.close()
