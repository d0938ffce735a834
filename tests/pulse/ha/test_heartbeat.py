"""Heartbeat wire format, authentication, replay protection and the UDP endpoint on loopback."""

from __future__ import annotations

import asyncio
import os
import struct
import time

import pytest

from piranha_web.pulse.ha import heartbeat as hbm
from piranha_web.pulse.ha.heartbeat import (
    DecodeError, Heartbeat, HeartbeatEndpoint, HeartbeatKeyError, Link, ReplayGuard,
    decode, encode, load_key,
)
from piranha_web.pulse.ha.role import HaState, Side

KEY = b"k" * 32


def _hb(counter: int = 1, boot: int = 1000, state: HaState = HaState.ACTIVE,
        ts: int | None = None, sender: str = "127.0.0.1") -> Heartbeat:
    return Heartbeat(Side.PRIMARY, state, sender, boot, counter, 7,
                     time.time_ns() if ts is None else ts)


def test_roundtrip_network_byte_order() -> None:
    hb = _hb(counter=5, boot=0x0102030405060708)
    data = encode(KEY, hb)
    assert len(data) == hbm.SIZE
    assert data[:4] == b"PULS"                   # magic, big-endian
    assert data[4] == 1                          # version
    assert struct.unpack("!Q", data[24:32])[0] == 0x0102030405060708
    assert decode(KEY, data) == hb


def test_ipv6_sender_roundtrip() -> None:
    hb = _hb(sender="2001:db8::1")
    assert decode(KEY, encode(KEY, hb)).sender == "2001:db8::1"


@pytest.mark.parametrize("mutate, reason", [
    (lambda d: d[:-1], "bad_size"),
    (lambda d: b"\xbd\xad\xdb\xda", "bad_size"),      # Piranha's 4-byte magic
    (lambda d: b"XXXX" + d[4:], "bad_magic"),
    (lambda d: d[:4] + b"\x02" + d[5:], "bad_version"),
    (lambda d: d[:40] + bytes([d[40] ^ 1]) + d[41:], "bad_mac"),
    (lambda d: d[:-1] + bytes([d[-1] ^ 1]), "bad_mac"),
])
def test_decode_rejects(mutate, reason: str) -> None:
    with pytest.raises(DecodeError) as err:
        decode(KEY, mutate(encode(KEY, _hb())))
    assert err.value.reason == reason


def test_wrong_key_is_bad_mac() -> None:
    with pytest.raises(DecodeError, match="bad_mac"):
        decode(b"x" * 32, encode(KEY, _hb()))


def test_replay_guard_counter_must_grow() -> None:
    guard = ReplayGuard()
    now_ns = time.time_ns()
    assert guard.check(_hb(1, ts=now_ns), 10.0, now_ns) is None
    assert guard.check(_hb(2, ts=now_ns), 10.1, now_ns) is None
    assert guard.check(_hb(2, ts=now_ns), 10.2, now_ns) == "duplicate"
    assert guard.check(_hb(1, ts=now_ns), 10.2, now_ns) == "duplicate"
    # reordered between the two paths: 4 overtakes 3; 3 is late, its second copy a duplicate
    assert guard.check(_hb(4, ts=now_ns), 10.3, now_ns) is None
    assert guard.check(_hb(3, ts=now_ns), 10.3, now_ns) == "late"
    assert guard.check(_hb(3, ts=now_ns), 10.3, now_ns) == "duplicate"
    # far behind the window: a replay
    assert guard.check(_hb(200, ts=now_ns), 10.4, now_ns) is None
    assert guard.check(_hb(100, ts=now_ns), 10.4, now_ns) == "replay"


def test_replay_guard_new_boot() -> None:
    guard = ReplayGuard(max_skew=5)
    now_ns = time.time_ns()
    assert guard.check(_hb(100, boot=1000, ts=now_ns), 10.0, now_ns) is None
    # a restart (bigger boot id) starts the counter again
    assert guard.check(_hb(1, boot=2000, ts=now_ns), 10.1, now_ns) is None
    # the old boot's packets are replays, even with a high counter
    assert guard.check(_hb(500, boot=1000, ts=now_ns), 10.2, now_ns) == "replay"
    # ... unless the peer has been silent (its clock may have gone back) and it is fresh
    assert guard.check(_hb(500, boot=1000, ts=now_ns), 20.0, now_ns) is None


def test_replay_guard_stale_first_packet() -> None:
    guard = ReplayGuard(max_skew=5)
    now_ns = time.time_ns()
    assert guard.check(_hb(1, ts=now_ns - 60 * 10**9), 10.0, now_ns) == "stale"
    assert guard.boot_id is None


def _key_file(tmp_path, content: bytes = b"s3cret-s3cret-s3cret\n", mode: int = 0o600) -> str:
    path = tmp_path / "hb.key"
    path.write_bytes(content)
    os.chmod(path, mode)
    return str(path)


def test_load_key(tmp_path) -> None:
    assert load_key(_key_file(tmp_path)) == b"s3cret-s3cret-s3cret"


@pytest.mark.parametrize("content, mode, match", [
    (b"s3cret-s3cret-s3cret", 0o644, "accessible by others"),
    (b"short", 0o600, "shorter"),
])
def test_load_key_refuses(tmp_path, content: bytes, mode: int, match: str) -> None:
    with pytest.raises(HeartbeatKeyError, match=match):
        load_key(_key_file(tmp_path, content, mode))


