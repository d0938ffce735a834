"""A timestamped trace of ARP, neighbour discovery and TCP frames on a lab's switch ports.

No tcpdump on the test machines: this is its few lines that a failover
needs, run inside the lab's switch namespace (every host's veth peer is a
bridge port there), so one process sees every segment.  Each frame is
printed once, as it enters the switch: ``epoch port summary``, e.g.::

    1733112000.123 dir2-eth0 ARP req 203.0.113.10 tell 203.0.113.10 from 02:..:01
    1733112000.456 client-eth0 TCP 203.0.113.30:40000 > 203.0.113.10:80 S to 02:..:07

Run: ``python -m tests.support.wiretap [SECONDS]`` (stops after SECONDS, or on SIGTERM).
"""
from __future__ import annotations

import ipaddress
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
TCP_FLAGS = "FSRPAU"
ICMP6_ND = {133: "RS", 134: "RA", 135: "NS", 136: "NA"}


def mac_text(raw: bytes) -> str:
    return raw.hex(":")


def tcp_summary(src: str, dst: str, seg: bytes) -> str:
    sport, dport, _seq, _ack, off_flags = struct.unpack("!HHIIH", seg[:14])
    flags = "".join(f for i, f in enumerate(TCP_FLAGS) if off_flags & (1 << i)) or "."
    return f"TCP {src}:{sport} > {dst}:{dport} {flags}"


def summary(frame: bytes) -> str | None:
    """One line for an ARP, ICMPv6 ND or TCP frame; None for anything else."""
    dst_mac, src_mac, ethertype = frame[:6], frame[6:12], struct.unpack("!H", frame[12:14])[0]
    body = frame[14:]
    macs = f"{mac_text(src_mac)} > {mac_text(dst_mac)}"
    if ethertype == 0x0806 and len(body) >= 28:
        op = struct.unpack("!H", body[6:8])[0]
        sha, spa, tpa = body[8:14], ipaddress.IPv4Address(body[14:18]), ipaddress.IPv4Address(body[24:28])
        verb = {1: "req", 2: "reply"}.get(op, str(op))
        return f"ARP {verb} {tpa} tell {spa} is-at {mac_text(sha)} ({macs})"
    if ethertype == 0x0800 and len(body) >= 20 and body[9] == 6:
        ihl = (body[0] & 0x0F) * 4
        src, dst = ipaddress.IPv4Address(body[12:16]), ipaddress.IPv4Address(body[16:20])
        return f"{tcp_summary(str(src), str(dst), body[ihl:])} ({macs})"
    if ethertype == 0x86DD and len(body) >= 40:
        src, dst = ipaddress.IPv6Address(body[8:24]), ipaddress.IPv6Address(body[24:40])
        if body[6] == 6:
            return f"{tcp_summary(f'[{src}]', f'[{dst}]', body[40:])} ({macs})"
        if body[6] == 58 and body[40] in ICMP6_ND:
            target = ipaddress.IPv6Address(body[48:64]) if body[40] in (135, 136) else ""
            return f"{ICMP6_ND[body[40]]} {target} from {src} to {dst} ({macs})"
    return None


def kernel_time(ancdata: list[tuple[int, int, bytes]]) -> float:
    """The frame's arrival time as the kernel stamped it (SO_TIMESTAMPNS), else now."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack("qq", data[:16])
            return sec + nsec / 1e9
    return time.time()


def main(argv: list[str]) -> int:
    seconds = float(argv[0]) if argv else 3600.0
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)   # a slow reader still gets exact times
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], 0.5)
        if not ready:
            continue
        frame, ancdata, _flags, addr = sock.recvmsg(65535, 256)
        if addr[2] == PACKET_OUTGOING:
            continue
        line = summary(frame)
        if line is not None:
            print(f"{kernel_time(ancdata):.3f} {addr[0]} {line}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
