"""The real IPVS backend: one raw generic-netlink socket, a :mod:`struct` codec, no ipvsadm.

Changes are encoded here and sent in batches: many requests in one
``send()``, each with ``NLM_F_ACK``, and the acknowledgements collected by
sequence number, so one failing request fails alone and the others still
apply (the kernel processes the messages of a batch in order).  Every
request spells out forwarding method, weight, thresholds, scheduler, flags,
timeout and netmask (and a destination its address family), so nothing
depends on a library's defaults.  IPv4 and IPv6 services and destinations
are the same code: AF_INET6 keys carry 16-byte addresses and, as the
kernel reads it for that family, the persistence mask as a prefix length.

Why not pyroute2's message classes for the encoding: they cost 20 to 100
times more CPU per request.  ``benchmarks/ipvs_codec_bench.py`` builds the
same messages both ways.  On the development host (2 CPUs, load ~10) one
add-service/add-dest/set-dest costs 5-12 us here and 190-300 us through
``pyroute2.netlink.generic.ipvs.ipvsmsg`` + ``encode()`` (its
``IPVSService``/``IPVSDest`` filters cost more still); in the qemu guest on
that host, 0.2-0.6 ms here against 10-68 ms through pyroute2, where
keepalived's whole change costs ~0.3-0.4 ms.  At 12,000 ops for a
1,000 x 10 start that is seconds against minutes.  The socket and the
attribute codec live in ``netlink.py``, shared with the address backend.

Reads decode only the attributes pulse needs.  Dumping destinations costs
one request per service, so besides the whole table (:meth:`NetlinkIpvs.dump`)
the service list and one service's destinations can be read alone
(:meth:`NetlinkIpvs.dump_services`, :meth:`NetlinkIpvs.dump_dests`): the
reconciler verifies the kernel a few services at a time.

Kernel trap: adding a destination fails with EINVAL in a network namespace
whose local routing table does not exist yet (no address configured, not even
``lo`` up) because ``inet_addr_type`` then reports the real server as
broadcast.  A real director always has addresses; test namespaces must bring
``lo`` up.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Iterator

from .netlink import NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkSocket, attr, attrs
from ..reconcile import (
    ADD_DEST, ADD_SERVICE, COUNTER_NAMES, DEL_DEST, DEL_SERVICE, DRAIN_DEST, FWD_DIRECT, FWD_NAT, FWD_TUNNEL,
    SET_DEST, SET_SERVICE, Dest, DestKey, Op, Service, ServiceCounters, ServiceEntry, ServiceKey, Table,
)

NETLINK_GENERIC = 16
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
IPVS_CMD_NEW_SERVICE, IPVS_CMD_SET_SERVICE, IPVS_CMD_DEL_SERVICE, IPVS_CMD_GET_SERVICE = 1, 2, 3, 4
IPVS_CMD_NEW_DEST, IPVS_CMD_SET_DEST, IPVS_CMD_DEL_DEST, IPVS_CMD_GET_DEST = 5, 6, 7, 8
COMMANDS = {ADD_SERVICE: IPVS_CMD_NEW_SERVICE, SET_SERVICE: IPVS_CMD_SET_SERVICE,
            DEL_SERVICE: IPVS_CMD_DEL_SERVICE,
            ADD_DEST: IPVS_CMD_NEW_DEST, SET_DEST: IPVS_CMD_SET_DEST, DRAIN_DEST: IPVS_CMD_SET_DEST,
            DEL_DEST: IPVS_CMD_DEL_DEST}
IPVS_CMD_SET_CONFIG, IPVS_CMD_GET_CONFIG = 12, 13
ATTR_TIMEOUT_TCP, ATTR_TIMEOUT_TCP_FIN, ATTR_TIMEOUT_UDP = 4, 5, 6
ATTR_SERVICE, ATTR_DEST = 1, 2
SVC_AF, SVC_PROTOCOL, SVC_ADDR, SVC_PORT, SVC_FWMARK = 1, 2, 3, 4, 5
SVC_SCHED, SVC_FLAGS, SVC_TIMEOUT, SVC_NETMASK, SVC_STATS64 = 6, 7, 8, 9, 12
DEST_ADDR, DEST_PORT, DEST_FWD, DEST_WEIGHT, DEST_U_THRESH, DEST_L_THRESH = 1, 2, 3, 4, 5, 6
DEST_ACTIVE, DEST_INACT, DEST_ADDR_FAMILY, DEST_STATS64 = 7, 8, 11, 12
STATS = {1: "conns", 2: "inpkts", 3: "outpkts", 4: "inbytes", 5: "outbytes"}
PROTOS = {socket.IPPROTO_TCP: "tcp", socket.IPPROTO_UDP: "udp"}
FWDS = {0: "nat", 2: "tunnel", 3: "direct"}
_GENL = struct.Struct("=BBH")       # genlmsghdr
IP_VS_SVC_F_PERSISTENT = 0x0001
IP_VS_SVC_F_SCHED1 = 0x0008          # mh (and sh): rehash past a server at weight 0 (ipvsadm -b mh-fallback)
IP_VS_SVC_F_SCHED2 = 0x0010          # mh (and sh): hash the source port too (ip_vs.h, ipvsadm -b mh-port)
BATCH = 128          # requests per send(): their acks must fit the receive buffer
FWD_CODES = {FWD_NAT: 0, FWD_TUNNEL: 2, FWD_DIRECT: 3}
PROTO_CODES = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}


def family(key: ServiceKey) -> int:
    """AF_INET or AF_INET6: the address family IPVS files ``key`` under."""
    return socket.AF_INET6 if key.ipv6 else socket.AF_INET


def unpack_ip(af: int, raw: bytes) -> str:
    """An address from IPVS's 16-byte ``nf_inet_addr`` union."""
    return socket.inet_ntop(af, raw[:16] if af == socket.AF_INET6 else raw[:4])


