"""The seed article's LVS-NAT lab, built from network namespaces.

Layout (TEST-NET addresses only; the article's 210.220.230.x / 192.168.1.x
mapped onto 203.0.113.x / 192.0.2.x)::

    client 203.0.113.30 (the article's Windows PC "samba")
      eth0 ── [switch ns: bridge "pub"] ── eth0 director 203.0.113.1
                                                   (VIP 203.0.113.10 = eth0:1, added by pulse)
                                           eth1 director 192.0.2.253
                                                   (NAT router 192.0.2.254 = eth1:1, added by pulse)
      rs1 192.0.2.1 eth0 ── [switch ns: bridge "priv"] ── eth1
      rs2 192.0.2.2 eth0 ──┘     (real servers: default route via 192.0.2.254)

The two bridges live in a separate "switch" namespace so a second director
(backup) or more real servers can be plugged in later with Lab.add_host.
Neither the VIP nor the NAT router address is configured here: bringing
them up is pulse's job, exactly as the article insists.

The same lab in IPv6 (:data:`PLAN6`), or dual-stacked (both plans at once)::

    client 2001:db8:c::100 ── pub ── director eth0 2001:db8:c::1
        (the VIP's prefix 2001:db8:10::/64 is on-link on pub, so the client
         finds the VIP by neighbour discovery; VIP 2001:db8:10::10 added by pulse)
    rs1 2001:db8:1::1, rs2 2001:db8:1::2 ── priv ── director eth1 2001:db8:1::253
        (default route via nat_router6 2001:db8:1::254, added by pulse)

IPv6 addresses are added with ``nodad`` so they serve at once.

Namespace names carry a per-run prefix (``pw<pid>-<n>-``) so parallel or
leftover runs never clash; teardown stops every process and deletes every
namespace even when the test failed.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import sys
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import Callable, Iterator, Sequence

from .client import HeldConnection, fetch, fetch_many
from .netns import delete_netns, ip_batch, list_netns, ns_run, write_sysctl
from .processes import NsProcess, ProcessGroup, wait_until

PREFIX = "pw"
_counter = itertools.count()

CLIENT_IP = "203.0.113.30"
DIRECTOR_PUBLIC_IP = "203.0.113.1"
VIP = "203.0.113.10"
DIRECTOR_PRIVATE_IP = "192.0.2.253"
NAT_ROUTER_IP = "192.0.2.254"
REAL_SERVERS = {"rs1": ("192.0.2.1", "real server 1"), "rs2": ("192.0.2.2", "real server 2")}
REALSERVER_SCRIPT = Path(__file__).with_name("realserver.py")
PAGES = {role: text for role, (_addr, text) in REAL_SERVERS.items()}


@dataclass(frozen=True)
class AddressPlan:
    """The seed lab's addresses in one family (the roles are the same in both)."""

    client: str
    director_public: str
    vip: str
    director_private: str
    nat_router: str
    real_servers: dict[str, str]
    plen: int
    #: a prefix the client reaches on-link through pub (the VIP's, when it is not the client's own)
    vip_prefix: str | None = None

    @property
    def version(self) -> int:
        return ip_address(self.vip).version


PLAN4 = AddressPlan(CLIENT_IP, DIRECTOR_PUBLIC_IP, VIP, DIRECTOR_PRIVATE_IP, NAT_ROUTER_IP,
                    {role: addr for role, (addr, _text) in REAL_SERVERS.items()}, 24)
PLAN6 = AddressPlan("2001:db8:c::100", "2001:db8:c::1", "2001:db8:10::10", "2001:db8:1::253",
                    "2001:db8:1::254", {"rs1": "2001:db8:1::1", "rs2": "2001:db8:1::2"}, 64,
                    vip_prefix="2001:db8:10::/64")


def url_host(addr: str) -> str:
    """An address as the host part of a URL (IPv6 in brackets)."""
    return f"[{addr}]" if ":" in addr else addr


@dataclass
class Iface:
    """One interface of a host: a veth whose peer is a port of a switch bridge.

    ``cidr`` is one "addr/len", several (a tuple: dual stack) or None.
    """

    dev: str
    segment: str
    cidr: str | tuple[str, ...] | None

    def cidrs(self) -> tuple[str, ...]:
        return (self.cidr,) if isinstance(self.cidr, str) else tuple(self.cidr or ())


@dataclass
class Host:
    """A namespace playing one role (client, director, rs1 …)."""

    role: str
    netns: str
    ifaces: list[Iface] = field(default_factory=list)
    gateway: str | tuple[str, ...] | None = None
    routes: tuple[tuple[str, str], ...] = ()   # (prefix, device): extra on-link prefixes


