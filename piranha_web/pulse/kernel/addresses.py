"""VIPs and the NAT router address via pyroute2 IPRoute: add/remove exactly one address.

Piranha ran ``ifconfig eth0:1 VIP up`` and, on stop, ``ifconfig eth0:1 down``,
which removed whatever else was on the alias.  Here ``eth0:1`` becomes the
address on ``eth0`` with label ``eth0:1``, and stop deletes exactly that
address; the device itself is never taken down.  IPv6 addresses have no
labels (``eth0:1`` means ``eth0``) and are added with ``nodad``.
"""

from __future__ import annotations

import errno
import ipaddress
import logging

from typing import Any

from .nlthread import NetlinkThread
from ..reconcile import Address

log = logging.getLogger("pulse.vip")

IFA_F_NODAD = 0x02


def _canonical(ip: str | None) -> str | None:
    """One spelling per address, as the kernel reports it."""
    try:
        return str(ipaddress.ip_address(ip or ""))
    except ValueError:
        return ip


class IpRouteAddresses:
    """Address backend on the current network namespace."""

    def __init__(self) -> None:
        self.thread = NetlinkThread("pulse-iproute")
        self._ipr: Any = None
        self._indexes: dict[str, int] = {}     # device -> ifindex, refreshed by every present_of

    @property
    def ipr(self) -> Any:
        """The rtnetlink socket, opened by the first request (on the netlink thread).

        pyroute2 is a fifth of a second to import on a fast machine and many
        seconds in an emulated guest; a standalone node pays for it only once
        its IPVS table is programmed, a node of a pair in :meth:`warm` at start.
        """
        if self._ipr is None:
            from pyroute2 import IPRoute
            self._ipr = IPRoute()
        return self._ipr

    def warm(self) -> None:
        """Open the socket now: a takeover must not wait seconds for pyroute2's import.

        Never raises: a failure here is retried, and reported, by the first real request.
        """
        try:
            self.thread.call(lambda: self.ipr)
        except Exception as exc:  # noqa: BLE001 - see above
            log.warning("cannot open the rtnetlink socket ahead of a takeover: %s", exc)

    def _index(self, device: str) -> int:
        """Interface index of ``device`` (raises LookupError when missing).

        Resolved by the link dump :meth:`present_of` does once per pass, so
        bringing up 250 VIPs costs 250 requests, not 500.
        """
        if device not in self._indexes:
            found = self.ipr.link_lookup(ifname=device)
            if not found:
                raise LookupError(f"no such device: {device}")
            self._indexes[device] = int(found[0])
        return self._indexes[device]

    def present_of(self, addresses: set[Address]) -> set[Address]:
        """Which of ``addresses`` are configured now (one address dump for all of them)."""
        if not addresses:
            return set()
        return self.thread.call(self._present_of, addresses)

    def _present_of(self, addresses: set[Address]) -> set[Address]:
        """:meth:`present_of` on the netlink thread."""
        names = {int(link["index"]): link.get_attr("IFLA_IFNAME") for link in self.ipr.get_links()}
        self._indexes = {name: index for index, name in names.items()}
        # both families (IPv6 VIPs too), compared in canonical form (2001:DB8:0::1 == 2001:db8::1)
        have = {(names.get(int(msg["index"])), _canonical(msg.get_attr("IFA_ADDRESS")), int(msg["prefixlen"]))
                for msg in self.ipr.get_addr()}
        return {a for a in addresses if (a.device, _canonical(a.ip), a.prefixlen) in have}

    def add(self, address: Address) -> None:
        """See :meth:`_add` (runs on the netlink thread)."""
        return self.thread.call(self._add, address)

    def _add(self, address: Address) -> None:
        """Add the address with its label; an existing identical address is fine."""
        index = self._index(address.device)
        extra: dict[str, object]
        if ":" in address.ip:
            # No labels in IPv6; no duplicate address detection either, or the VIP stays
            # "tentative" (unusable as a source, no answers) for a second or more after takeover.
            extra = {"flags": IFA_F_NODAD}
        else:
            extra = {"label": address.label if len(address.label) <= 15 else address.device}
        from pyroute2.netlink.exceptions import NetlinkError
        try:
            self.ipr.addr("add", index=index, address=address.ip, prefixlen=address.prefixlen, **extra)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                self._indexes.pop(address.device, None)
                raise

    def remove(self, address: Address) -> None:
        """See :meth:`_remove` (runs on the netlink thread)."""
        return self.thread.call(self._remove, address)

    def _remove(self, address: Address) -> None:
        """Delete exactly this address; already gone is fine."""
        from pyroute2.netlink.exceptions import NetlinkError
        try:
            index = self._index(address.device)
            self.ipr.addr("del", index=index, address=address.ip, prefixlen=address.prefixlen)
        except LookupError:
            return
        except NetlinkError as exc:
            if exc.code not in (errno.EADDRNOTAVAIL, errno.ENOENT, errno.ENODEV):
                raise

    def close(self) -> None:
        """Close the rtnetlink socket and its thread."""
        if self._ipr is not None:
            self.thread.call(self._ipr.close)
        self.thread.shutdown()
