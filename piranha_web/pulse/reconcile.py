"""The pure model of what pulse manages and the diff between wanted and actual.

Everything here is pure (no I/O, no pyroute2, nothing else from ``pulse``), so
the web console can import this one module to show what Apply would do.

* Value types: :class:`ServiceKey`, :class:`Service`, :class:`DestKey`,
  :class:`Dest` (a table is ``dict[ServiceKey, ServiceEntry]``),
  :class:`Address`, :class:`MarkRule`.
* ``desired_table(cfg, health, drains)``, ``desired_addresses(cfg)``,
  ``desired_marks(cfg)``: what the kernel should hold, from lvs.cf and the
  health of each real server (rules below).
* ``plan(desired, actual, managed)``: the shortest list of :class:`Op` that
  turns ``actual`` into ``desired`` without touching anything else: an
  unchanged destination yields no operation (its connections live on), a
  weight change is exactly one ``set-dest``, and a service pulse does not
  manage (not in ``managed`` and not desired) is left alone.
  ``plan_addresses``/``plan_marks`` do the same for VIPs and mark rules.
* ``apply_op(table, op)``: mutate an in-memory table as the kernel would
  (the dry-run backend).

Desired-table rules, from Piranha's lvsd and nanny:

* only ``active = 1`` virtual and real servers count;
* a real server is in the table while its check says UP; otherwise it is left
  out, or kept at weight 0 with ``quiesce_server = 1``;
* when no real server of a service is UP (and none is still unchecked) the
  ``sorry_server`` is added at weight 1 on the virtual port;
* a real server that left the configuration is kept at weight 0 until its
  drain deadline passes (``drains``), then left out (so deleted).

* an UP real server gets the weight in ``weights`` when it has one there
  (agent, dynamic weight, load monitor, slow start: see ``health/weights.py``),
  else its configured weight.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from ..lvscf.model import LvsConfig, RealServer, VirtualServer, host_port, mask_prefix

# Health states (health/state.py re-exports these).
UNKNOWN = "unknown"
UP = "up"
DOWN = "down"

# IPVS forwarding methods, named as lvs.cf's `network` names them.
FWD_NAT = "nat"        # masquerading (ipvsadm -m), IP_VS_CONN_F_MASQ = 0
FWD_DIRECT = "direct"  # direct routing (ipvsadm -g), IP_VS_CONN_F_DROUTE = 3
FWD_TUNNEL = "tunnel"  # IP-in-IP (ipvsadm -i), IP_VS_CONN_F_TUNNEL = 2
FWD_METHODS = (FWD_NAT, FWD_DIRECT, FWD_TUNNEL)


def canonical_ip(ip: str) -> str:
    """The kernel's spelling of an address (IPv6 compressed and lower case; IPv4 as is).

    The desired table is keyed by what lvs.cf says and the dump by what the
    kernel says; ``2001:DB8:0::1`` and ``2001:db8::1`` must be one key or
    every pass would re-add the service.
    """
    if ":" not in ip:
        return ip
    try:
        return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, ip))
    except (OSError, ValueError):
        return ip


class ServiceKey(NamedTuple):
    """What identifies an IPVS virtual service: (protocol, VIP, port) or a firewall mark.

    Keys are NamedTuples (not dataclasses) because the diff hashes and sorts
    tens of thousands of them per pass and tuple hashing runs in C.  IPVS
    keeps firewall-mark services per address family, so a mark key says
    whether it is the IPv6 one (``mark6``); address keys show it in ``addr``.
    """

    protocol: str            # "tcp", "udp" or "fwm"
    addr: str = ""           # empty for fwmark services
    port: int = 0
    fwmark: int = 0
    mark6: bool = False      # fwmark services only: the AF_INET6 service of that mark

    @property
    def ipv6(self) -> bool:
        """An AF_INET6 service."""
        return self.mark6 or ":" in self.addr

    @classmethod
    def tcp(cls, addr: str, port: int) -> "ServiceKey":
        """A TCP VIP:port service."""
        return cls("tcp", addr, port)

    @classmethod
    def udp(cls, addr: str, port: int) -> "ServiceKey":
        """A UDP VIP:port service."""
        return cls("udp", addr, port)

    @classmethod
    def mark(cls, fwmark: int, ipv6: bool = False) -> "ServiceKey":
        """A firewall-mark service (of the IPv6 family when ``ipv6``)."""
        return cls("fwm", "", 0, fwmark, ipv6)

    def __str__(self) -> str:
        if self.protocol == "fwm":
            return f"FWM {self.fwmark}" + (" IPv6" if self.mark6 else "")
        return f"{self.protocol.upper()} {host_port(self.addr, self.port)}"


@dataclass(frozen=True)
class Service:
    """The settable attributes of a virtual service (besides its key)."""

    scheduler: str = "wlc"
    persistent: int = 0                  # seconds, 0 = off
    netmask: str = "255.255.255.255"     # persistence granularity (ipvsadm -M); IPv6: prefix length
    mh_port: bool = False                # mh hashes the source port too (ipvsadm -b mh-port)
    mh_fallback: bool = False            # mh rehashes a flow whose server has weight 0 (-b mh-fallback)

    def describe(self) -> str:
        """ipvsadm-like attribute summary."""
        text = self.scheduler + (" mh-fallback" if self.mh_fallback else "")
        text += " mh-port" if self.mh_port else ""
        if self.persistent:
            text += f" persistent {self.persistent}"
            if self.netmask not in HOST_MASKS:
                text += f" mask {self.netmask}"
        return text


HOST_MASKS = ("255.255.255.255", "128")   # "one client address" per family


class DestKey(NamedTuple):
    """A real server within a service: address and port."""

    addr: str
    port: int

    def __str__(self) -> str:
        return host_port(self.addr, self.port)


class Dest:
    """The settable attributes of a destination plus counters (which take no part in ``==``).

    A plain slotted class: cheaper to build than a frozen dataclass, and the
    desired table builds one per real server on every pass.
    """

    __slots__ = ("weight", "fwd", "stats")

    def __init__(self, weight: int = 1, fwd: str = FWD_NAT, stats: dict[str, int] | None = None) -> None:
        self.weight = weight
        self.fwd = fwd
        self.stats: dict[str, int] = stats if stats is not None else {}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dest):
            return NotImplemented
        return self.weight == other.weight and self.fwd == other.fwd

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Dest(weight={self.weight}, fwd={self.fwd!r})"


@dataclass
class ServiceEntry:
    """A service's attributes and its destinations."""

    service: Service
    dests: dict[DestKey, Dest] = field(default_factory=dict)


