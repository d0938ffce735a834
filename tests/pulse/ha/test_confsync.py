"""Config sync over loopback: authenticated encrypted pull, forward-only serial_no, flood limits."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from piranha_web import lvscf
from piranha_web.pulse.ha import confsync
from piranha_web.pulse.ha.confsync import (
    MAX_CONNECTIONS, REPLAY_WINDOW, ConfigPuller, ConfigServer, NonceCache, SyncError, fetch, install,
    make_request,
)
from tests.support.ports import free_port

sys.path.insert(0, str(Path(__file__).parents[1]))
from pulsekit import ha_pair_globals  # noqa: E402

KEY = b"confsync-test-key-0123456789abcd"


def conf(serial: int, rs: str = "192.0.2.11") -> str:
    return ha_pair_globals(serial) + f"""virtual web {{
    active = 1
    address = 203.0.113.10 eth0:1
    port = 80
    scheduler = rr
    server rs1 {{
        address = {rs}
        active = 1
    }}
}}
"""


def test_sample_is_valid() -> None:
    assert lvscf.load(conf(4)).serial_no == 4


def test_install_rules(tmp_path: Path) -> None:
    path = tmp_path / "lvs.cf"
    path.write_text(conf(3))
    with pytest.raises(SyncError, match="mismatch"):
        install(path, conf(5), advertised=6, have_serial=3)
    with pytest.raises(SyncError, match="refusing"):
        install(path, conf(3), advertised=3, have_serial=3)
    with pytest.raises(SyncError, match="invalid"):
        install(path, conf(5).replace("rr", "bogus"), advertised=5, have_serial=3)
    assert lvscf.load(path.read_text()).serial_no == 3
    install(path, conf(5), advertised=5, have_serial=3)
    assert path.read_text() == conf(5)


def test_pull_newer_config(tmp_path: Path) -> None:
    async def run() -> None:
        src, dst = tmp_path / "a.cf", tmp_path / "b.cf"
        src.write_text(conf(9, rs="192.0.2.99"))
        dst.write_text(conf(2))
        port = free_port()
        server = ConfigServer(KEY, src, lambda: 9, ["127.0.0.1"])
        await server.start("127.0.0.1", port)
        installed: list[int] = []
        puller = ConfigPuller(KEY, dst, lambda: lvscf.parse(dst.read_text()).serial_no,
                              lambda cfg: installed.append(cfg.serial_no))
        try:
            puller.peer_serial(9, "127.0.0.1", port)
            puller.peer_serial(9, "127.0.0.1", port)        # one pull at a time
            for _ in range(100):
                if installed:
                    break
                await asyncio.sleep(0.01)
            assert installed == [9]
            assert dst.read_text() == src.read_text()
            assert server.stats["served"] == 1
            puller.peer_serial(9, "127.0.0.1", port)        # not newer any more: nothing
            await asyncio.sleep(0.05)
            assert server.stats["served"] == 1
        finally:
            await puller.close()
            await server.close()
    asyncio.run(run())


def test_wrong_key_refused_both_ways(tmp_path: Path) -> None:
    async def run() -> None:
        src = tmp_path / "a.cf"
        src.write_text(conf(9))
        port = free_port()
        server = ConfigServer(KEY, src, lambda: 9, ["127.0.0.1"])
        await server.start("127.0.0.1", port)
        try:
            with pytest.raises(SyncError):
                await fetch(b"another-key-another-key-another!", "127.0.0.1", port, 1)
            assert server.stats["refused"] == 1
            # a raw request replayed with a different nonce fails the MAC too
            req = bytearray(make_request(KEY, b"n" * 16, 1))
            req[5] ^= 1
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(bytes(req))
            assert await reader.read() == b""
            writer.close()
            assert server.stats["refused"] == 2
        finally:
            await server.close()
    asyncio.run(run())


def test_pull_failure_is_reported_and_backed_off(tmp_path: Path) -> None:
    async def run() -> None:
        dst = tmp_path / "b.cf"
        dst.write_text(conf(2))
        puller = ConfigPuller(KEY, dst, lambda: 2, lambda cfg: None, retry_after=60)
        port = free_port()   # nobody listens
        puller.peer_serial(5, "127.0.0.1", port)
        for _ in range(100):
            if puller.stats["failed"]:
                break
            await asyncio.sleep(0.01)
        assert puller.stats["failed"] == 1 and "connect" in (puller.last_error or "")
        puller.peer_serial(5, "127.0.0.1", port)     # backing off: no new attempt
        await asyncio.sleep(0.05)
        assert puller.stats["failed"] == 1
        await puller.close()
    asyncio.run(run())


# ---- a flood, a stranger or a replay gets nothing ---------------------------------------------
async def _served(tmp_path: Path, peers: list[str]) -> tuple[ConfigServer, int]:
    src = tmp_path / "a.cf"
    src.write_text(conf(9))
    port = free_port()
    server = ConfigServer(KEY, src, lambda: 9, peers)
    await server.start("127.0.0.1", port)
    return server, port


async def _exchange(port: int, data: bytes, timeout: float = 2.0) -> bytes:
    """Send ``data`` and read until the server closes; what came back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        return await asyncio.wait_for(reader.read(), timeout)
    except ConnectionResetError:
        return b""
    finally:
        writer.close()