def _netmask(af: int, raw: bytes | None) -> str:
    """The persistence mask: dotted for IPv4; for IPv6 the kernel stores a prefix length (host order)."""
    if af == socket.AF_INET6:
        return str(struct.unpack("=I", raw[:4])[0]) if raw else "128"
    return socket.inet_ntoa(raw[:4]) if raw else "255.255.255.255"


def parse_service(payload: bytes) -> tuple[ServiceKey, Service] | None:
    """Key and attributes of one dumped service (None for a family pulse does not manage)."""
    return service_from_attrs(dict(attrs(payload)))


def service_from_attrs(a: dict[int, bytes]) -> tuple[ServiceKey, Service] | None:
    """:func:`parse_service` on attributes already split (a dump reads its counters from them too)."""
    af = struct.unpack("=H", a[SVC_AF])[0]
    if af not in (socket.AF_INET, socket.AF_INET6):
        return None
    fwmark = struct.unpack("=I", a[SVC_FWMARK])[0] if SVC_FWMARK in a else 0
    if fwmark:
        key = ServiceKey.mark(fwmark, af == socket.AF_INET6)
    else:
        proto = PROTOS.get(struct.unpack("=H", a[SVC_PROTOCOL])[0], "tcp")
        key = ServiceKey(proto, unpack_ip(af, a[SVC_ADDR]), struct.unpack("!H", a[SVC_PORT])[0])
    flags = struct.unpack("=II", a[SVC_FLAGS])[0] if SVC_FLAGS in a else 0
    timeout = struct.unpack("=I", a[SVC_TIMEOUT])[0] if (flags & 1 and SVC_TIMEOUT in a) else 0
    mask = _netmask(af, a.get(SVC_NETMASK) if timeout else None)
    scheduler = a[SVC_SCHED].rstrip(b"\0").decode()
    mh = scheduler == "mh"
    return key, Service(scheduler, timeout, mask, mh_port=mh and bool(flags & IP_VS_SVC_F_SCHED2),
                        mh_fallback=mh and bool(flags & IP_VS_SVC_F_SCHED1))


def parse_counters(stats64: bytes) -> dict[str, int]:
    """The 64-bit counters of a nested stats attribute, by the names pulse uses."""
    counters: dict[str, int] = {}
    for kind, value in attrs(stats64):
        if kind in STATS and len(value) >= 8:
            counters[STATS[kind]] = struct.unpack("=Q", value[:8])[0]
    return counters


def parse_dest(payload: bytes, af: int = socket.AF_INET) -> tuple[DestKey, Dest]:
    """Key, attributes and counters of one dumped destination of a service of family ``af``."""
    a = dict(attrs(payload))
    stats = {"active_conns": struct.unpack("=I", a.get(DEST_ACTIVE, b"\0\0\0\0"))[0],
             "inactive_conns": struct.unpack("=I", a.get(DEST_INACT, b"\0\0\0\0"))[0]}
    stats.update(parse_counters(a.get(DEST_STATS64, b"")))
    if DEST_ADDR_FAMILY in a:
        af = struct.unpack("=H", a[DEST_ADDR_FAMILY][:2])[0]
    fwd = struct.unpack("=I", a[DEST_FWD])[0] & 7
    return (DestKey(unpack_ip(af, a[DEST_ADDR]), struct.unpack("!H", a[DEST_PORT])[0]),
            Dest(struct.unpack("=I", a[DEST_WEIGHT])[0], FWDS.get(fwd, f"fwd{fwd}"), stats))


