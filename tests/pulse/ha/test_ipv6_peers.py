"""Heartbeats and config sync between directors whose addresses are IPv6 (over ::1)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from piranha_web.pulse.ha.confsync import ConfigServer, fetch
from piranha_web.pulse.ha.heartbeat import Heartbeat, HeartbeatEndpoint, Link
from piranha_web.pulse.ha.role import HaState, Side

KEY = b"ipv6-peers-test-key-0123456789ab"


def _free_ports6(count: int, kind: int = socket.SOCK_DGRAM) -> list[int]:
    socks = [socket.socket(socket.AF_INET6, kind) for _ in range(count)]
    try:
        for s in socks:
            s.bind(("::1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def test_heartbeats_over_ipv6() -> None:
    async def run() -> None:
        port_a, port_b = _free_ports6(2)
        got_a: list[Heartbeat] = []
        got_b: list[Heartbeat] = []
        a = HeartbeatEndpoint(KEY, Side.PRIMARY, [Link("::1", "::1")], port_a, got_a.append, peer_port=port_b)
        b = HeartbeatEndpoint(KEY, Side.BACKUP, [Link("::1", "::1")], port_b, got_b.append, peer_port=port_a)
        await a.start()
        await b.start()
        try:
            a.send(HaState.ACTIVE, serial_no=5)
            b.send(HaState.STANDBY, serial_no=5)
            for _ in range(100):
                if got_a and got_b:
                    break
                await asyncio.sleep(0.01)
            assert [h.state for h in got_b] == [HaState.ACTIVE] and got_b[0].sender == "::1"
            assert [h.state for h in got_a] == [HaState.STANDBY]
        finally:
            a.close()
            b.close()
    asyncio.run(run())


def test_config_sync_over_ipv6(tmp_path: Path) -> None:
    async def run() -> None:
        src = tmp_path / "lvs.cf"
        src.write_text("serial_no = 9\nprimary = 2001:db8::1\nbackup = 2001:db8::2\n")
        server = ConfigServer(KEY, src, lambda: 9, ["::1"])
        port = _free_ports6(1, socket.SOCK_STREAM)[0]
        await server.start("::1", port)
        try:
            serial, text = await fetch(KEY, "::1", port, 1)
        finally:
            await server.close()
        assert serial == 9 and text == src.read_text()
    asyncio.run(run())


def test_sync_daemon_uses_the_ipv6_group_for_ipv6_directors() -> None:
    from piranha_web.lvscf import load
    from piranha_web.pulse.ha.redundancy import sync_group6

    v6 = load("primary = 2001:db8:c::1\nbackup = 2001:db8:c::2\nsyncdaemon = 1\nsyncd_iface = eth2\n")
    v4 = load("primary = 203.0.113.1\nbackup = 203.0.113.2\nsyncdaemon = 1\nsyncd_iface = eth2\n")
    assert sync_group6(v6) == "ff02::51"
    assert sync_group6(v4) is None


def test_an_ipv6_primary_address_is_recognised_as_ours() -> None:
    from piranha_web.pulse.ha.role import owns_address

    assert owns_address("::1") and owns_address("127.0.0.1")
    assert not owns_address("2001:db8:ffff::1") and not owns_address("192.0.2.77")