Table = dict[ServiceKey, ServiceEntry]

# A service's own kernel counters, in this order: they move whenever any of its destinations sees traffic.
COUNTER_NAMES = ("conns", "inpkts", "outpkts", "inbytes", "outbytes")
ServiceCounters = tuple[int, ...]


class Address(NamedTuple):
    """An address pulse brings up: IP/prefix on a device, with an ifconfig-style label."""

    ip: str
    prefixlen: int
    device: str          # physical device (label's part before ':')
    label: str           # e.g. eth0:1 (== device when no alias was given)

    def __str__(self) -> str:
        return f"{self.ip}/{self.prefixlen} dev {self.device} label {self.label}"

    @property
    def place(self) -> tuple[str, int, str]:
        """What the kernel keys it by: one IP/prefix per device, whatever the label."""
        return (self.ip, self.prefixlen, self.device)


class MarkRule(NamedTuple):
    """Mark packets to PROTO VIP:PORT with MARK (the iptables mangle rule Piranha left to you)."""

    protocol: str        # tcp or udp
    addr: str
    port: int
    mark: int

    @property
    def ipv6(self) -> bool:
        """A rule of the ip6 family."""
        return ":" in self.addr

    def __str__(self) -> str:
        return f"mark {self.protocol} {host_port(self.addr, self.port)} -> {self.mark}"


def copy_table(table: Table) -> Table:
    """A copy whose entries can be mutated without touching ``table``."""
    return {k: ServiceEntry(e.service, dict(e.dests)) for k, e in table.items()}


ADD_SERVICE = "add-service"
SET_SERVICE = "set-service"
DEL_SERVICE = "del-service"
ADD_DEST = "add-dest"
SET_DEST = "set-dest"
DRAIN_DEST = "drain-dest"    # a set-dest to weight 0 for a server leaving the config
DEL_DEST = "del-dest"
ADD_ADDRESS = "add-address"
DEL_ADDRESS = "del-address"
ADD_MARK = "add-mark"
DEL_MARK = "del-mark"

IPVS_ACTIONS = (ADD_SERVICE, SET_SERVICE, DEL_SERVICE, ADD_DEST, SET_DEST, DRAIN_DEST, DEL_DEST)