class Lab:
    """Namespaces wired to bridges in a switch namespace; owns their processes."""

    def __init__(self, workdir: Path, segments: Sequence[str] = ("pub", "priv")) -> None:
        self.prefix = f"{PREFIX}{os.getpid()}-{next(_counter)}-"
        self.workdir = workdir
        self.segments = list(segments)
        self.switch = self.prefix + "switch"
        self.hosts: dict[str, Host] = {}
        self.procs = ProcessGroup()
        self._created: list[str] = []

    # -- building ---------------------------------------------------------
    def add_host(self, role: str, ifaces: Sequence[tuple[str, str, str | tuple[str, ...] | None]],
                 gateway: str | tuple[str, ...] | None = None,
                 routes: Sequence[tuple[str, str]] = ()) -> Host:
        """Declare a host; *ifaces* are (device, segment, "addr/len", several or None);
        *gateway* one default route's next hop or one per family."""
        host = Host(role, self.prefix + role, [Iface(*i) for i in ifaces], gateway, tuple(routes))
        self.hosts[role] = host
        return host

    def build(self) -> None:
        """Create namespaces, veths, bridges and addresses (one ip batch per namespace)."""
        names = [self.switch] + [h.netns for h in self.hosts.values()]
        self._created = names
        ip_batch([["netns", "add", n] for n in names])
        ip_batch([["link", "add", i.dev, "netns", h.netns, "type", "veth",
                   "peer", "name", self._port(h, i), "netns", self.switch]
                  for h in self.hosts.values() for i in h.ifaces])
        switch_cmds = [["link", "set", "lo", "up"]]
        for seg in self.segments:
            switch_cmds += [["link", "add", seg, "type", "bridge", "forward_delay", "0"],
                            ["link", "set", seg, "up"]]
        for h in self.hosts.values():
            for i in h.ifaces:
                switch_cmds.append(["link", "set", self._port(h, i), "master", i.segment, "up"])
        ip_batch(switch_cmds, self.switch)
        for h in self.hosts.values():
            cmds = [["link", "set", "lo", "up"]]
            for i in h.ifaces:
                for cidr in i.cidrs():
                    # IPv6: no duplicate address detection, usable at once
                    cmds.append(["addr", "add", cidr, "dev", i.dev] + (["nodad"] if ":" in cidr else []))
                cmds.append(["link", "set", i.dev, "up"])
            for prefix, dev in h.routes:
                cmds.append(["route", "add", prefix, "dev", dev])
            for gateway in (h.gateway,) if isinstance(h.gateway, str) else h.gateway or ():
                # on-link already (same subnet), even before pulse brings it up
                cmds.append(["route", "add", "default", "via", gateway])
            ip_batch(cmds, h.netns)

    def _port(self, host: Host, iface: Iface) -> str:
        return f"{host.role[:9]}-{iface.dev}"[:15]

    def teardown(self) -> None:
        """Stop processes, then delete namespaces; never raises."""
        self.procs.stop_all()
        if self._created:
            delete_netns(self._created)
            self._created = []

    # -- using ------------------------------------------------------------
    def ns(self, role: str) -> str:
        """Namespace name of *role*."""
        return self.hosts[role].netns if role != "switch" else self.switch

    def run(self, role: str, argv: Sequence[str], **kwargs: object):  # type: ignore[no-untyped-def]
        """Run a short command in *role*'s namespace (see netns.ns_run)."""
        return ns_run(self.ns(role), argv, **kwargs)  # type: ignore[arg-type]

    def start(self, role: str, name: str, argv: Sequence[str], **kwargs: object) -> NsProcess:
        """Start a long-running process in *role*'s namespace; log in workdir/logs/NAME.log."""
        return self.procs.start(name, self.ns(role), argv,
                                self.workdir / "logs" / f"{name}.log", **kwargs)

    def sysctl(self, role: str, key: str, value: str) -> None:
        """Set a per-namespace sysctl in *role*'s namespace."""
        write_sysctl(self.ns(role), key, value)


