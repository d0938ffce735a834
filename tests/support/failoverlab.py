"""Two directors, a client and two real servers in namespaces: the failover lab, in either family.

IPv4 (:data:`FO_PLAN4`, TEST-NET only)::

    client 203.0.113.30 ── pub ── dir1 eth0 203.0.113.1 (primary)   VIP 203.0.113.10 (eth0:1)
                              └── dir2 eth0 203.0.113.2 (backup)
    rs1 192.0.2.1, rs2 192.0.2.2 ── priv ── dir1 eth1 192.0.2.253, dir2 eth1 192.0.2.252
                                           (NAT router 192.0.2.254 = eth1:1 on the active one)
    dir1 eth2 198.51.100.1 ── hb ── dir2 eth2 198.51.100.2   (second heartbeat path, syncd)

IPv6 (:data:`FO_PLAN6`): the same roles on 2001:db8:c::/64 (pub; the VIP
2001:db8:10::10 is in an on-link prefix, found by neighbour discovery),
2001:db8:1::/64 (priv, ``nat_router6`` 2001:db8:1::254) and 2001:db8:2::/64
(hb, the only addresses of the sync interface).

keepalive 0.1 s, deadtime 0.5 s native; under emulation both stretch by the
same factor (tests/support/emulation.py).  Used by tests/ipvs/test_failover*.py
and benchmarks/failover_bench.py.
"""
from __future__ import annotations

import errno
import json
import os
import queue
import re
import selectors
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from piranha_web.pulse.kernel.netlink import NLM_F_ACK, NLM_F_REQUEST, NetlinkSocket

from .client import page_name
from .emulation import scaled
from .netns import in_netns, ip_batch
from .processes import NsProcess, wait_until
from .topology import PAGES, REALSERVER_SCRIPT, Lab, reap_stale_namespaces

ROOT = Path(__file__).resolve().parents[2]
KEEPALIVE = scaled(0.1)
DEADTIME = scaled(0.5)
HB_PORT = 539
PULSE_CMD = os.environ.get("FAILOVER_PULSE_CMD", "-m piranha_web.pulse.main").split()
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
DIRECTOR_DEVS = ("eth0", "eth1", "eth2")


@dataclass(frozen=True)
class FailoverPlan:
    """The failover lab's addresses in one family."""

    client: str
    vip: str
    nat_router: str
    directors: dict[str, dict[str, str]]     # name -> {"pub", "priv", "hb"}
    real_servers: dict[str, str]             # role -> address
    plen: int
    vip_prefix: str | None = None            # on-link prefix of the VIP on the client, when not its own

    @property
    def ipv6(self) -> bool:
        return ip_address(self.vip).version == 6


FO_PLAN4 = FailoverPlan(
    "203.0.113.30", "203.0.113.10", "192.0.2.254",
    {"dir1": {"pub": "203.0.113.1", "priv": "192.0.2.253", "hb": "198.51.100.1"},
     "dir2": {"pub": "203.0.113.2", "priv": "192.0.2.252", "hb": "198.51.100.2"}},
    {"rs1": "192.0.2.1", "rs2": "192.0.2.2"}, 24)
FO_PLAN6 = FailoverPlan(
    "2001:db8:c::100", "2001:db8:10::10", "2001:db8:1::254",
    {"dir1": {"pub": "2001:db8:c::1", "priv": "2001:db8:1::253", "hb": "2001:db8:2::1"},
     "dir2": {"pub": "2001:db8:c::2", "priv": "2001:db8:1::252", "hb": "2001:db8:2::2"}},
    {"rs1": "2001:db8:1::1", "rs2": "2001:db8:1::2"}, 64, vip_prefix="2001:db8:10::/64")


