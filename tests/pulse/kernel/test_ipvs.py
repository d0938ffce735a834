"""The IPVS reader's codec: netlink attributes in, table entries out, without a kernel.

The round trip through a real kernel is tests/ipvs/test_pulse_netlink.py.
"""

from __future__ import annotations

import socket
import struct

from piranha_web.pulse.kernel.ipvs import attr, attrs, parse_dest, parse_service, service_key_attr
from piranha_web.pulse.reconcile import Dest, DestKey, Service, ServiceKey

WEB = ServiceKey.tcp("203.0.113.10", 80)
DNS = ServiceKey.udp("203.0.113.10", 53)
MARK = ServiceKey.mark(80)


def test_raw_ipvs_dump_codec() -> None:
    """The raw netlink decoder on hand-built attributes; no kernel needed."""
    svc = (attr(1, struct.pack("=H", socket.AF_INET)) + attr(2, struct.pack("=H", socket.IPPROTO_UDP))
           + attr(3, socket.inet_aton("203.0.113.10") + b"\0" * 12) + attr(4, struct.pack("!H", 53))
           + attr(6, b"sh\0") + attr(7, struct.pack("=II", 1, 0xFFFF)) + attr(8, struct.pack("=I", 300))
           + attr(9, socket.inet_aton("255.255.255.0")))
    assert parse_service(svc) == (DNS, Service("sh", 300, "255.255.255.0"))
    mark = attr(1, struct.pack("=H", socket.AF_INET)) + attr(5, struct.pack("=I", 80)) + attr(6, b"wlc\0")
    assert parse_service(mark) == (MARK, Service("wlc"))
    assert parse_service(attr(1, struct.pack("=H", socket.AF_PACKET)) + attr(6, b"rr\0")) is None
    stats64 = attr(1, struct.pack("=Q", 7)) + attr(4, struct.pack("=Q", 1234))
    dest = (attr(1, socket.inet_aton("192.0.2.1") + b"\0" * 12) + attr(2, struct.pack("!H", 8080))
            + attr(3, struct.pack("=I", 3)) + attr(4, struct.pack("=I", 5)) + attr(7, struct.pack("=I", 2))
            + attr(8, struct.pack("=I", 1)) + attr(12 | 0x8000, stats64))
    dk, d = parse_dest(dest)
    assert dk == DestKey("192.0.2.1", 8080) and d == Dest(5, "direct")
    assert d.stats == {"active_conns": 2, "inactive_conns": 1, "conns": 7, "inbytes": 1234}
    selector = dict(attrs(dict(attrs(service_key_attr(WEB)))[1]))
    assert socket.inet_ntoa(selector[3]) == "203.0.113.10" and struct.unpack("!H", selector[4])[0] == 80
    assert struct.unpack("=I", dict(attrs(dict(attrs(service_key_attr(MARK)))[1]))[5])[0] == 80


WEB6 = ServiceKey.tcp("2001:db8:10::10", 80)


def test_raw_ipvs_dump_codec_ipv6() -> None:
    """IPv6 services carry 16-byte addresses and a prefix length as persistence mask."""
    svc = (attr(1, struct.pack("=H", socket.AF_INET6)) + attr(2, struct.pack("=H", socket.IPPROTO_TCP))
           + attr(3, socket.inet_pton(socket.AF_INET6, "2001:db8:10::10")) + attr(4, struct.pack("!H", 80))
           + attr(6, b"rr\0") + attr(7, struct.pack("=II", 1, 0xFFFF)) + attr(8, struct.pack("=I", 60))
           + attr(9, struct.pack("=I", 64)))
    assert parse_service(svc) == (WEB6, Service("rr", 60, "64"))
    mark = attr(1, struct.pack("=H", socket.AF_INET6)) + attr(5, struct.pack("=I", 7)) + attr(6, b"rr\0")
    key, service = parse_service(mark) or (None, None)
    assert key == ServiceKey.mark(7, ipv6=True) and key != ServiceKey.mark(7)
    assert service == Service("rr", 0, "128")
    dest = (attr(1, socket.inet_pton(socket.AF_INET6, "2001:db8:1::1")) + attr(2, struct.pack("!H", 80))
            + attr(3, struct.pack("=I", 0)) + attr(4, struct.pack("=I", 1)))
    assert parse_dest(dest, socket.AF_INET6)[0] == DestKey("2001:db8:1::1", 80)
    with_family = dest + attr(11, struct.pack("=H", socket.AF_INET6))
    assert parse_dest(with_family)[0] == DestKey("2001:db8:1::1", 80)
    selector = dict(attrs(dict(attrs(service_key_attr(WEB6)))[1]))
    assert struct.unpack("=H", selector[1])[0] == socket.AF_INET6
    assert socket.inet_ntop(socket.AF_INET6, selector[3]) == "2001:db8:10::10"
    assert str(WEB6) == "TCP [2001:db8:10::10]:80"
    assert str(DestKey("2001:db8:1::1", 80)) == "[2001:db8:1::1]:80"


def test_ipv6_service_record_carries_af_inet6_and_a_prefix_netmask() -> None:
    """pyroute2 gets AF_INET6 and the prefix length packed as the kernel reads it (host-order u32)."""
    from piranha_web.pulse.kernel.ipvs import service_obj
    obj = service_obj(WEB6, Service("rr", 60, "64"))
    assert obj["af"] == socket.AF_INET6
    assert struct.unpack("=I", socket.inet_aton(obj["netmask"]))[0] == 64
    assert service_obj(ServiceKey.mark(7, ipv6=True), Service())["af"] == socket.AF_INET6
