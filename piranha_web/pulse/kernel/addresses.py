"""VIPs and the NAT router address over one raw rtnetlink socket: add/remove exactly one address.

Piranha ran ``ifconfig eth0:1 VIP up`` and, on stop, ``ifconfig eth0:1 down``,
which removed whatever else was on the alias.  Here ``eth0:1`` becomes the
address on ``eth0`` with label ``eth0:1``, and stop deletes exactly that
address; the device itself is never taken down.  IPv6 addresses have no
labels (``eth0:1`` means ``eth0``) and are added with ``nodad``.

Why not pyroute2 (as before): a takeover is these requests and nothing else,
and in the emulated guest pyroute2 took 0.1-0.3 s to dump the addresses and
0.03-0.1 s per address added (its import alone seconds), against well under
a millisecond for the same messages built with :mod:`struct` (the codec of
``ipvs.py``): the message layouts are ``ifinfomsg``/``ifaddrmsg`` plus the
few attributes pulse reads or sets.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct

from .netlink import NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkSocket, attr, attrs
from ..reconcile import Address

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_GETLINK = 16, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400
IFLA_IFNAME = 3
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL = 1, 2, 3
IFA_F_NODAD = 0x02
IFNAMSIZ = 16
_IFINFO = struct.Struct("=BxHiII")   # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")    # ifaddrmsg: family, prefixlen, flags, scope, index


def _canonical(ip: str) -> str:
    """One spelling per address, as the kernel reports it."""
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return ip


def family_of(ip: str) -> int:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def address_request(index: int, address: Address, add: bool) -> bytes:
    """The ``ifaddrmsg`` and attributes of an RTM_NEWADDR (``add``) or RTM_DELADDR for ``address``.

    IPv4: local = address, with the label (``eth0:1``; the device name when
    the label is too long for the kernel).  IPv6: no label and, when adding,
    no duplicate address detection, or the VIP stays "tentative" (unusable
    as a source, no answers) for a second or more after a takeover.
    """
    af = family_of(address.ip)
    raw = socket.inet_pton(af, address.ip)
    flags = IFA_F_NODAD if add and af == socket.AF_INET6 else 0
    out = _IFADDR.pack(af, address.prefixlen, flags, 0, index)
    if af == socket.AF_INET:
        out += attr(IFA_LOCAL, raw)
    out += attr(IFA_ADDRESS, raw)
    if add and af == socket.AF_INET:
        label = address.label if len(address.label) < IFNAMSIZ else address.device
        out += attr(IFA_LABEL, label.encode() + b"\0")
    return out


def parse_link(msg: bytes) -> tuple[int, str] | None:
    """(index, name) of an RTM_NEWLINK message body."""
    _family, _type, index, _flags, _change = _IFINFO.unpack_from(msg)
    for kind, value in attrs(msg[_IFINFO.size:]):
        if kind == IFLA_IFNAME:
            return index, value.rstrip(b"\0").decode()
    return None


def parse_address(msg: bytes) -> tuple[int, str, int] | None:
    """(index, ip, prefixlen) of an RTM_NEWADDR message body (IFA_LOCAL when set: IPv4's own address)."""
    af, prefixlen, _flags, _scope, index = _IFADDR.unpack_from(msg)
    if af not in (socket.AF_INET, socket.AF_INET6):
        return None
    found = dict(attrs(msg[_IFADDR.size:]))
    raw = found.get(IFA_LOCAL) or found.get(IFA_ADDRESS)
    if raw is None:
        return None
    return index, socket.inet_ntop(af, raw), prefixlen


class NetlinkAddresses:
    """Address backend on the current network namespace (one rtnetlink socket, opened at once)."""

    def __init__(self) -> None:
        self.nl = NetlinkSocket(NETLINK_ROUTE)
        self._indexes: dict[str, int] = {}     # device -> ifindex, refreshed by every present_of

    def _links(self) -> dict[int, str]:
        """ifindex -> name of every device (one link dump); refreshes the name cache."""
        names = {}
        for msg in self.nl.request(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, _IFINFO.pack(0, 0, 0, 0, 0)):
            link = parse_link(msg)
            if link is not None:
                names[link[0]] = link[1]
        self._indexes = {name: index for index, name in names.items()}
        return names

    def _index(self, device: str) -> int:
        """Interface index of ``device`` (raises LookupError when missing).

        Resolved by the link dump :meth:`present_of` does once per pass, so
        bringing up 250 VIPs costs 250 requests, not 500.
        """
        if device not in self._indexes:
            self._links()
        if device not in self._indexes:
            raise LookupError(f"no such device: {device}")
        return self._indexes[device]

    def present_of(self, addresses: set[Address]) -> set[Address]:
        """Which of ``addresses`` are configured now (one link and one address dump for all of them)."""
        if not addresses:
            return set()
        names = self._links()
        have = set()
        for msg in self.nl.request(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, _IFADDR.pack(0, 0, 0, 0, 0)):
            found = parse_address(msg)
            if found is not None:
                index, ip, prefixlen = found
                have.add((names.get(index), ip, prefixlen))
        # both families, compared in canonical form (2001:DB8:0::1 == 2001:db8::1)
        return {a for a in addresses if (a.device, _canonical(a.ip), a.prefixlen) in have}

    def add(self, address: Address) -> None:
        """Add the address with its label; an existing identical address is fine."""
        index = self._index(address.device)
        try:
            self.nl.call(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                         address_request(index, address, add=True))
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                self._indexes.pop(address.device, None)    # a re-created device has a new index
                raise

    def remove(self, address: Address) -> None:
        """Delete exactly this address; already gone (or its device) is fine."""
        try:
            index = self._index(address.device)
            self.nl.call(RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, address_request(index, address, add=False))
        except LookupError:
            return
        except OSError as exc:
            if exc.errno not in (errno.EADDRNOTAVAIL, errno.ENOENT, errno.ENODEV):
                raise

    def close(self) -> None:
        """Close the rtnetlink socket."""
        self.nl.close()
