"""The mh-port flag (IP_VS_SVC_F_SCHED2, ``ipvsadm -b mh-port``) in both directions of the IPVS codec."""

from __future__ import annotations

import socket
import struct

from piranha_web.pulse.kernel.ipvs import (
    IP_VS_SVC_F_SCHED1, IP_VS_SVC_F_SCHED2, SVC_FLAGS, attr, attrs, parse_service, service_attr,
)
from piranha_web.pulse.reconcile import Service, ServiceKey

WWW = ServiceKey.tcp("203.0.113.10", 80)


def _dumped(scheduler: bytes, flags: int) -> bytes:
    return (attr(1, struct.pack("=H", socket.AF_INET)) + attr(2, struct.pack("=H", socket.IPPROTO_TCP))
            + attr(3, socket.inet_aton("203.0.113.10") + b"\0" * 12) + attr(4, struct.pack("!H", 80))
            + attr(6, scheduler + b"\0") + attr(7, struct.pack("=II", flags, 0xFFFF)))


def test_the_flag_is_read_for_mh_only() -> None:
    assert IP_VS_SVC_F_SCHED2 == 0x0010
    assert parse_service(_dumped(b"mh", IP_VS_SVC_F_SCHED2)) == (WWW, Service("mh", mh_port=True))
    assert parse_service(_dumped(b"mh", 0)) == (WWW, Service("mh"))
    assert parse_service(_dumped(b"sh", IP_VS_SVC_F_SCHED2)) == (WWW, Service("sh"))


def _written_flags(svc: Service) -> tuple[int, int]:
    """(flags, mask) of the SVC_FLAGS attribute the codec writes for ``svc``."""
    (_, inner), = attrs(service_attr(WWW, svc))
    flags, mask = struct.unpack("=II", dict(attrs(inner))[SVC_FLAGS])
    return flags, mask


def test_the_flag_is_written_with_its_mask() -> None:
    flags, mask = _written_flags(Service("mh", mh_port=True))
    assert flags & IP_VS_SVC_F_SCHED2 and mask & IP_VS_SVC_F_SCHED2
    flags, mask = _written_flags(Service("mh"))
    assert not flags & IP_VS_SVC_F_SCHED2 and mask & IP_VS_SVC_F_SCHED2


def test_the_fallback_flag_is_read_and_written_for_mh() -> None:
    assert IP_VS_SVC_F_SCHED1 == 0x0008
    both = IP_VS_SVC_F_SCHED1 | IP_VS_SVC_F_SCHED2
    assert parse_service(_dumped(b"mh", both)) == (WWW, Service("mh", mh_port=True, mh_fallback=True))
    assert parse_service(_dumped(b"sh", both)) == (WWW, Service("sh"))
    flags, mask = _written_flags(Service("mh", mh_port=True, mh_fallback=True))
    assert flags & both == both and mask & both == both
    flags, mask = _written_flags(Service("mh"))
    assert not flags & IP_VS_SVC_F_SCHED1 and mask & IP_VS_SVC_F_SCHED1