class SeedTopology(Lab):
    """The article's lab: client, director, rs1, rs2 (addresses in the module doc).

    *plans* picks the families: IPv4 (the default), IPv6, or both (dual stack;
    the first plan is the one the ``client_*`` helpers aim at by default).
    """

    client_ip = CLIENT_IP
    director_public_ip = DIRECTOR_PUBLIC_IP
    director_private_ip = DIRECTOR_PRIVATE_IP
    vip = VIP
    nat_router_ip = NAT_ROUTER_IP
    real_servers = REAL_SERVERS

    def __init__(self, workdir: Path, plans: Sequence[AddressPlan] = (PLAN4,)) -> None:
        super().__init__(workdir)
        self.plans = tuple(plans)

        def cidrs(addr: Callable[[AddressPlan], str]) -> tuple[str, ...]:
            return tuple(f"{addr(p)}/{p.plen}" for p in self.plans)

        self.add_host("client", [("eth0", "pub", cidrs(lambda p: p.client))],
                      routes=[(p.vip_prefix, "eth0") for p in self.plans if p.vip_prefix])
        self.add_host("director", [("eth0", "pub", cidrs(lambda p: p.director_public)),
                                   ("eth1", "priv", cidrs(lambda p: p.director_private))])
        for role in REAL_SERVERS:
            self.add_host(role, [("eth0", "priv", cidrs(lambda p: p.real_servers[role]))],
                          gateway=tuple(p.nat_router for p in self.plans))
        self.servers: dict[str, NsProcess] = {}

    def build(self) -> None:
        """Wire the lab and enable forwarding on the director (article step 8)."""
        super().build()
        for plan in self.plans:
            self.sysctl("director", *(("net.ipv4.ip_forward", "1") if plan.version == 4
                                      else ("net.ipv6.conf.all.forwarding", "1")))

    def start_real_server(self, role: str, port: int = 80) -> NsProcess:
        """Start *role*'s web server (returns once it is spawned, see wait_real_servers).

        Dual stack: one server on ``::`` answers both families.
        """
        bind = self.plans[0].real_servers[role] if len(self.plans) == 1 else "::"
        proc = self.start(role, f"{role}-http", [sys.executable, "-I", str(REALSERVER_SCRIPT),
                                                 "--bind", bind, "--port", str(port), "--text", PAGES[role]])
        self.servers[role] = proc
        return proc

    def stop_real_server(self, role: str) -> None:
        """Stop *role*'s web server (connections to it are then refused)."""
        self.servers.pop(role).stop()

    def wait_real_servers(self, roles: Sequence[str] | None = None, timeout: float = 30) -> None:
        """Wait until each real server answers directly from the director."""
        for role in roles or list(self.servers):
            proc = self.servers[role]
            for plan in self.plans:
                url = f"http://{url_host(plan.real_servers[role])}/"

                def answers() -> bool:
                    if not proc.alive():
                        raise RuntimeError(f"{role} web server died:\n{proc.log_text()}")
                    return fetch(self.ns("director"), url, timeout=2).find(PAGES[role]) >= 0

                wait_until(answers, timeout=timeout, interval=0.3, what=f"{role} to answer on {url}")

    # -- traffic from the client ("samba") ---------------------------------
    def client_fetch_many(self, count: int, url: str | None = None, **kwargs: object) -> list[str]:
        """*count* GETs from the client, new connection each; returns server names."""
        target = url or f"http://{url_host(self.plans[0].vip)}/"
        return fetch_many(self.ns("client"), target, count, **kwargs)  # type: ignore[arg-type]

    def client_hold_connection(self, port: int = 80) -> HeldConnection:
        """Open one TCP connection from the client to the VIP and keep it."""
        return HeldConnection(self.ns("client"), self.plans[0].vip, port)


def reap_stale_namespaces(prefix: str = PREFIX) -> list[str]:
    """Delete namespaces left by dead runs (``pw<pid>-…`` whose pid is gone).

    Only matters on a persistent IPVS host; inside scripts/ipvs-kernel every
    namespace dies with the guest anyway.
    """
    stale = []
    for name in list_netns():
        head = name.split("-", 1)[0]
        if head.startswith(prefix) and head[len(prefix):].isdigit():
            pid = int(head[len(prefix):])
            if pid != os.getpid() and not Path(f"/proc/{pid}").exists():
                stale.append(name)
    delete_netns(stale)
    return stale


@contextlib.contextmanager
def seed_topology(workdir: Path, *, serve: bool = True,
                  plans: Sequence[AddressPlan] = (PLAN4,)) -> Iterator[SeedTopology]:
    """Build the seed lab (and start rs1/rs2 web servers); always tear it down."""
    reap_stale_namespaces()
    topo = SeedTopology(workdir, plans)
    try:
        topo.build()
        if serve:
            for role in REAL_SERVERS:
                topo.start_real_server(role)
            topo.wait_real_servers()
        yield topo
    finally:
        topo.teardown()


def topology_fixture(scope: str = "module",
                     plans: Sequence[AddressPlan] = (PLAN4,)) -> Callable[..., Iterator[SeedTopology]]:
    """A pytest fixture factory: ``seed = topology_fixture("module")`` in a conftest.

    The fixture fails (never skips) when IPVS/root is unavailable.
    """
    import pytest

    from .ipvs_runner import require_ipvs

    @pytest.fixture(scope=scope)
    def _fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeedTopology]:
        require_ipvs()
        with seed_topology(tmp_path_factory.mktemp("topology"), plans=plans) as topo:
            yield topo

    return _fixture
