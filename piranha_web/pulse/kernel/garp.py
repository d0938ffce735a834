"""Gratuitous ARP (IPv4) and unsolicited Neighbour Advertisements (IPv6) on a raw AF_PACKET socket.

After a takeover the VIPs move to a new MAC; clients and routers keep the old
one in their neighbour caches until told.  Piranha forked ``send_arp`` five
times a second apart per address.  Here the frames are built
in-process (pure functions, unit-tested byte for byte) and sent from one raw
socket per device: the first copy at once, then ``repeats - 1`` more,
``interval`` apart, in case the first is lost.

IPv4: an ARP *announcement* (RFC 5227: request, sender IP = target IP), which
Linux, routers and switches all use to refresh an existing cache entry.
IPv6: an unsolicited NA to all-nodes (RFC 4861 §7.2.6) with the Override flag
and our link-layer address, so caches switch to us at once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import struct
from collections.abc import Iterable

log = logging.getLogger("pulse.garp")

ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
BROADCAST = b"\xff" * 6
ALL_NODES_MAC = bytes.fromhex("333300000001")
ALL_NODES = ipaddress.IPv6Address("ff02::1")


def physical_device(device: str) -> str:
    """``eth0:1`` -> ``eth0``: the alias label is not a device of its own."""
    return device.split(":", 1)[0]


def arp_announcement(mac: bytes, ip: str) -> bytes:
    """Ethernet frame: broadcast ARP request "who has IP? tell IP" from ``mac``."""
    addr = ipaddress.IPv4Address(ip).packed
    eth = BROADCAST + mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + addr + b"\x00" * 6 + addr
    return eth + arp


def _checksum(data: bytes) -> int:
    """RFC 1071 one's-complement sum."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def unsolicited_na(mac: bytes, ip: str) -> bytes:
    """Ethernet frame: ICMPv6 NA (Override) for ``ip`` at ``mac`` to ff02::1, hop limit 255."""
    src = ipaddress.IPv6Address(ip).packed
    dst = ALL_NODES.packed
    option = struct.pack("!BB", 2, 1) + mac              # target link-layer address
    body = struct.pack("!I", 0x20000000) + src + option  # flags: O (override)
    pseudo = src + dst + struct.pack("!I", 4 + len(body)) + b"\x00\x00\x00" + bytes([58])
    csum = _checksum(pseudo + struct.pack("!BBH", 136, 0, 0) + body)
    icmp = struct.pack("!BBH", 136, 0, csum) + body
    ip6 = struct.pack("!IHBB", 6 << 28, len(icmp), 58, 255) + src + dst
    return ALL_NODES_MAC + mac + struct.pack("!H", ETH_P_IPV6) + ip6 + icmp


def frame_for(mac: bytes, ip: str) -> bytes:
    """The right announcement for the address family of ``ip``."""
    if ipaddress.ip_address(ip).version == 4:
        return arp_announcement(mac, ip)
    return unsolicited_na(mac, ip)


def send_once(device: str, ips: Iterable[str]) -> int:
    """Send one announcement per address on ``device``; returns how many went out."""
    dev = physical_device(device)
    sent = 0
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((dev, 0))
        # (ifname, proto, pkttype, hatype, hwaddr): the MAC as this namespace sees the device
        mac = sock.getsockname()[4]
        for ip in ips:
            try:
                sock.send(frame_for(mac, ip))
                sent += 1
            except OSError as exc:
                log.warning("gratuitous announcement of %s on %s failed: %s", ip, dev, exc)
    return sent


def send_round(addresses: Iterable[tuple[str, str]]) -> None:
    """Announce every (device, ip) once, now, in the order given (devices in order of first mention).

    Synchronous on purpose: a takeover's first frames wait for no event loop.
    Errors (device gone, no privilege) are logged, never raised: an
    announcement that fails must not undo a takeover.
    """
    by_device: dict[str, list[str]] = {}
    for device, ip in addresses:
        by_device.setdefault(physical_device(device), []).append(ip)
    for device, ips in by_device.items():
        try:
            send_once(device, ips)
        except OSError as exc:
            log.warning("cannot announce on %s: %s", device, exc)


async def announce(addresses: Iterable[tuple[str, str]], repeats: int = 5,
                   interval: float = 1.0, sent: int = 0) -> None:
    """Announce every (device, ip) ``repeats`` times in all, ``interval`` apart.

    ``sent``: rounds that already went out (:func:`send_round` at the
    takeover itself); the first of the rest waits ``interval``.
    """
    pairs = list(addresses)
    rounds = max(1, repeats)
    for round_no in range(sent, rounds):
        if round_no:
            await asyncio.sleep(interval)
        send_round(pairs)
    log.info("gratuitous announcements finished (%d address(es), %d round(s))", len(pairs), rounds)


def start(addresses: Iterable[tuple[str, str]], repeats: int = 5,
          interval: float = 1.0) -> asyncio.Task[None]:
    """The first round now, in the order given; the other ``repeats - 1`` in a task (returned)."""
    pairs = list(addresses)
    send_round(pairs)
    return asyncio.get_running_loop().create_task(announce(pairs, repeats, interval, sent=1), name="garp")
