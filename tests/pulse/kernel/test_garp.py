"""Gratuitous ARP / unsolicited NA frames, checked byte for byte (sending is covered under IPVS)."""

from __future__ import annotations

import asyncio
import ipaddress
import struct

import pytest

from piranha_web.pulse.kernel import garp
from piranha_web.pulse.kernel.garp import (
    _checksum, arp_announcement, frame_for, physical_device, unsolicited_na,
)

MAC = bytes.fromhex("020000000001")


def test_physical_device_strips_alias() -> None:
    assert physical_device("eth0:1") == "eth0"
    assert physical_device("eth0") == "eth0"


def test_arp_announcement_layout() -> None:
    frame = arp_announcement(MAC, "192.0.2.10")
    assert len(frame) == 42
    assert frame[:6] == b"\xff" * 6 and frame[6:12] == MAC
    assert frame[12:14] == b"\x08\x06"
    htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", frame[14:22])
    assert (htype, ptype, hlen, plen, op) == (1, 0x0800, 6, 4, 1)
    assert frame[22:28] == MAC
    assert frame[28:32] == frame[38:42] == bytes([192, 0, 2, 10])   # sender IP = target IP
    assert frame[32:38] == b"\x00" * 6


def test_unsolicited_na_layout_and_checksum() -> None:
    frame = unsolicited_na(MAC, "2001:db8::10")
    vip = ipaddress.IPv6Address("2001:db8::10").packed
    assert frame[:6] == bytes.fromhex("333300000001") and frame[12:14] == b"\x86\xdd"
    ip6 = frame[14:54]
    assert ip6[0] >> 4 == 6
    plen, nxt, hops = struct.unpack("!HBB", ip6[4:8])
    assert (plen, nxt, hops) == (32, 58, 255)
    assert ip6[8:24] == vip and ip6[24:40] == ipaddress.IPv6Address("ff02::1").packed
    icmp = frame[54:]
    assert len(icmp) == plen
    assert icmp[0] == 136 and icmp[1] == 0
    assert struct.unpack("!I", icmp[4:8])[0] == 0x20000000        # Override, not Solicited
    assert icmp[8:24] == vip
    assert icmp[24:26] == b"\x02\x01" and icmp[26:32] == MAC      # target link-layer option
    pseudo = ip6[8:40] + struct.pack("!I", plen) + b"\x00\x00\x00\x3a"
    assert _checksum(pseudo + icmp) == 0                         # checksum verifies


def test_frame_for_picks_family() -> None:
    assert frame_for(MAC, "198.51.100.1")[12:14] == b"\x08\x06"
    assert frame_for(MAC, "2001:db8::1")[12:14] == b"\x86\xdd"


def test_send_round_keeps_the_order_given(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(garp, "send_once", lambda dev, ips: sent.append((dev, list(ips))) or len(sent))
    garp.send_round([("eth1:1", "198.51.100.254"), ("eth0:1", "192.0.2.10"), ("eth1", "198.51.100.253")])
    assert sent == [("eth1", ["198.51.100.254", "198.51.100.253"]), ("eth0", ["192.0.2.10"])]


def test_announce_counts_the_rounds_already_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    rounds: list[float] = []
    monkeypatch.setattr(garp, "send_round", lambda pairs: rounds.append(asyncio.get_running_loop().time()))

    async def run() -> float:
        start = asyncio.get_running_loop().time()
        await garp.announce([("eth0", "192.0.2.10")], repeats=3, interval=0.05, sent=1)
        return start
    start = asyncio.run(run())
    assert len(rounds) == 2                       # 3 in all, the first one sent by the caller
    assert rounds[0] - start >= 0.045             # the first of the rest waits one interval
