"""Role state machine (pure) and the failover controller with two nodes on loopback."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from piranha_web.pulse.ha.failover import (
    Action, FailoverController, Hooks, IllegalTransition, RoleMachine,
)
from piranha_web.pulse.ha.heartbeat import Heartbeat, HeartbeatEndpoint, Link
from piranha_web.pulse.ha.role import HaState, Side

DEAD = 0.5


def _peer(state: HaState, role: Side = Side.BACKUP) -> Heartbeat:
    return Heartbeat(role, state, "192.0.2.2", 1, 1, 1, 0)


def _machine(role: Side = Side.PRIMARY, **kw) -> RoleMachine:
    m = RoleMachine(role, DEAD, **kw)
    assert m.start(0.0) is Action.NONE
    return m


def test_force_active() -> None:
    m = RoleMachine(Side.BACKUP, DEAD)
    assert m.start(0.0, force_active=True) is Action.ACTIVATE
    assert m.state is HaState.ACTIVE


@pytest.mark.parametrize("role", list(Side))
def test_partner_dead_activates_after_deadtime(role: Side) -> None:
    m = _machine(role)
    assert m.tick(DEAD - 0.01) is Action.NONE
    assert m.tick(DEAD) is Action.ACTIVATE
    assert m.state is HaState.ACTIVE and "dead" in m.reason


def test_heartbeats_rearm_dead_timer() -> None:
    m = _machine(Side.BACKUP)
    for i in range(1, 20):
        now = i * 0.1
        assert m.heartbeat(_peer(HaState.ACTIVE, Side.PRIMARY), now) is Action.NONE
        assert m.tick(now + 0.05) is Action.NONE
    assert m.state is HaState.STANDBY
    assert m.tick(1.9 + DEAD + 0.01) is Action.ACTIVATE


@pytest.mark.parametrize("peer_state", [HaState.STOPPED, HaState.FAULT])
def test_peer_stopping_or_fault_hands_over_at_once(peer_state: HaState) -> None:
    m = _machine(Side.BACKUP)
    assert m.heartbeat(_peer(peer_state, Side.PRIMARY), 0.1) is Action.ACTIVATE


def test_both_standby_primary_wins() -> None:
    primary, backup = _machine(Side.PRIMARY), _machine(Side.BACKUP)
    assert backup.heartbeat(_peer(HaState.STANDBY, Side.PRIMARY), 0.1) is Action.NONE
    assert primary.heartbeat(_peer(HaState.STANDBY), 0.1) is Action.ACTIVATE
    assert backup.heartbeat(_peer(HaState.ACTIVE, Side.PRIMARY), 0.2) is Action.NONE
    assert (primary.state, backup.state) == (HaState.ACTIVE, HaState.STANDBY)


def test_backup_activates_if_primary_stays_standby() -> None:
    backup = _machine(Side.BACKUP)
    assert backup.heartbeat(_peer(HaState.STANDBY, Side.PRIMARY), 0.2) is Action.NONE
    assert backup.heartbeat(_peer(HaState.STANDBY, Side.PRIMARY), DEAD) is Action.ACTIVATE


def test_no_preemption_returning_primary_stays_standby() -> None:
    primary = _machine(Side.PRIMARY)
    for i in range(10):
        assert primary.heartbeat(_peer(HaState.ACTIVE), i * 0.1) is Action.NONE
    assert primary.state is HaState.STANDBY


def test_preemption_gives_service_back() -> None:
    primary = _machine(Side.PRIMARY, preempt=True)
    backup = RoleMachine(Side.BACKUP, DEAD)
    backup.start(0.0, force_active=True)
    assert primary.heartbeat(_peer(HaState.ACTIVE), 0.1) is Action.ACTIVATE
    assert backup.heartbeat(_peer(HaState.ACTIVE, Side.PRIMARY), 0.2) is Action.DEACTIVATE
    assert (primary.state, backup.state) == (HaState.ACTIVE, HaState.STANDBY)


def test_a_heartbeat_sent_before_the_peer_was_declared_dead_does_not_undo_the_takeover() -> None:
    backup = _machine(Side.BACKUP)
    assert backup.tick(DEAD, wall_ns=5_000) is Action.ACTIVATE
    stale = Heartbeat(Side.PRIMARY, HaState.ACTIVE, "192.0.2.1", 1, 7, 1, 4_999)   # queued, read late
    assert backup.heartbeat(stale, DEAD + 0.3) is Action.NONE
    assert backup.state is HaState.ACTIVE and backup.dead_at == DEAD      # not even a sign of life
    fresh = Heartbeat(Side.PRIMARY, HaState.ACTIVE, "192.0.2.1", 1, 8, 1, 5_001)   # the peer is alive
    assert backup.heartbeat(fresh, DEAD + 0.4) is Action.DEACTIVATE
    assert backup.state is HaState.STANDBY


def test_an_old_timestamp_counts_again_one_deadtime_after_the_takeover() -> None:
    """A peer whose clock is behind ours is not ignored for longer than one deadtime."""
    backup = _machine(Side.BACKUP)
    assert backup.tick(DEAD, wall_ns=5_000) is Action.ACTIVATE
    behind = Heartbeat(Side.PRIMARY, HaState.ACTIVE, "192.0.2.1", 1, 7, 1, 4_000)
    assert backup.heartbeat(behind, DEAD + backup.deadtime + 0.1) is Action.DEACTIVATE


def test_split_brain_then_heal_primary_wins() -> None:
    primary, backup = _machine(Side.PRIMARY), _machine(Side.BACKUP)
    primary.tick(DEAD)
    # path cut: backup hears nothing and takes over too
    assert backup.tick(DEAD) is Action.ACTIVATE
    assert primary.state is HaState.ACTIVE and backup.state is HaState.ACTIVE
    # path back: both see an active peer
    assert primary.heartbeat(_peer(HaState.ACTIVE), 2.0) is Action.REANNOUNCE
    assert backup.heartbeat(_peer(HaState.ACTIVE, Side.PRIMARY), 2.0) is Action.DEACTIVATE
    assert (primary.state, backup.state) == (HaState.ACTIVE, HaState.STANDBY)


def test_monitor_links_fault_and_recovery() -> None:
    m = _machine(Side.PRIMARY)
    m.tick(DEAD)
    assert m.links(False) is Action.DEACTIVATE
    assert m.state is HaState.FAULT
    assert m.tick(10.0) is Action.NONE               # no activation while faulty
    assert m.links(True) is Action.NONE and m.state is HaState.STANDBY
    assert m.tick(10.0) is Action.ACTIVATE


def test_stop() -> None:
    m = _machine()
    m.tick(DEAD)
    assert m.stop() is Action.DEACTIVATE
    assert m.state is HaState.STOPPED
    with pytest.raises(IllegalTransition):
        m.tick(1.0)


# --- controller: two nodes talking over loopback -------------------------------------------

KEEPALIVE = 0.05
CDEAD = 0.3
KEY = b"loopback-test-key-32-bytes-long!"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Node:
    """A controller whose hooks only record what they were asked to do."""

    def __init__(self, role: Side, local: str, peer: str, port: int) -> None:
        self.calls: list[str] = []
        self.ctl = self._make(role, local, peer, port)

    def _make(self, role: Side, local: str, peer: str, port: int) -> FailoverController:
        async def rec(name: str) -> None:
            self.calls.append(name)
        hooks = Hooks(lambda: rec("activate"), lambda: rec("deactivate"),
                      lambda: rec("reannounce"))
        endpoint = HeartbeatEndpoint(KEY, role, [Link(local, peer)], port, lambda hb: None)
        return FailoverController(RoleMachine(role, CDEAD), endpoint, KEEPALIVE, hooks,
                                  lambda: 1)


async def _until(cond, limit: float = 3.0) -> float:
    start = time.monotonic()
    while not cond():
        assert time.monotonic() - start < limit, "condition not reached in time"
        await asyncio.sleep(0.01)
    return time.monotonic() - start


def test_controller_startup_kill_and_graceful_stop() -> None:
    async def run() -> None:
        port = _free_udp_port()
        p = Node(Side.PRIMARY, "127.0.0.1", "127.0.0.2", port)
        b = Node(Side.BACKUP, "127.0.0.2", "127.0.0.1", port)
        await p.ctl.start()
        await b.ctl.start()
        try:
            # both start standby; the primary wins at once, well before deadtime
            took = await _until(lambda: p.ctl.state is HaState.ACTIVE)
            assert took < CDEAD
            await asyncio.sleep(3 * KEEPALIVE)
            assert b.ctl.state is HaState.STANDBY and b.calls == []
            assert b.ctl.status()["peer"]["state"] == "active"
            # graceful stop: the backup takes over without waiting for deadtime
            t0 = time.monotonic()
            await p.ctl.stop()
            await _until(lambda: b.ctl.state is HaState.ACTIVE)
            assert time.monotonic() - t0 < CDEAD
            assert p.calls == ["activate", "deactivate"]
            await _until(lambda: b.calls == ["activate"])
            # the primary comes back: no preemption, it stays standby
            p2 = Node(Side.PRIMARY, "127.0.0.1", "127.0.0.2", port)
            await p2.ctl.start()
            await asyncio.sleep(2 * CDEAD)
            assert p2.ctl.state is HaState.STANDBY and b.ctl.state is HaState.ACTIVE
            await p2.ctl.stop()
        finally:
            await b.ctl.stop()
    asyncio.run(run())


def test_controller_silent_peer_takes_deadtime() -> None:
    async def run() -> None:
        port = _free_udp_port()
        b = Node(Side.BACKUP, "127.0.0.2", "127.0.0.1", port)
        t0 = time.monotonic()
        await b.ctl.start()
        try:
            await _until(lambda: b.ctl.state is HaState.ACTIVE)
            assert time.monotonic() - t0 >= CDEAD
            assert b.ctl.transitions[-1][1] == "active"
        finally:
            await b.ctl.stop()
        assert b.calls == ["activate", "deactivate"]
    asyncio.run(run())
