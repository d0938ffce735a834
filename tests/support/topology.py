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


@dataclass
class Iface:
    """One interface of a host: a veth whose peer is a port of a switch bridge."""

    dev: str
    segment: str
    cidr: str | None


@dataclass
class Host:
    """A namespace playing one role (client, director, rs1 …)."""

    role: str
    netns: str
    ifaces: list[Iface] = field(default_factory=list)
    gateway: str | None = None


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
    def add_host(self, role: str, ifaces: Sequence[tuple[str, str, str | None]],
                 gateway: str | None = None) -> Host:
        """Declare a host; *ifaces* are (device, segment, "addr/len" or None)."""
        host = Host(role, self.prefix + role, [Iface(*i) for i in ifaces], gateway)
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
                if i.cidr:
                    cmds.append(["addr", "add", i.cidr, "dev", i.dev])
                cmds.append(["link", "set", i.dev, "up"])
            if h.gateway:
                # on-link already (same subnet), even before pulse brings it up
                cmds.append(["route", "add", "default", "via", h.gateway])
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
    """The article's lab: client, director, rs1, rs2 (addresses in the module doc)."""

    client_ip = CLIENT_IP
    director_public_ip = DIRECTOR_PUBLIC_IP
    director_private_ip = DIRECTOR_PRIVATE_IP
    vip = VIP
    nat_router_ip = NAT_ROUTER_IP
    real_servers = REAL_SERVERS

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.add_host("client", [("eth0", "pub", f"{CLIENT_IP}/24")])
        self.add_host("director", [("eth0", "pub", f"{DIRECTOR_PUBLIC_IP}/24"),
                                   ("eth1", "priv", f"{DIRECTOR_PRIVATE_IP}/24")])
        for role, (addr, _text) in REAL_SERVERS.items():
            self.add_host(role, [("eth0", "priv", f"{addr}/24")], gateway=NAT_ROUTER_IP)
        self.servers: dict[str, NsProcess] = {}

    def build(self) -> None:
        """Wire the lab and enable forwarding on the director (article step 8)."""
        super().build()
        self.sysctl("director", "net.ipv4.ip_forward", "1")

    def start_real_server(self, role: str, port: int = 80) -> NsProcess:
        """Start *role*'s web server (returns once it is spawned, see wait_real_servers)."""
        addr, text = REAL_SERVERS[role]
        proc = self.start(role, f"{role}-http", [sys.executable, "-I", str(REALSERVER_SCRIPT),
                                                 "--bind", addr, "--port", str(port), "--text", text])
        self.servers[role] = proc
        return proc

    def stop_real_server(self, role: str) -> None:
        """Stop *role*'s web server (connections to it are then refused)."""
        self.servers.pop(role).stop()

    def wait_real_servers(self, roles: Sequence[str] | None = None, timeout: float = 30) -> None:
        """Wait until each real server answers directly from the director."""
        for role in roles or list(self.servers):
            addr, text = REAL_SERVERS[role]
            proc = self.servers[role]

            def answers() -> bool:
                if not proc.alive():
                    raise RuntimeError(f"{role} web server died:\n{proc.log_text()}")
                return fetch(self.ns("director"), f"http://{addr}/", timeout=2).find(text) >= 0

            wait_until(answers, timeout=timeout, interval=0.3, what=f"{role} to answer")

    # -- traffic from the client ("samba") ---------------------------------
    def client_fetch_many(self, count: int, url: str | None = None, **kwargs: object) -> list[str]:
        """*count* GETs from the client, new connection each; returns server names."""
        target = url or f"http://{VIP}/"
        return fetch_many(self.ns("client"), target, count, **kwargs)  # type: ignore[arg-type]

    def client_hold_connection(self, port: int = 80) -> HeldConnection:
        """Open one TCP connection from the client to the VIP and keep it."""
        return HeldConnection(self.ns("client"), VIP, port)


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
def seed_topology(workdir: Path, *, serve: bool = True) -> Iterator[SeedTopology]:
    """Build the seed lab (and start rs1/rs2 web servers); always tear it down."""
    reap_stale_namespaces()
    topo = SeedTopology(workdir)
    try:
        topo.build()
        if serve:
            for role in REAL_SERVERS:
                topo.start_real_server(role)
            topo.wait_real_servers()
        yield topo
    finally:
        topo.teardown()


def topology_fixture(scope: str = "module") -> Callable[..., Iterator[SeedTopology]]:
    """A pytest fixture factory: ``seed = topology_fixture("module")`` in a conftest.

    The fixture fails (never skips) when IPVS/root is unavailable.
    """
    import pytest

    from .ipvs_runner import require_ipvs

    @pytest.fixture(scope=scope)
    def _fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeedTopology]:
        require_ipvs()
        with seed_topology(tmp_path_factory.mktemp("topology")) as topo:
            yield topo

    return _fixture