def test_load_key_missing(tmp_path) -> None:
    with pytest.raises(HeartbeatKeyError, match="cannot read"):
        load_key(str(tmp_path / "nope"))


def _free_udp_port() -> int:
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _pair(key_a: bytes = KEY, key_b: bytes = KEY):
    """Two endpoints on loopback: primary 127.0.0.1, backup 127.0.0.2, same port."""
    port = _free_udp_port()
    got_a: list[Heartbeat] = []
    got_b: list[Heartbeat] = []
    a = HeartbeatEndpoint(key_a, Side.PRIMARY, [Link("127.0.0.1", "127.0.0.2")], port,
                          got_a.append)
    b = HeartbeatEndpoint(key_b, Side.BACKUP, [Link("127.0.0.2", "127.0.0.1")], port,
                          got_b.append)
    await a.start()
    await b.start()
    return a, b, got_a, got_b


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.005)


def test_endpoint_exchange_and_peer_view() -> None:
    async def run() -> None:
        a, b, got_a, got_b = await _pair()
        try:
            a.send(HaState.ACTIVE, serial_no=12)
            b.send(HaState.STANDBY, serial_no=11)
            await _settle()
            assert [h.state for h in got_b] == [HaState.ACTIVE]
            assert got_b[0].serial_no == 12 and got_b[0].sender == "127.0.0.1"
            assert [h.state for h in got_a] == [HaState.STANDBY]
            assert b.peer.as_dict()["role"] == "primary"
            assert b.peer.as_dict()["serial_no"] == 12
            assert a.stats["sent"] == 1 and b.stats["received"] == 1
        finally:
            a.close()
            b.close()
    asyncio.run(run())


def test_endpoint_drops_forged_and_replayed() -> None:
    async def run() -> None:
        a, b, got_a, got_b = await _pair(key_b=b"other-key" * 4)
        try:
            a.send(HaState.ACTIVE, 1)
            await _settle()
            assert got_b == [] and b.stats["dropped_bad_mac"] == 1
            # a captured valid packet, sent twice: the second copy is a replay/duplicate
            b.key = KEY
            a.send(HaState.ACTIVE, 1)
            await _settle()
            assert len(got_b) == 1
            for _ in range(70):
                a.send(HaState.ACTIVE, 1)
            await _settle()
            assert len(got_b) == 71
            old = encode(KEY, Heartbeat(Side.PRIMARY, HaState.STOPPED, "127.0.0.1",
                                        a.boot_id, 1, 1, time.time_ns()))
            b._received(old, "127.0.0.1")
            assert b.stats["dropped_replay"] == 1 and len(got_b) == 71
            # right key and fresh, but not from the peer's address
            b._received(encode(KEY, _hb(99, boot=a.boot_id)), "127.0.0.9")
            assert b.stats["dropped_wrong_source"] == 1
            # sender id must be the peer's public address
            b._received(encode(KEY, _hb(99, boot=a.boot_id, sender="127.0.0.7")), "127.0.0.1")
            assert b.stats["dropped_wrong_sender"] == 1
            assert len(got_b) == 71
        finally:
            a.close()
            b.close()
    asyncio.run(run())


def test_two_paths_duplicates_are_not_attacks() -> None:
    async def run() -> None:
        port = _free_udp_port()
        got: list[Heartbeat] = []
        a = HeartbeatEndpoint(KEY, Side.PRIMARY, [Link("127.0.0.1", "127.0.0.2"),
                                                  Link("127.0.1.1", "127.0.1.2")], port,
                              lambda h: None)
        b = HeartbeatEndpoint(KEY, Side.BACKUP, [Link("127.0.0.2", "127.0.0.1"),
                                                 Link("127.0.1.2", "127.0.1.1")], port,
                              got.append)
        await a.start()
        await b.start()
        try:
            a.send(HaState.ACTIVE, 3)
            await _settle()
            assert len(got) == 1
            assert b.stats["dropped_duplicate"] == 1
            assert set(b.peer.paths_heard) == {"127.0.0.1", "127.0.1.1"}
        finally:
            a.close()
            b.close()
    asyncio.run(run())


def test_heartbeats_keep_going_while_the_event_loop_is_busy() -> None:
    """The beacon thread sends on time even when the loop is held for a while (a long reload)."""
    async def run() -> None:
        a, b, _got_a, got_b = await _pair()
        beacon = hbm.Beacon(0.05, lambda: a.send_current(lambda: HaState.ACTIVE, lambda: 7))
        try:
            beacon.start()
            time.sleep(0.5)                       # the loop is blocked: nothing is received meanwhile
            sent_while_blocked = a.stats["sent"]
            await _settle()                       # ... and everything queued arrives in order
            beacon.stop()
            after = a.stats["sent"]
            await asyncio.sleep(0.15)
            assert sent_while_blocked >= 6, sent_while_blocked
            assert a.stats["sent"] == after       # nothing after stop()
            assert len(got_b) >= 6 and b.stats.get("dropped_replay", 0) == 0
            assert [h.counter for h in got_b] == sorted(h.counter for h in got_b)
        finally:
            beacon.stop()
            a.close()
            b.close()
    asyncio.run(run())