def _addr(af: int, ip: str) -> bytes:
    """An address as the kernel's 16-byte ``union nf_inet_addr``."""
    return socket.inet_pton(af, ip).ljust(16, b"\0")


def _netmask_attr(af: int, netmask: str) -> bytes:
    """The persistence mask: a dotted quad for IPv4; for IPv6 the kernel reads a host-order u32 prefix."""
    if af == socket.AF_INET6:
        return struct.pack("=I", int(netmask) if netmask.isdigit() else 128)
    return socket.inet_aton(netmask)


def service_attr(key: ServiceKey, svc: Service | None) -> bytes:
    """The nested service attribute: the key alone, or with every setting when ``svc`` is given."""
    af = family(key)
    inner = attr(SVC_AF, struct.pack("=H", af))
    if key.protocol == "fwm":
        inner += attr(SVC_FWMARK, struct.pack("=I", key.fwmark))
    else:
        inner += (attr(SVC_PROTOCOL, struct.pack("=H", PROTO_CODES[key.protocol]))
                  + attr(SVC_ADDR, _addr(af, key.addr)) + attr(SVC_PORT, struct.pack("!H", key.port)))
    if svc is not None:
        flags = IP_VS_SVC_F_PERSISTENT if svc.persistent else 0
        flags |= (IP_VS_SVC_F_SCHED1 if svc.mh_fallback else 0) | (IP_VS_SVC_F_SCHED2 if svc.mh_port else 0)
        mask = IP_VS_SVC_F_PERSISTENT | IP_VS_SVC_F_SCHED1 | IP_VS_SVC_F_SCHED2
        inner += (attr(SVC_SCHED, svc.scheduler.encode() + b"\0")
                  + attr(SVC_FLAGS, struct.pack("=II", flags, mask))
                  + attr(SVC_TIMEOUT, struct.pack("=I", svc.persistent))
                  + attr(SVC_NETMASK, _netmask_attr(af, svc.netmask)))
    return attr(ATTR_SERVICE | 0x8000, inner)


def dest_attr(dk: DestKey, dest: Dest | None) -> bytes:
    """The nested destination attribute: the key alone, or with forwarding method and weight.

    The address family is spelled out, as ipvsadm does: the kernel otherwise
    assumes the service's.
    """
    af = socket.AF_INET6 if ":" in dk.addr else socket.AF_INET
    inner = (attr(DEST_ADDR, _addr(af, dk.addr)) + attr(DEST_PORT, struct.pack("!H", dk.port))
             + attr(DEST_ADDR_FAMILY, struct.pack("=H", af)))
    if dest is not None:
        inner += (attr(DEST_FWD, struct.pack("=I", FWD_CODES[dest.fwd]))
                  + attr(DEST_WEIGHT, struct.pack("=i", dest.weight))
                  + attr(DEST_U_THRESH, struct.pack("=I", 0)) + attr(DEST_L_THRESH, struct.pack("=I", 0)))
    return attr(ATTR_DEST | 0x8000, inner)


def encode_op(op: Op) -> tuple[int, bytes]:
    """(command, attributes) of the one request that applies ``op``."""
    assert op.key is not None
    cmd = COMMANDS.get(op.action)
    if cmd is None:
        raise ValueError(f"not an IPVS op: {op.action}")
    if op.dest_key is None:
        return cmd, service_attr(op.key, op.service if cmd != IPVS_CMD_DEL_SERVICE else None)
    dest = None if cmd == IPVS_CMD_DEL_DEST else (op.dest or Dest())
    return cmd, service_attr(op.key, None) + dest_attr(op.dest_key, dest)