@dataclass(frozen=True)
class Op:
    """One change: to the IPVS table, to an address or to a firewall-mark rule."""

    action: str
    key: ServiceKey | None = None
    service: Service | None = None
    dest_key: DestKey | None = None
    dest: Dest | None = None
    address: Address | None = None
    mark: MarkRule | None = None

    def __str__(self) -> str:
        if self.address is not None:
            return f"{self.action} {self.address}"
        if self.mark is not None:
            return f"{self.action} {self.mark}"
        text = f"{self.action} {self.key}"
        if self.service is not None and self.dest_key is None:
            text += f" {self.service.describe()}"
        if self.dest_key is not None:
            text += f" -> {self.dest_key}"
            if self.dest is not None and self.action != DEL_DEST:
                text += f" {self.dest.fwd} weight {self.dest.weight}"
        return text

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form for the status file and the console."""
        return {"action": self.action, "text": str(self)}


def plan(desired: Table, actual: Table, managed: Iterable[ServiceKey] = (),
         draining: Iterable[tuple[ServiceKey, DestKey]] = ()) -> list[Op]:
    """Operations turning ``actual`` into ``desired``; unmanaged services are never touched.

    :param managed: keys pulse owns even when no longer desired (they get deleted).
    :param draining: (service, dest) pairs whose weight-0 change is reported as a drain.
    """
    managed_set = set(managed) | set(desired)
    drain_set = set(draining)
    adds: list[Op] = []
    sets: list[Op] = []
    dels: list[Op] = []
    for key in sorted(desired):
        want = desired[key]
        have = actual.get(key)
        if have is None:
            adds.append(Op(ADD_SERVICE, key, want.service))
            adds.extend(Op(ADD_DEST, key, want.service, dk, d) for dk, d in sorted(want.dests.items()))
            continue
        if have.service != want.service:
            sets.append(Op(SET_SERVICE, key, want.service))
        _plan_dests(key, want, have, drain_set, adds, sets, dels)
    for key in sorted(actual):
        if key not in desired and key in managed_set:
            dels.append(Op(DEL_SERVICE, key, actual[key].service))
    return adds + sets + dels


def _plan_dests(key: ServiceKey, want: ServiceEntry, have: ServiceEntry,
                drain_set: set[tuple[ServiceKey, DestKey]],
                adds: list[Op], sets: list[Op], dels: list[Op]) -> None:
    """Destination-level diff of one service present on both sides."""
    for dk in sorted(want.dests):
        d = want.dests[dk]
        cur = have.dests.get(dk)
        if cur is None:
            adds.append(Op(ADD_DEST, key, want.service, dk, d))
        elif cur != d:
            action = DRAIN_DEST if (key, dk) in drain_set and d.weight == 0 else SET_DEST
            sets.append(Op(action, key, want.service, dk, d))
    for dk in sorted(have.dests):
        if dk not in want.dests:
            dels.append(Op(DEL_DEST, key, want.service, dk, have.dests[dk]))


def plan_addresses(desired: Iterable[Address], present: Iterable[Address]) -> list[Op]:
    """Add missing addresses, remove ones pulse brought up that are no longer wanted.

    ``present`` must only hold addresses pulse itself added (never other addresses on the host).
    """
    want, have = set(desired), set(present)
    places = {a.place for a in want}     # the same address under another label is still wanted
    return ([Op(ADD_ADDRESS, address=a) for a in sorted(want - have)]
            + [Op(DEL_ADDRESS, address=a) for a in sorted(have - want) if a.place not in places])


def plan_marks(desired: Iterable[MarkRule], present: Iterable[MarkRule]) -> list[Op]:
    """Add missing firewall-mark rules, remove stale ones (pulse's own rules only)."""
    want, have = set(desired), set(present)
    return ([Op(ADD_MARK, mark=m) for m in sorted(want - have)]
            + [Op(DEL_MARK, mark=m) for m in sorted(have - want)])


def apply_op(table: Table, op: Op) -> None:
    """Apply one IPVS op to an in-memory table the way the kernel would (raises KeyError/ValueError)."""
    assert op.key is not None
    if op.action == ADD_SERVICE:
        if op.key in table:
            raise ValueError(f"service {op.key} exists")
        table[op.key] = ServiceEntry(op.service or Service())
    elif op.action == SET_SERVICE:
        table[op.key].service = op.service or Service()
    elif op.action == DEL_SERVICE:
        del table[op.key]
    elif op.action in (ADD_DEST, SET_DEST, DRAIN_DEST, DEL_DEST):
        _apply_dest(table[op.key], op)
    else:
        raise ValueError(f"not an IPVS op: {op.action}")


def _apply_dest(entry: ServiceEntry, op: Op) -> None:
    """Destination part of :func:`apply_op`; counters survive a weight change as in the kernel."""
    assert op.dest_key is not None
    if op.action == DEL_DEST:
        del entry.dests[op.dest_key]
        return
    dest = op.dest or Dest()
    old = entry.dests.get(op.dest_key)
    if op.action == ADD_DEST and old is not None:
        raise ValueError(f"destination {op.dest_key} exists")
    if op.action != ADD_DEST and old is None:
        raise KeyError(str(op.dest_key))
    stats = dict(old.stats) if old is not None else {}
    entry.dests[op.dest_key] = Dest(dest.weight, dest.fwd, stats)


HealthMap = Mapping[tuple[str, str], str]   # (virtual name, server name) -> up/down/unknown


def service_key(vs: VirtualServer) -> ServiceKey:
    """The IPVS key of a virtual server: its firewall mark if set, else protocol VIP:port."""
    address = canonical_ip(vs.address or "0.0.0.0")
    if vs.fwmark:
        return ServiceKey.mark(vs.fwmark, ":" in address)
    if vs.protocol == "udp":
        return ServiceKey.udp(address, vs.port)
    return ServiceKey.tcp(address, vs.port)


def service_attrs(vs: VirtualServer, ecmp: bool = False) -> Service:
    """Scheduler and persistence of a virtual server (pmask only matters when persistent).

    IPv6 services carry the persistence granularity as a prefix length, as the kernel does.
    Behind ECMP (``ecmp``) mh also hashes the source port: otherwise every flow
    of one client lands on one real server.  It also falls back: a real server
    that is down keeps its slots at weight 0 (so every director's table stays
    the same), and without the fallback flag mh drops the flows hashed to them.
    """
    if vs.address and ":" in vs.address:
        mask = str(mask_prefix(vs.pmask, vs.address)) if vs.persistent else "128"
    else:
        mask = vs.pmask if (vs.persistent and vs.pmask) else "255.255.255.255"
    mh = ecmp and vs.scheduler == "mh"
    return Service(vs.scheduler, int(vs.persistent or 0), mask, mh_port=mh, mh_fallback=mh)


def dest_key(vs: VirtualServer, address: str, port: int | None = None) -> DestKey:
    """Destination key of a real server (port defaults to the virtual's)."""
    return DestKey(canonical_ip(address), vs.port if port is None else port)


def server_dest_key(vs: VirtualServer, rs: RealServer) -> DestKey:
    """Destination key of real server ``rs`` of ``vs``."""
    return DestKey(canonical_ip(rs.address), vs.server_port(rs))


def configured_dests_by_service(cfg: LvsConfig) -> dict[ServiceKey, set[DestKey]]:
    """For every active virtual server's service, the destinations its active real servers may occupy.

    Keyed by service so the daemon can find departed destinations with one
    set difference per service instead of a lookup per destination.
    """
    out: dict[ServiceKey, set[DestKey]] = {}
    for vs in cfg.active_virtuals():
        dests = out.setdefault(service_key(vs), set())
        dests.update(server_dest_key(vs, rs) for rs in vs.servers if rs.active)
        if vs.sorry_server:
            dests.add(dest_key(vs, vs.sorry_server))
    return out


def footprint(vs: VirtualServer | None) -> tuple[object, ...]:
    """What ``vs`` holds in the kernel besides weights and service settings.

    Its service, the destinations it may occupy, its address and mark rule:
    an edit that keeps them can be planned for this virtual server alone
    (nothing to remove elsewhere, nothing to drain).
    """
    if vs is None or not vs.active:
        return ()
    alone = LvsConfig(virtuals=[vs])
    dests = configured_dests_by_service(alone)[service_key(vs)]
    address = make_address(vs.address, vs.device, vs.vip_nmask) if vs.address and vs.device else None
    return (service_key(vs), frozenset(dests), address, frozenset(desired_marks(alone)))


def configured_dests(cfg: LvsConfig) -> set[tuple[ServiceKey, DestKey]]:
    """Every (service, destination) an active real server in ``cfg`` may occupy."""
    return {(key, dk) for key, dests in configured_dests_by_service(cfg).items() for dk in dests}


def desired_table(cfg: LvsConfig, health: HealthMap,
                  drains: Mapping[tuple[ServiceKey, DestKey], Dest] | None = None,
                  weights: Mapping[tuple[str, str], int] | None = None) -> Table:
    """The IPVS table pulse wants, given lvs.cf, health states, destinations being drained and weights."""
    table = desired_entries(cfg, cfg.active_virtuals(), health, weights)
    for (key, dk), old in (drains or {}).items():
        entry = table.get(key)
        if entry is not None and dk not in entry.dests:
            entry.dests[dk] = Dest(0, old.fwd)
    return table


def desired_entries(cfg: LvsConfig, virtuals: Iterable[VirtualServer], health: HealthMap,
                    weights: Mapping[tuple[str, str], int] | None = None) -> Table:
    """The desired services of ``virtuals`` only (a health change re-plans just the services it touched)."""
    return {service_key(vs): _entry(cfg, vs, health, weights or {}) for vs in virtuals}


def _entry(cfg: LvsConfig, vs: VirtualServer, health: HealthMap,
           weights: Mapping[tuple[str, str], int]) -> ServiceEntry:
    """One service with the destinations its health allows."""
    entry = ServiceEntry(service_attrs(vs, cfg.ecmp))
    any_up = False
    any_unknown = False
    for rs in vs.servers:
        if not rs.active:
            continue
        state = health.get((vs.name, rs.name), UNKNOWN)
        dk = server_dest_key(vs, rs)
        if state == UP:
            any_up = True
            entry.dests[dk] = Dest(weights.get((vs.name, rs.name), rs.weight), cfg.network)
        else:
            any_unknown = any_unknown or state == UNKNOWN
            # ECMP: a server that is down stays at weight 0, so every director's destination list
            # keeps the configured order (mh's table depends on it) whenever checks change state.
            if vs.quiesce_server or cfg.ecmp:
                entry.dests[dk] = Dest(0, cfg.network)
    if vs.sorry_server and not any_up and not any_unknown:
        entry.dests.setdefault(dest_key(vs, vs.sorry_server), Dest(1, cfg.network))
    return entry


def prefixlen(mask: str | None, ip: str | None = None) -> int:
    """Prefix length of an address's lvs.cf mask (the host prefix when none)."""
    return mask_prefix(mask, ip)


def make_address(ip: str, device: str, mask: str | None) -> Address:
    """An address on ``device``; ``eth0:1`` means label eth0:1 on physical eth0.

    IPv6 has no address labels: the ``:N`` alias is ignored (label = device).
    """
    physical = device.split(":", 1)[0]
    if ":" in ip:
        return Address(canonical_ip(ip), prefixlen(mask, ip), physical, physical)
    return Address(ip, prefixlen(mask, ip), physical, device)


def desired_addresses(cfg: LvsConfig) -> set[Address]:
    """VIPs of active virtual servers plus the NAT router addresses of both families, each once.

    Several virtual servers on one VIP (other ports, or each with its own
    ``eth0:N`` alias) share one address: the kernel holds an address once per
    device whatever its label, so the first virtual in the file names it and
    the others add no request.
    """
    out: dict[tuple[str, int, str], Address] = {}
    for vs in cfg.active_virtuals():
        if vs.address and vs.device:
            address = make_address(vs.address, vs.device, vs.vip_nmask)
            out.setdefault(address.place, address)
    if cfg.network == "nat" and cfg.nat_router and cfg.nat_router_device:
        address = make_address(cfg.nat_router, cfg.nat_router_device, cfg.nat_nmask)
        out.setdefault(address.place, address)
    if cfg.network == "nat" and cfg.nat_router6 and cfg.nat_router6_device:
        address = make_address(cfg.nat_router6, cfg.nat_router6_device, cfg.nat_nmask6)
        out.setdefault(address.place, address)
    return set(out.values())


def routers_first(addresses: Iterable[Address], cfg: LvsConfig) -> list[Address]:
    """``addresses`` in the order to announce them: the NAT router addresses, then the VIPs.

    A client told first that a VIP moved sends its SYN through the new
    director at once; the real server's SYN-ACK goes to its default route,
    the NAT router address, so that must already point at the new director,
    or the reply is lost and TCP waits a whole retransmission timeout (1 s).
    """
    routers = ({canonical_ip(ip) for ip in (cfg.nat_router, cfg.nat_router6) if ip}
               if cfg.network == "nat" else set())
    return sorted(addresses, key=lambda a: (a.ip not in routers, a))


def desired_marks(cfg: LvsConfig) -> set[MarkRule]:
    """Mark rules for fwmark services that also name an address (either family) and port."""
    return {MarkRule(vs.protocol, canonical_ip(vs.address), vs.port, vs.fwmark)
            for vs in cfg.active_virtuals() if vs.fwmark and vs.address and vs.port}


def all_up(cfg: LvsConfig) -> dict[tuple[str, str], str]:
    """A health map calling every active real server UP (what ``--plan`` assumes without a daemon)."""
    return {(vs.name, rs.name): UP for vs in cfg.active_virtuals() for rs in vs.servers if rs.active}