def test_a_non_peer_address_gets_nothing(tmp_path: Path) -> None:
    async def run() -> None:
        server, port = await _served(tmp_path, ["192.0.2.2"])
        try:
            assert await _exchange(port, make_request(KEY, os.urandom(16), 1)) == b""
            with pytest.raises(SyncError):
                await fetch(KEY, "127.0.0.1", port, 1)
            assert server.stats["not_peer"] == 2 and server.stats["served"] == 0
        finally:
            await server.close()
    asyncio.run(run())


def test_payload_is_encrypted_on_the_wire(tmp_path: Path) -> None:
    async def run() -> None:
        server, port = await _served(tmp_path, ["127.0.0.1"])
        try:
            wire = await _exchange(port, make_request(KEY, os.urandom(16), 1))
            text = (tmp_path / "a.cf").read_text()
            assert len(wire) > len(text)
            for clear in ("virtual web", "192.0.2.11", "serial_no", "scheduler"):
                assert clear.encode() not in wire
            assert await fetch(KEY, "127.0.0.1", port, 1) == (9, text)
        finally:
            await server.close()
    asyncio.run(run())


def test_a_replayed_or_stale_request_gets_nothing(tmp_path: Path) -> None:
    async def run() -> None:
        server, port = await _served(tmp_path, ["127.0.0.1"])
        try:
            request = make_request(KEY, os.urandom(16), 1)
            assert await _exchange(port, request) != b""
            assert await _exchange(port, request) == b""
            old = make_request(KEY, os.urandom(16), 1, time_ns=time.time_ns() - int(REPLAY_WINDOW * 2e9))
            assert await _exchange(port, old) == b""
            assert server.stats["served"] == 1 and server.stats["replayed"] == 2
        finally:
            await server.close()
    asyncio.run(run())


def test_nonce_cache_forgets_only_outside_the_window() -> None:
    cache = NonceCache(window=10)
    assert cache.fresh(b"a", int(100e9), now=100)
    assert not cache.fresh(b"a", int(100e9), now=105)
    assert cache.fresh(b"b", int(120e9), now=120)      # "a" has left the window: dropped
    assert b"a" not in cache._seen
    assert not cache.fresh(b"c", int(100e9), now=120)  # its timestamp is outside the window


def test_idle_connections_are_capped_and_closed_within_a_second(tmp_path: Path) -> None:
    async def run() -> None:
        server, port = await _served(tmp_path, ["127.0.0.1"])
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(MAX_CONNECTIONS)]
        try:
            await asyncio.sleep(0.05)
            assert server.active == MAX_CONNECTIONS
            t0 = time.monotonic()
            assert await _exchange(port, b"", timeout=0.5) == b""       # over the cap: closed at once
            assert time.monotonic() - t0 < 0.3 and server.stats["busy"] == 1
            for reader, _writer in idle:                                 # idle ones: closed by the server
                assert await asyncio.wait_for(reader.read(), 1.0) == b""
            assert time.monotonic() - t0 < 1.0
            await asyncio.sleep(0.05)
            assert server.active == 0
            assert await fetch(KEY, "127.0.0.1", port, 1) == (9, (tmp_path / "a.cf").read_text())
        finally:
            for _reader, writer in idle:
                writer.close()
            await server.close()
    asyncio.run(run())


def test_no_connection_is_served_near_the_descriptor_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def run() -> None:
        server, port = await _served(tmp_path, ["127.0.0.1"])
        try:
            monkeypatch.setattr(confsync, "fd_budget", lambda: 2)
            assert await _exchange(port, make_request(KEY, os.urandom(16), 1)) == b""
            assert server.stats["no_descriptors"] == 1 and server.stats["served"] == 0
        finally:
            await server.close()
    asyncio.run(run())