def lvs_cf(serial: int, key_file: Path, scheduler: str = "rr", plan: FailoverPlan = FO_PLAN4) -> str:
    """The pair's lvs.cf (same text on both nodes, as config sync keeps it)."""
    d1, d2 = plan.directors["dir1"], plan.directors["dir2"]
    servers = "".join(
        f"    server {role} {{\n        address = {addr}\n"
        f"        active = 1\n        weight = 1\n    }}\n"
        for role, addr in plan.real_servers.items())
    if plan.ipv6:
        gateway = f"nat_router6 = {plan.nat_router} eth1\nnat_nmask6 = {plan.plen}\n"
        vip = f"    address = {plan.vip} eth0\n    vip_nmask = {plan.plen}\n"
    else:
        gateway = f"nat_router = {plan.nat_router} eth1:1\nnat_nmask = 255.255.255.0\n"
        vip = f"    address = {plan.vip} eth0:1\n    vip_nmask = 255.255.255.0\n"
    return (
        f"serial_no = {serial}\nprimary = {d1['pub']}\nprimary_private = {d1['hb']}\n"
        f"service = lvs\nbackup_active = 1\nbackup = {d2['pub']}\nbackup_private = {d2['hb']}\n"
        f"heartbeat = 1\nheartbeat_port = {HB_PORT}\nkeepalive = {KEEPALIVE}\n"
        f"deadtime = {DEADTIME}\nheartbeat_key_file = {key_file}\nnetwork = nat\n{gateway}"
        f"syncdaemon = 1\nsyncd_iface = eth2\nsyncd_id = 7\n"
        f"virtual web {{\n    active = 1\n{vip}"
        f"    port = 80\n    scheduler = {scheduler}\n    protocol = tcp\n    timeout = {scaled(1)}\n"
        f"    reentry = {scaled(1)}\n{servers}}}\n")


class FailoverLab(Lab):
    """The two-director lab plus the pulses running on it."""

    def __init__(self, workdir: Path, plan: FailoverPlan = FO_PLAN4) -> None:
        super().__init__(workdir, segments=("pub", "priv", "hb"))
        self.plan = plan
        self.add_host("client", [("eth0", "pub", f"{plan.client}/{plan.plen}")],
                      routes=[(plan.vip_prefix, "eth0")] if plan.vip_prefix else ())
        for name, addr in plan.directors.items():
            self.add_host(name, [("eth0", "pub", f"{addr['pub']}/{plan.plen}"),
                                 ("eth1", "priv", f"{addr['priv']}/{plan.plen}"),
                                 ("eth2", "hb", f"{addr['hb']}/{plan.plen}")])
        for role, addr in plan.real_servers.items():
            self.add_host(role, [("eth0", "priv", f"{addr}/{plan.plen}")], gateway=plan.nat_router)
        self.key_file = workdir / "heartbeat.key"
        self.pulses: dict[str, NsProcess] = {}
        self._generation = 0

    def build(self) -> None:
        """Wire the lab, write the key and both lvs.cf copies, start the real servers."""
        super().build()
        forwarding = "net.ipv6.conf.all.forwarding" if self.plan.ipv6 else "net.ipv4.ip_forward"
        for name in self.plan.directors:
            self.sysctl(name, forwarding, "1")
            (self.workdir / name).mkdir(exist_ok=True)
            self.conf(name).write_text(self.lvs_cf(1))
        self.key_file.write_bytes(os.urandom(32).hex().encode())
        os.chmod(self.key_file, 0o600)
        for role, addr in self.plan.real_servers.items():
            self.start(role, f"{role}-http", [sys.executable, "-I", str(REALSERVER_SCRIPT),
                                              "--bind", addr, "--port", "80", "--text", PAGES[role]])

    def lvs_cf(self, serial: int, scheduler: str = "rr") -> str:
        return lvs_cf(serial, self.key_file, scheduler, self.plan)

    def conf(self, name: str) -> Path:
        return self.workdir / name / "lvs.cf"

    def rundir(self, name: str) -> Path:
        return self.workdir / name / "run"

    def start_pulse(self, name: str) -> NsProcess:
        """Start pulse in the foreground in director ``name``."""
        self._generation += 1
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = self.start(name, f"pulse-{name}-{self._generation}",
                          [sys.executable, *PULSE_CMD, "-n", "-c",
                           str(self.conf(name)), "--runtime-dir", str(self.rundir(name)),
                           "--backend", "ipvs", "--drain-seconds", "0"], env=env, cwd=ROOT)
        self.pulses[name] = proc
        return proc

    def start_pair(self) -> None:
        """pulse on the primary (active), then on the backup (standby); the VIP answers.

        Primary first: with no preemption, whichever node is up first keeps the
        service (start both at once and a backup that hears nothing for deadtime takes it).
        """
        self.start_pulse("dir1")
        self.wait_state("dir1", "active", timeout=60)
        self.start_pulse("dir2")
        self.wait_state("dir2", "standby", timeout=60)
        wait_until(lambda: client_get(self), timeout=20, interval=0.2, what="the VIP to answer")

    def status(self, name: str) -> dict[str, Any]:
        """The pulse status document of ``name`` ({} when not written yet)."""
        try:
            return json.loads((self.rundir(name) / "pulse-status.json").read_text())
        except (OSError, ValueError):
            return {}

    def fo_state(self, name: str) -> str | None:
        """The redundancy state (standby/active/...) from the status file."""
        red = self.status(name).get("redundancy") or {}
        return red.get("state")

    def wait_state(self, name: str, state: str, timeout: float = 30, interval: float = 0.05) -> None:
        proc = self.pulses[name]

        def ok() -> bool:
            if not proc.alive():
                raise RuntimeError(f"pulse in {name} died:\n{proc.log_text()}")
            return self.fo_state(name) == state
        try:
            wait_until(ok, timeout=timeout, interval=interval, what=f"{name} to be {state}")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; status redundancy: {self.status(name).get('redundancy')}"
                                 f"\npulse log:\n{proc.log_text()}") from None

    def log_times(self, name: str, pattern: str) -> list[float]:
        """Epoch times of the log lines of every pulse generation in ``name`` matching ``pattern``."""
        out = []
        for path in sorted((self.workdir / "logs").glob(f"pulse-{name}-*.log")):
            for line in path.read_text(errors="replace").splitlines():
                m = LOG_TIME.match(line)
                if m and re.search(pattern, line):
                    out.append(datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp())
        return out


