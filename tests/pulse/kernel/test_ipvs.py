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
    assert parse_service(attr(1, struct.pack("=H", socket.AF_INET6)) + attr(6, b"rr\0")) is None
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
