"""The IPVS reader's codec: netlink attributes in, table entries out, without a kernel.

The round trip through a real kernel is tests/ipvs/test_pulse_netlink.py.
"""

from __future__ import annotations

import socket
import struct

from piranha_web.pulse.kernel.ipvs import (
    ATTR_DEST, ATTR_SERVICE, IPVS_CMD_DEL_DEST, IPVS_CMD_DEL_SERVICE, IPVS_CMD_NEW_DEST, IPVS_CMD_NEW_SERVICE,
    IPVS_CMD_SET_DEST,
    attr, attrs, encode_op, parse_dest, parse_service, service_attr,
)
from piranha_web.pulse.reconcile import (
    ADD_DEST, ADD_SERVICE, DEL_DEST, DEL_SERVICE, SET_DEST, Dest, DestKey, Op, Service, ServiceKey,
)

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
    selector = dict(attrs(dict(attrs(service_attr(WEB, None)))[1]))
    assert socket.inet_ntoa(selector[3][:4]) == "203.0.113.10" and struct.unpack("!H", selector[4])[0] == 80
    assert struct.unpack("=I", dict(attrs(dict(attrs(service_attr(MARK, None)))[1]))[5])[0] == 80


def test_every_change_request_decodes_to_what_was_asked() -> None:
    """The writer's attributes read back through the reader's decoder (same attribute numbers)."""
    services = ((WEB, Service("wlc")), (DNS, Service("sh", 300, "255.255.255.0")), (MARK, Service("rr")))
    for key, svc in services:
        cmd, payload = encode_op(Op(ADD_SERVICE, key, svc))
        assert cmd == IPVS_CMD_NEW_SERVICE
        assert parse_service(dict(attrs(payload))[ATTR_SERVICE]) == (key, svc)
    cmd, payload = encode_op(Op(SET_DEST, WEB, dest_key=DestKey("192.0.2.1", 8080), dest=Dest(7, "nat")))
    found = dict(attrs(payload))
    assert cmd == IPVS_CMD_SET_DEST and parse_service(found[ATTR_SERVICE] + attr(6, b"wlc\0"))[0] == WEB
    dk, dest = parse_dest(found[ATTR_DEST] + attr(7, struct.pack("=I", 0)) + attr(8, struct.pack("=I", 0)))
    assert (dk, dest) == (DestKey("192.0.2.1", 8080), Dest(7, "nat"))
    cmd, payload = encode_op(Op(DEL_DEST, WEB, dest_key=DestKey("192.0.2.1", 8080), dest=Dest(7, "nat")))
    assert cmd == IPVS_CMD_DEL_DEST and set(dict(attrs(dict(attrs(payload))[ATTR_DEST]))) == {1, 2, 11}
    cmd, payload = encode_op(Op(DEL_SERVICE, WEB, Service("wlc")))
    assert cmd == IPVS_CMD_DEL_SERVICE and 6 not in dict(attrs(dict(attrs(payload))[ATTR_SERVICE]))


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
    selector = dict(attrs(dict(attrs(service_attr(WEB6, None)))[1]))
    assert struct.unpack("=H", selector[1])[0] == socket.AF_INET6
    assert socket.inet_ntop(socket.AF_INET6, selector[3]) == "2001:db8:10::10"
    assert str(WEB6) == "TCP [2001:db8:10::10]:80"
    assert str(DestKey("2001:db8:1::1", 80)) == "[2001:db8:1::1]:80"


def test_ipv6_change_requests_decode_to_what_was_asked() -> None:
    """IPv6 services and destinations: AF_INET6, 16-byte addresses, the prefix as a host-order u32."""
    mark6 = ServiceKey.mark(7, ipv6=True)
    for key, svc in ((WEB6, Service("rr", 60, "64")), (mark6, Service("wlc", 0, "128"))):
        cmd, payload = encode_op(Op(ADD_SERVICE, key, svc))
        inner = dict(attrs(dict(attrs(payload))[ATTR_SERVICE]))
        assert cmd == IPVS_CMD_NEW_SERVICE and struct.unpack("=H", inner[1])[0] == socket.AF_INET6
        assert parse_service(dict(attrs(payload))[ATTR_SERVICE]) == (key, svc)
    assert struct.unpack("=I", dict(attrs(dict(attrs(encode_op(
        Op(ADD_SERVICE, WEB6, Service("rr", 60, "64")))[1]))[ATTR_SERVICE]))[9])[0] == 64
    cmd, payload = encode_op(Op(ADD_DEST, WEB6, dest_key=DestKey("2001:db8:1::1", 80), dest=Dest(3, "nat")))
    found = dict(attrs(payload))
    inner = dict(attrs(found[ATTR_DEST]))
    assert cmd == IPVS_CMD_NEW_DEST and struct.unpack("=H", inner[11])[0] == socket.AF_INET6
    dk, dest = parse_dest(found[ATTR_DEST] + attr(7, struct.pack("=I", 0)) + attr(8, struct.pack("=I", 0)))
    assert (dk, dest) == (DestKey("2001:db8:1::1", 80), Dest(3, "nat"))