class NetlinkIpvs:
    """The kernel's IPVS table through one raw generic-netlink socket (reads and batched writes)."""

    name = "ipvs"

    def __init__(self) -> None:
        self.nl = NetlinkSocket(NETLINK_GENERIC)
        self._family = self._family_id("IPVS")

    def apply(self, op: Op) -> None:
        """Send exactly one request for ``op``; raises OSError when the kernel refuses it."""
        error = self.apply_many([op])[0]
        if error is not None:
            raise error

    def apply_many(self, ops: list[Op]) -> list[OSError | None]:
        """One request per op, ``BATCH`` per send(), in order; the kernel's verdict on each."""
        results: list[OSError | None] = []
        for start in range(0, len(ops), BATCH):
            requests = []
            for op in ops[start:start + BATCH]:
                cmd, payload = encode_op(op)
                requests.append((self._family, _GENL.pack(cmd, 1, 0) + payload))
            results += self.nl.send_many(requests)
        return results

    def _request(self, msg_type: int, flags: int, cmd: int, payload: bytes) -> Iterator[bytes]:
        """Send one request; yield the attribute area of every reply message until done."""
        for msg in self.nl.request(msg_type, flags, _GENL.pack(cmd, 1, 0) + payload):
            yield msg[_GENL.size:]

    def _family_id(self, name: str) -> int:
        """Resolve a generic-netlink family name to its id."""
        payload = attr(CTRL_ATTR_FAMILY_NAME, name.encode() + b"\0")
        for reply in self._request(GENL_ID_CTRL, NLM_F_REQUEST, CTRL_CMD_GETFAMILY, payload):
            for kind, value in attrs(reply):
                if kind == CTRL_ATTR_FAMILY_ID:
                    return int(struct.unpack("=H", value[:2])[0])
        raise OSError(errno.ENOENT, f"generic netlink family {name} not found")

    def dump(self) -> Table:
        """The whole table (both families) with destinations and counters (one request per service)."""
        table: Table = {}
        for key, svc in self.dump_services().items():
            entry = ServiceEntry(svc)
            entry.dests.update(self.dump_dests(key))
            table[key] = entry
        return table

    def _dumped_services(self) -> Iterator[tuple[ServiceKey, Service, dict[int, bytes]]]:
        """Key, attributes and raw attributes of every dumped service pulse manages (one request)."""
        for reply in self._request(self._family, NLM_F_REQUEST | NLM_F_DUMP, IPVS_CMD_GET_SERVICE, b""):
            for kind, value in attrs(reply):
                if kind == ATTR_SERVICE:
                    a = dict(attrs(value))
                    parsed = service_from_attrs(a)
                    if parsed is not None:
                        yield parsed[0], parsed[1], a

    def dump_services(self) -> dict[ServiceKey, Service]:
        """Every service of both families, without destinations (one request)."""
        return {key: svc for key, svc, _ in self._dumped_services()}

    def dump_service_counters(self) -> dict[ServiceKey, ServiceCounters]:
        """Every service's own counters (one request): which services saw traffic since a sample."""
        counters: dict[ServiceKey, ServiceCounters] = {}
        for key, _, a in self._dumped_services():
            found = parse_counters(a.get(SVC_STATS64, b""))
            counters[key] = tuple(found.get(name, 0) for name in COUNTER_NAMES)
        return counters

    def dump_dests(self, key: ServiceKey) -> dict[DestKey, Dest]:
        """One service's destinations with counters (one request; empty if the service is gone)."""
        dests: dict[DestKey, Dest] = {}
        try:
            for reply in self._request(self._family, NLM_F_REQUEST | NLM_F_DUMP, IPVS_CMD_GET_DEST,
                                       service_attr(key, None)):
                for kind, value in attrs(reply):
                    if kind == ATTR_DEST:
                        dk, dest = parse_dest(value, family(key))
                        dests[dk] = dest
        except OSError as exc:
            if exc.errno not in (errno.ESRCH, errno.ENOENT):
                raise
        return dests

    def get_timeouts(self) -> tuple[int, int, int]:
        """The kernel's (tcp, tcpfin, udp) connection timeouts in seconds (``ipvsadm -L --timeout``)."""
        found = {ATTR_TIMEOUT_TCP: 0, ATTR_TIMEOUT_TCP_FIN: 0, ATTR_TIMEOUT_UDP: 0}
        for reply in self._request(self._family, NLM_F_REQUEST, IPVS_CMD_GET_CONFIG, b""):
            for kind, value in attrs(reply):
                if kind in found:
                    found[kind] = struct.unpack("=I", value[:4])[0]
        return found[ATTR_TIMEOUT_TCP], found[ATTR_TIMEOUT_TCP_FIN], found[ATTR_TIMEOUT_UDP]

    def set_timeouts(self, tcp: int, tcpfin: int, udp: int) -> None:
        """``ipvsadm --set TCP TCPFIN UDP`` (lvsd's step 1); 0 leaves a value unchanged."""
        payload = (attr(ATTR_TIMEOUT_TCP, struct.pack("=I", tcp))
                   + attr(ATTR_TIMEOUT_TCP_FIN, struct.pack("=I", tcpfin))
                   + attr(ATTR_TIMEOUT_UDP, struct.pack("=I", udp)))
        for _ in self._request(self._family, NLM_F_REQUEST | NLM_F_ACK, IPVS_CMD_SET_CONFIG, payload):
            pass

    def close(self) -> None:
        """Close the netlink socket."""
        self.nl.close()
