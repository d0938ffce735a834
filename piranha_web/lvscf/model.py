"""Typed objects for everything an lvs.cf file can say.

Defaults are the ones Piranha's own reader (lvsconfig.c) applies when a key is
absent, so a file that omits a key means the same to us as it did to Piranha.
``None`` means "not set" for keys that have no default (addresses, masks,
strings); the writer omits those.  Each object remembers the line it started
on (``line``) so semantic errors can name it; ``line`` takes no part in
equality, so ``parse(dump(c)) == c`` compares meaning, not layout.  The parser
also records the line of every key it set in the private ``_lines`` mapping
(key -> line; compare=False, repr=False) so the validator can point at the
exact line; objects built in code have no entries and report line 0.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from .keys import DIRECTOR, FAILOVER, GLOBAL, SERVER, VIRTUAL
from .keys import default as _default

# Values lvs.cf accepts for enumerated keys.  sed, nq and mh are extensions:
# Piranha's reader refused them although the kernel has them.
SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh")
PROTOCOLS = ("tcp", "udp")
NETWORKS = ("nat", "direct", "tunnel")
SERVICES = ("lvs", "fos")
LOAD_MONITORS = ("none", "uptime", "rup", "ruptime")
CHECKS = ("tcp", "send-expect", "http", "https", "dns", "program", "agent", "none")
DNS_QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28,
              "SRV": 33}
CONFLICT_ACTIONS = ("nothing", "preempt")
CLUSTERS = ("pair", "ecmp")      # pair: Piranha's primary/backup; ecmp: every director active
ECMP_NETWORKS = ("direct", "tunnel")   # NAT replies would need to return through the one director
ECMP_SCHEDULERS = ("mh", "sh")   # schedulers every director evaluates alike (mh: minimal disruption)


def mask_prefix(mask: str | None, address: str | None = None) -> int:
    """Prefix length that a validated lvs.cf mask (vip_nmask, nat_nmask, pmask) stands for.

    Piranha's "no mask" spellings (unset, empty, ``0``, ``0.0.0.0``) mean a
    host prefix (/32, or /128 for an IPv6 ``address``); a bare number is a
    prefix length (our IPv6 extension); anything else is a dotted mask.  One
    definition, so pulse's addresses and the keepalived export can't disagree.
    """
    if not mask or mask in ("0", "0.0.0.0"):
        return 128 if address is not None and ":" in address else 32
    if mask.isdigit():
        return int(mask)
    return ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen


def host_port(address: str | None, port: int) -> str:
    """``ADDRESS:PORT``, with the IPv6 address in brackets (``[2001:db8::10]:80``)."""
    host = address or ""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class RealServer:
    """A ``server NAME { }`` block: one real server behind a virtual server."""

    name: str
    address: str = _default(SERVER, "address")
    active: bool = _default(SERVER, "active")
    weight: int = _default(SERVER, "weight")
    # None: inherit the virtual server's port (as Piranha copies it at parse time).
    port: int | None = None
    fall: int | None = None             # health-check extensions (None: inherit / Piranha's meaning)
    rise: int | None = None
    check_interval: float | None = None
    check_timeout: float | None = None
    check: str | None = None
    check_path: str | None = None
    check_host: str | None = None
    check_status: str | None = None
    check_body: str | None = None
    check_digest: str | None = None
    check_port: int | None = None
    check_verify: bool | None = None
    check_ca_file: str | None = None
    check_query: str | None = None
    check_qtype: str | None = None
    check_dynamic: bool | None = None
    agent_port: int | None = None
    slowstart: float | None = None
    line: int = field(default=0, compare=False, repr=False)
    _lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def key_line(self, key: str) -> int:
        """Line the parser read ``key`` from (else the block's own line)."""
        return self._lines.get(key, self.line)


@dataclass
class VirtualServer:
    """A ``virtual NAME { }`` block: one IPVS service and its real servers."""

    name: str
    active: bool = _default(VIRTUAL, "active")
    address: str | None = None          # the VIP (first token of `address`)
    device: str | None = None           # alias device, e.g. eth0:1 (second token)
    vip_nmask: str | None = None
    sorry_server: str | None = None
    fwmark: int | None = None
    port: int = _default(VIRTUAL, "port")
    protocol: str = _default(VIRTUAL, "protocol")
    scheduler: str = _default(VIRTUAL, "scheduler")
    persistent: int = _default(VIRTUAL, "persistent")
    pmask: str | None = None
    send: str | None = None             # raw, escapes undecoded, quotes stripped
    expect: str | None = None
    use_regex: bool = _default(VIRTUAL, "use_regex")
    send_program: str | None = None
    load_monitor: str | None = None
    timeout: float = _default(VIRTUAL, "timeout")                 # fractional seconds are our extension
    reentry: float = _default(VIRTUAL, "reentry")
    quiesce_server: bool = _default(VIRTUAL, "quiesce_server")
    client_monitor: str | None = None
    fall: int | None = None             # health-check extensions (None: inherit / Piranha's meaning)
    rise: int | None = None
    check_interval: float | None = None
    check_timeout: float | None = None
    check: str | None = None
    check_path: str | None = None
    check_host: str | None = None
    check_status: str | None = None
    check_body: str | None = None
    check_digest: str | None = None
    check_port: int | None = None
    check_verify: bool | None = None
    check_ca_file: str | None = None
    check_query: str | None = None
    check_qtype: str | None = None
    check_dynamic: bool | None = None
    agent_port: int | None = None
    slowstart: float | None = None
    servers: list[RealServer] = field(default_factory=list)
    line: int = field(default=0, compare=False, repr=False)
    _lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    _end: int = field(default=0, compare=False, repr=False)   # the line of its closing brace

    def server_port(self, server: RealServer) -> int:
        """The port a real server is reached on (its own, else the virtual's)."""
        return server.port if server.port is not None else self.port

    def key_line(self, key: str) -> int:
        """Line the parser read ``key`` from (else the block's own line)."""
        return self._lines.get(key, self.line)


@dataclass
class FailoverService:
    """A ``failover NAME { }`` block (FOS mode: a service moved between nodes)."""

    name: str
    active: bool = _default(FAILOVER, "active")
    address: str | None = None
    device: str | None = None
    vip_nmask: str | None = None
    port: int = _default(FAILOVER, "port")
    send: str | None = None
    expect: str | None = None
    timeout: float = _default(FAILOVER, "timeout")
    reentry: float = _default(FAILOVER, "reentry")
    start_cmd: str | None = None
    stop_cmd: str | None = None
    line: int = field(default=0, compare=False, repr=False)
    _lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def key_line(self, key: str) -> int:
        """Line the parser read ``key`` from (else the block's own line)."""
        return self._lines.get(key, self.line)


@dataclass
class Director:
    """A ``director NAME { }`` block (cluster = ecmp): one of the active directors."""

    name: str
    address: str | None = _default(DIRECTOR, "address")
    line: int = field(default=0, compare=False, repr=False)
    _lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def key_line(self, key: str) -> int:
        """Line the parser read ``key`` from (else the block's own line)."""
        return self._lines.get(key, self.line)


def item_line_key(key: str, index: int) -> str:
    """The ``_lines`` entry of the ``index``-th line of a repeatable key (``bgp_peer:0``)."""
    return f"{key}:{index}"


def split_peer(text: str) -> tuple[str, int | None]:
    """``"IP AS"`` of a ``bgp_peer`` line as (IP, AS); AS None when missing or not a number."""
    parts = text.split()
    asn = parts[1] if len(parts) == 2 else ""
    return (parts[0] if parts else ""), (int(asn) if asn.isdigit() and len(asn) <= 10 else None)


@dataclass
class LvsConfig:
    """A whole lvs.cf: global settings, redundancy, virtual and failover services."""

    serial_no: int = _default(GLOBAL, "serial_no")
    primary: str | None = None
    primary_private: str | None = None
    primary_shared: str | None = None
    service: str = _default(GLOBAL, "service")
    rsh_command: str | None = None
    backup_active: bool = _default(GLOBAL, "backup_active")
    backup: str | None = None
    backup_private: str | None = None
    backup_shared: str | None = None
    heartbeat: bool = _default(GLOBAL, "heartbeat")
    heartbeat_port: int = _default(GLOBAL, "heartbeat_port")
    keepalive: float = _default(GLOBAL, "keepalive")
    deadtime: float = _default(GLOBAL, "deadtime")
    heartbeat_key_file: str | None = None   # extension: HMAC secret for heartbeats
    network: str = _default(GLOBAL, "network")
    nat_router: str | None = None        # first token of `nat_router`
    nat_router_device: str | None = None  # second token
    nat_nmask: str | None = None
    nat_router6: str | None = None        # extension: the IPv6 floating gateway (first token)
    nat_router6_device: str | None = None  # second token
    nat_nmask6: str | None = None          # its prefix length
    reservation_conflict_action: str | None = None
    debug_level: str = _default(GLOBAL, "debug_level")
    active_cmd: str | None = None
    inactive_cmd: str | None = None
    monitor_links: int = _default(GLOBAL, "monitor_links")
    syncdaemon: bool = _default(GLOBAL, "syncdaemon")
    syncd_iface: str | None = None
    syncd_id: int | None = None
    tcp_timeout: int = _default(GLOBAL, "tcp_timeout")
    tcpfin_timeout: int = _default(GLOBAL, "tcpfin_timeout")
    udp_timeout: int = _default(GLOBAL, "udp_timeout")
    hard_shutdown: bool = _default(GLOBAL, "hard_shutdown")
    ipvsadm: str | None = None
    sync: bool = _default(GLOBAL, "sync")
    cluster: str = _default(GLOBAL, "cluster")
    bgp_local_as: int | None = None
    bgp_peers: list[str] = field(default_factory=list)   # "IP AS" per bgp_peer line
    bgp_hold_time: int | None = None
    bgp_bfd: bool = _default(GLOBAL, "bgp_bfd")
    bgp_bird: str | None = None
    bgp_drain_seconds: float = _default(GLOBAL, "bgp_drain_seconds")
    virtuals: list[VirtualServer] = field(default_factory=list)
    failovers: list[FailoverService] = field(default_factory=list)
    directors: list[Director] = field(default_factory=list)
    _lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def key_line(self, key: str) -> int:
        """Line the parser read the global ``key`` from (0 when unknown)."""
        return self._lines.get(key, 0)

    def virtual(self, name: str) -> VirtualServer | None:
        """The virtual server called ``name``, if any."""
        return next((v for v in self.virtuals if v.name == name), None)

    @property
    def ecmp(self) -> bool:
        """Several active directors behind ECMP (no primary/backup roles)."""
        return self.cluster == "ecmp" and self.service == "lvs"

    def active_virtuals(self) -> list[VirtualServer]:
        """Virtual servers pulse should run (inactive ones are skipped entirely)."""
        return [v for v in self.virtuals if v.active]

    def nat_families(self) -> set[int]:
        """IP versions (4, 6) of the active virtual servers this director forwards by NAT."""
        if self.service != "lvs" or self.network != "nat":
            return set()
        return {6 if ":" in (v.address or "") else 4 for v in self.active_virtuals()}