REQUEST = b"GET / HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n"


def _get_once(vip: str, timeout: float) -> str:
    """One HTTP GET to the VIP from the current (client) namespace."""
    with socket.create_connection((vip, 80), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(REQUEST)
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return page_name(data.decode("utf-8", "replace"))


def client_get(lab: FailoverLab, timeout: float = 2.0) -> str:
    return in_netns(lab.ns("client"), _get_once, lab.plan.vip, scaled(timeout))


@dataclass
class _Attempt:
    """One request of :class:`_Prober` in flight: its socket, start time and what it read."""

    sock: socket.socket
    began: float                  # time.monotonic()
    wall: float                   # time.time(), for the trace
    counts: bool = True           # launched after the cut (see _Prober.run's ``armed``)
    sent: bool = False
    data: bytes = b""


class _Prober:
    """New connections to ``vip`` every ``every`` seconds, each given ``timeout``: first answer wins.

    One blocking attempt at a time can only notice that the VIP works at its
    next start: a SYN sent while the VIP was nowhere (or at the dead node's
    MAC) is retransmitted only after TCP's initial 1 s RTO, so the result
    would be quantised by the attempt timeout.  Overlapping attempts started
    ``every`` seconds bound that error to ``every``, whoever the daemon is.
    """

    def __init__(self, vip: str, timeout: float, every: float, log: list[str] | None) -> None:
        self.address = (vip, 80)
        self.family = socket.AF_INET6 if ip_address(vip).version == 6 else socket.AF_INET
        self.timeout, self.every, self.log = timeout, every, log
        self.selector = selectors.DefaultSelector()
        self.started = 0

    def launch(self, counts: bool = True) -> None:
        """Start one more non-blocking connect (``counts``: its answer may end the run)."""
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        sock.setblocking(False)
        att = _Attempt(sock, time.monotonic(), time.time(), counts)
        self.selector.register(sock, selectors.EVENT_WRITE, att)
        self.started += 1
        err = sock.connect_ex(self.address)
        if err not in (0, errno.EINPROGRESS):
            self.finish(att, os.strerror(err))

    def finish(self, att: _Attempt, outcome: str) -> None:
        self.selector.unregister(att.sock)
        att.sock.close()
        if self.log is not None:
            self.log.append(f"{att.wall:.3f} {time.time():.3f} {outcome}")

    def step(self, att: _Attempt) -> bool:
        """Progress one ready attempt; True when it read a real server's page."""
        if not att.sent:
            err = att.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.finish(att, os.strerror(err))
                return False
            try:
                att.sock.send(REQUEST)
            except OSError as exc:
                self.finish(att, repr(exc))
                return False
            att.sent = True
            self.selector.modify(att.sock, selectors.EVENT_READ, att)
            return False
        try:
            chunk = att.sock.recv(4096)
        except BlockingIOError:
            return False
        except OSError as exc:
            self.finish(att, repr(exc))
            return False
        att.data += chunk
        if chunk:
            return False
        page = page_name(att.data.decode("utf-8", "replace"))
        self.finish(att, f"page {page!r}" + ("" if att.counts else " (before the cut)"))
        return att.counts and page in PAGES.values()

    def expire(self, now: float) -> None:
        for key in list(self.selector.get_map().values()):
            if now - key.data.began >= self.timeout:
                self.finish(key.data, "timed out")

    def close(self) -> None:
        for key in list(self.selector.get_map().values()):
            self.finish(key.data, "abandoned")
        self.selector.close()

    def run(self, start: float, limit: float, armed: threading.Event | None = None) -> float:
        """time.monotonic() of the first answered request (TimeoutError ``limit`` after ``start``).

        ``armed``: only requests launched after it is set count (it marks the
        moment the old node is cut off; until then it still answers).
        """
        deadline, next_launch = start + limit, time.monotonic()
        try:
            while time.monotonic() < deadline:
                now = time.monotonic()
                if now >= next_launch:
                    self.launch(armed is None or armed.is_set())
                    next_launch = now + self.every
                for key, _ in self.selector.select(max(0.0, next_launch - time.monotonic())):
                    if self.step(key.data):
                        return time.monotonic()
                self.expire(time.monotonic())
        finally:
            self.close()
        raise TimeoutError(f"no answer through the VIP within {limit}s ({self.started} attempts)")


def first_answer_after(lab: FailoverLab, start: float, limit: float = 10.0,
                       attempt_timeout: float = 0.2, every: float = 0.02,
                       attempts: list[str] | None = None) -> float:
    """Request through the VIP until one is answered; seconds from ``start`` (time.monotonic()).

    A new connection every ``every`` seconds (native, scaled like the
    timeouts), each abandoned after ``attempt_timeout``, so the first
    answer is seen within ``every`` of the path working (see :class:`_Prober`).
    ``attempts``, when given, receives one line per attempt: its wall-clock
    start and end and its outcome (to lay next to daemon logs and wire traces).
    """
    prober = _Prober(lab.plan.vip, scaled(attempt_timeout), scaled(every), attempts)
    return in_netns(lab.ns("client"), prober.run, start, scaled(limit), timeout=scaled(limit) + 10) - start


def first_answer_around(lab: FailoverLab, cut: Callable[[], None], limit: float = 10.0,
                        attempt_timeout: float = 0.2, every: float = 0.02,
                        attempts: list[str] | None = None) -> float:
    """Seconds from the start of ``cut()`` (e.g. kill the active node and take its links down) to the
    first answer of a request sent after ``cut`` returned.

    The client requests all along, so the first answer is seen within
    ``every`` of the path working, however long ``cut`` itself took.
    """
    prober = _Prober(lab.plan.vip, scaled(attempt_timeout), scaled(every), attempts)
    armed, result = threading.Event(), queue.Queue()  # type: ignore[var-annotated]

    def probe() -> None:
        try:
            result.put(in_netns(lab.ns("client"), prober.run, time.monotonic(), scaled(limit) + 5, armed,
                                timeout=scaled(limit) + 15))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            result.put(exc)
    thread = threading.Thread(target=probe, name="first-answer", daemon=True)
    thread.start()
    time.sleep(scaled(0.05))                # the prober is sending before the cut
    start = time.monotonic()
    cut()
    armed.set()
    answer = result.get(timeout=scaled(limit) + 20)
    thread.join()
    if isinstance(answer, BaseException):
        raise answer
    return float(answer) - start


def ip_vs_conn() -> str:
    """The IPVS connection table of the calling thread's namespace."""
    with open("/proc/thread-self/net/ip_vs_conn", encoding="ascii") as fh:
        return fh.read()


def conn_table_address(addr: str) -> str:
    """``addr`` as /proc/net/ip_vs_conn writes it (IPv4 in hex, IPv6 in full), upper case."""
    ip = ip_address(addr)
    return (ip.exploded if ip.version == 6 else ip.packed.hex()).upper()


def synced_connections(lab: FailoverLab, name: str) -> list[str]:
    """ESTABLISHED client connections in ``name``'s IPVS connection table."""
    client = conn_table_address(lab.plan.client)
    return [line for line in in_netns(lab.ns(name), ip_vs_conn).splitlines()
            if client in line.upper() and "ESTABLISHED" in line]


def wait_synced(lab: FailoverLab, name: str = "dir2") -> None:
    """Wait until the client's held connection is in ``name``'s IPVS table (sync daemon).

    The master daemon flushes its buffer every 2 s; on timeout the assertion
    shows both daemons and connection tables.
    """
    try:
        wait_until(lambda: synced_connections(lab, name), timeout=10, interval=0.2,
                   what=f"the held connection to reach {name}'s IPVS table")
    except TimeoutError:
        raise AssertionError("connection not synced; daemons: " + "; ".join(
            f"{n}: {lab.run(n, ['ipvsadm', '-L', '--daemon']).stdout.strip()!r} "
            f"{(lab.status(n).get('redundancy') or {}).get('syncd')} "
            f"conns {in_netns(lab.ns(n), ip_vs_conn)!r}" for n in lab.plan.directors)) from None


def _links_down(devices: tuple[str, ...]) -> None:
    """Set ``devices`` of the calling thread's namespace down: one rtnetlink request each.

    In-process: a forked ``ip`` takes a good part of a second in the emulated
    guest, during which the old node still forwards for the VIP (and so
    would a first import here: the netlink module is imported with this one).
    """
    nl = NetlinkSocket(0)                                  # NETLINK_ROUTE
    try:
        for dev in devices:                                # RTM_NEWLINK, change IFF_UP to 0
            down = struct.pack("=BxHiII", 0, 0, socket.if_nametoindex(dev), 0, 1)
            nl.call(16, NLM_F_REQUEST | NLM_F_ACK, down)
    finally:
        nl.close()


def node_death(lab: FailoverLab, name: str) -> None:
    """Links down: what a crashed director looks like to its neighbours."""
    in_netns(lab.ns(name), _links_down, DIRECTOR_DEVS)


def node_revive(lab: FailoverLab, name: str) -> None:
    """Undo node_death after wiping what the killed pulse left (a rebooted box has nothing)."""
    plan = lab.plan
    ip_batch([["addr", "del", f"{plan.vip}/{plan.plen}", "dev", "eth0"],
              ["addr", "del", f"{plan.nat_router}/{plan.plen}", "dev", "eth1"]], lab.ns(name), force=True)
    lab.run(name, ["ipvsadm", "-C"])
    (lab.rundir(name) / "pulse-managed.json").unlink(missing_ok=True)
    ip_batch([["link", "set", dev, "up"] for dev in DIRECTOR_DEVS], lab.ns(name))


def heartbeats_blocked(lab: FailoverLab, name: str, blocked: bool) -> None:
    """Drop (or stop dropping) heartbeats arriving at ``name`` on every path."""
    verb = "-I" if blocked else "-D"
    iptables = "ip6tables" if lab.plan.ipv6 else "iptables"
    lab.run(name, [iptables, verb, "INPUT", "-p", "udp", "--dport", str(HB_PORT), "-j", "DROP"])


def ipvs_save(lab: Lab, name: str) -> str:
    """``ipvsadm -Sn`` in ``name``: the table as rules, comparable between the nodes."""
    return lab.run(name, ["ipvsadm", "-Sn"]).stdout


OP_LINE = re.compile(r" INFO ((?:add|del|set|drain)-(?:service|dest|address|mark)) ")


def takeover_ops(lab: FailoverLab, name: str) -> list[str]:
    """The ops ``name``'s pulse logged right after its last change to the active role, in order."""
    lines = sorted((lab.workdir / "logs").glob(f"pulse-{name}-*.log"))[-1].read_text().splitlines()
    start = max(i for i, line in enumerate(lines) if "role backup -> active" in line)
    ops = []
    for line in lines[start + 1:]:
        found = OP_LINE.search(line)
        if found is None:
            break
        ops.append(found.group(1))
    return ops


def build_lab(workdir: Path, plan: FailoverPlan = FO_PLAN4) -> FailoverLab:
    """Build the lab and wait until both real servers listen; torn down on failure."""
    reap_stale_namespaces()
    lab = FailoverLab(workdir, plan)
    try:
        lab.build()
        for role, addr in plan.real_servers.items():
            wait_until(lambda a=addr: in_netns(lab.ns("dir1"), _probe_rs, a), timeout=30,
                       interval=0.3, what=f"{role} to listen")
    except BaseException:
        lab.teardown()
        raise
    return lab


def _probe_rs(addr: str) -> bool:
    with socket.create_connection((addr, 80), timeout=scaled(1)):
        return True
