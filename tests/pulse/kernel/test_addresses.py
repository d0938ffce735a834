"""vip.IpRouteAddresses.present_of against a stand-in rtnetlink socket (no root, no kernel)."""

from __future__ import annotations

import socket
from typing import Any

from piranha_web.pulse.reconcile import Address
from piranha_web.pulse.kernel.addresses import IpRouteAddresses


class _Msg(dict):
    def __init__(self, attrs: dict[str, Any], **fields: Any) -> None:
        super().__init__(fields)
        self.attrs = attrs

    def get_attr(self, name: str) -> Any:
        return self.attrs.get(name)


class _FakeIpr:
    """Links lo/eth0; eth0 holds one IPv4 and one IPv6 address."""

    def get_links(self) -> list[_Msg]:
        return [_Msg({"IFLA_IFNAME": "lo"}, index=1), _Msg({"IFLA_IFNAME": "eth0"}, index=2)]

    def get_addr(self, family: int | None = None) -> list[_Msg]:
        addrs = [(socket.AF_INET, "203.0.113.10", 24), (socket.AF_INET6, "2001:db8::10", 64)]
        return [_Msg({"IFA_ADDRESS": ip}, index=2, prefixlen=plen, family=fam)
                for fam, ip, plen in addrs if family in (None, fam)]


def _addresses() -> IpRouteAddresses:
    backend = IpRouteAddresses.__new__(IpRouteAddresses)  # no netlink thread, no socket
    backend._ipr = _FakeIpr()
    return backend


def test_ipv4_and_ipv6_addresses_are_seen() -> None:
    v4 = Address("203.0.113.10", 24, "eth0", "eth0:1")
    v6 = Address("2001:db8::10", 64, "eth0", "eth0:2")
    v6_spelled_otherwise = Address("2001:DB8:0::10", 64, "eth0", "eth0:3")
    absent = Address("2001:db8::11", 64, "eth0", "eth0:4")
    assert _addresses()._present_of({v4, v6, v6_spelled_otherwise, absent}) == {v4, v6, v6_spelled_otherwise}


def test_warm_opens_the_socket_ahead_of_the_first_request() -> None:
    """A node of a pair opens rtnetlink at start, so a takeover does not pay pyroute2's import."""
    backend = IpRouteAddresses()
    try:
        assert backend._ipr is None
        backend.warm()
        assert backend._ipr is not None
    finally:
        backend.close()
