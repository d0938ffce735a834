"""Primary/backup failover under a real IPVS kernel (marker ``ipvs``).

Two directors on shared segments, a client and two real servers (TEST-NET only)::

    client 203.0.113.30 ── pub ── dir1 eth0 203.0.113.1 (primary)   VIP 203.0.113.10 (eth0:1)
                              └── dir2 eth0 203.0.113.2 (backup)
    rs1 192.0.2.1, rs2 192.0.2.2 ── priv ── dir1 eth1 192.0.2.253, dir2 eth1 192.0.2.252
                                           (NAT router 192.0.2.254 = eth1:1 on the active one)
    dir1 eth2 198.51.100.1 ── hb ── dir2 eth2 198.51.100.2   (second heartbeat path, syncd)

keepalive 0.1 s, deadtime 0.5 s.  The tests run in order on one lab:
startup roles -> publish (config sync) -> graceful stop (instant handover,
held connection survives via the sync daemon) -> SIGKILL + node death
(takeover within deadtime, measured; a publish while it is down is caught
up when it returns) -> split brain (heartbeats cut: both
active; healed: primary wins).

Run::

    scripts/ipvs-kernel --timeout 900 -- \\
        .venv/bin/python -m pytest -m ipvs tests/ipvs/test_failover.py -s
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.emulation import TIME_FACTOR, scaled  # noqa: E402
from tests.support.client import HeldConnection, page_name  # noqa: E402
from tests.support.netns import in_netns, ip_batch  # noqa: E402
from tests.support.processes import NsProcess, wait_until  # noqa: E402
from tests.support.topology import Lab, REAL_SERVERS, REALSERVER_SCRIPT, reap_stale_namespaces  # noqa: E402

pytestmark = pytest.mark.ipvs

VIP = "203.0.113.10"
NAT_ROUTER = "192.0.2.254"
# native values; under emulation both stretch by the same factor (tests/support/emulation.py)
KEEPALIVE = scaled(0.1)
DEADTIME = scaled(0.5)
HB_PORT = 539
DIRECTORS = {
    "dir1": {"pub": "203.0.113.1", "priv": "192.0.2.253", "hb": "198.51.100.1"},
    "dir2": {"pub": "203.0.113.2", "priv": "192.0.2.252", "hb": "198.51.100.2"},
}
PULSE_CMD = os.environ.get("FAILOVER_PULSE_CMD", "-m piranha_web.pulse.main").split()
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def lvs_cf(serial: int, key_file: Path, scheduler: str = "rr") -> str:
    """The pair's lvs.cf (same text on both nodes, as config sync keeps it)."""
    d1, d2 = DIRECTORS["dir1"], DIRECTORS["dir2"]
    servers = "".join(
        f"    server {name} {{\n        address = {addr}\n        active = 1\n        weight = 1\n    }}\n"
        for name, (addr, _text) in REAL_SERVERS.items())
    return (
        f"serial_no = {serial}\nprimary = {d1['pub']}\nprimary_private = {d1['hb']}\n"
        f"service = lvs\nbackup_active = 1\nbackup = {d2['pub']}\nbackup_private = {d2['hb']}\n"
        f"heartbeat = 1\nheartbeat_port = {HB_PORT}\nkeepalive = {KEEPALIVE}\n"
        f"deadtime = {DEADTIME}\nheartbeat_key_file = {key_file}\nnetwork = nat\n"
        f"nat_router = {NAT_ROUTER} eth1:1\nnat_nmask = 255.255.255.0\n"
        f"syncdaemon = 1\nsyncd_iface = eth2\nsyncd_id = 7\n"
        f"virtual web {{\n    active = 1\n    address = {VIP} eth0:1\n    vip_nmask = 255.255.255.0\n"
        f"    port = 80\n    scheduler = {scheduler}\n    protocol = tcp\n    timeout = {scaled(1)}\n"
        f"    reentry = {scaled(1)}\n{servers}}}\n")


class FailoverLab(Lab):
    """The two-director lab plus the pulses running on it."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, segments=("pub", "priv", "hb"))
        self.add_host("client", [("eth0", "pub", "203.0.113.30/24")])
        for name, addr in DIRECTORS.items():
            self.add_host(name, [("eth0", "pub", f"{addr['pub']}/24"),
                                 ("eth1", "priv", f"{addr['priv']}/24"),
                                 ("eth2", "hb", f"{addr['hb']}/24")])
        for role, (addr, _text) in REAL_SERVERS.items():
            self.add_host(role, [("eth0", "priv", f"{addr}/24")], gateway=NAT_ROUTER)
        self.key_file = workdir / "heartbeat.key"
        self.pulses: dict[str, NsProcess] = {}
        self._generation = 0

    def build(self) -> None:
        """Wire the lab, write the key and both lvs.cf copies, start the real servers."""
        super().build()
        for name in DIRECTORS:
            self.sysctl(name, "net.ipv4.ip_forward", "1")
            (self.workdir / name).mkdir(exist_ok=True)
            self.conf(name).write_text(lvs_cf(1, self.key_file))
        self.key_file.write_bytes(os.urandom(32).hex().encode())
        os.chmod(self.key_file, 0o600)
        for role, (addr, text) in REAL_SERVERS.items():
            self.start(role, f"{role}-http", [sys.executable, "-I", str(REALSERVER_SCRIPT),
                                              "--bind", addr, "--port", "80", "--text", text])

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

    def wait_state(self, name: str, state: str, timeout: float = 30) -> None:
        proc = self.pulses[name]

        def ok() -> bool:
            if not proc.alive():
                raise RuntimeError(f"pulse in {name} died:\n{proc.log_text()}")
            return self.fo_state(name) == state
        try:
            wait_until(ok, timeout=timeout, interval=0.05, what=f"{name} to be {state}")
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


def _get_once(timeout: float) -> str:
    """One HTTP GET to the VIP from the current (client) namespace."""
    with socket.create_connection((VIP, 80), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return page_name(data.decode("utf-8", "replace"))


def client_get(lab: Lab, timeout: float = 2.0) -> str:
    return in_netns(lab.ns("client"), _get_once, scaled(timeout))


def first_answer_after(lab: Lab, start: float, limit: float = 10.0,
                       attempt_timeout: float = 0.2) -> float:
    """Keep requesting (new connection each, short timeouts) until one is answered;
    returns seconds from ``start`` (time.monotonic()) to that answer."""
    limit, attempt_timeout = scaled(limit), scaled(attempt_timeout)

    def loop() -> float:
        deadline = start + limit
        for _ in range(int(limit / 0.02) + 10):
            try:
                if _get_once(attempt_timeout) in {t for _a, t in REAL_SERVERS.values()}:
                    return time.monotonic() - start
            except OSError:
                pass
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        raise TimeoutError(f"no answer through the VIP within {limit}s")
    return in_netns(lab.ns("client"), loop, timeout=limit + 10)


def _ip_vs_conn() -> str:
    with open("/proc/thread-self/net/ip_vs_conn", encoding="ascii") as fh:
        return fh.read()


def synced_connections(lab: Lab, name: str) -> list[str]:
    """ESTABLISHED client connections in ``name``'s IPVS connection table."""
    client = "CB00711E"   # 203.0.113.30
    return [line for line in in_netns(lab.ns(name), _ip_vs_conn).splitlines()
            if client in line.upper() and "ESTABLISHED" in line]


def node_death(lab: Lab, name: str) -> None:
    """Links down: what a crashed director looks like to its neighbours."""
    ip_batch([["link", "set", dev, "down"] for dev in ("eth0", "eth1", "eth2")], lab.ns(name))


def node_revive(lab: Lab, name: str) -> None:
    """Undo node_death after wiping what the killed pulse left (a rebooted box has nothing)."""
    ip_batch([["addr", "del", f"{VIP}/24", "dev", "eth0"],
              ["addr", "del", f"{NAT_ROUTER}/24", "dev", "eth1"]], lab.ns(name), force=True)
    lab.run(name, ["ipvsadm", "-C"])
    (lab.rundir(name) / "pulse-managed.json").unlink(missing_ok=True)
    ip_batch([["link", "set", dev, "up"] for dev in ("eth0", "eth1", "eth2")], lab.ns(name))


def heartbeats_blocked(lab: Lab, name: str, blocked: bool) -> None:
    """Drop (or stop dropping) heartbeats arriving at ``name`` on every path."""
    verb = "-I" if blocked else "-D"
    lab.run(name, ["iptables", verb, "INPUT", "-p", "udp", "--dport", str(HB_PORT), "-j", "DROP"])


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


def build_lab(workdir: Path) -> FailoverLab:
    reap_stale_namespaces()
    lab = FailoverLab(workdir)
    try:
        lab.build()
        for role, (addr, text) in REAL_SERVERS.items():
            wait_until(lambda a=addr: in_netns(lab.ns("dir1"), _probe_rs, a), timeout=30,
                       interval=0.3, what=f"{role} to listen")
    except BaseException:
        lab.teardown()
        raise
    return lab


def _probe_rs(addr: str) -> bool:
    with socket.create_connection((addr, 80), timeout=scaled(1)):
        return True


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FailoverLab]:
    from tests.support.ipvs_runner import require_ipvs
    require_ipvs()
    lab = build_lab(tmp_path_factory.mktemp("failover"))
    try:
        yield lab
    finally:
        lab.teardown()


def test_startup_primary_active_backup_standby(lab: FailoverLab) -> None:
    # primary first: with no preemption, whichever node is up first keeps the service
    # (start both at once and a backup that hears nothing for deadtime takes it)
    lab.start_pulse("dir1")
    lab.wait_state("dir1", "active", timeout=60)
    lab.start_pulse("dir2")
    lab.wait_state("dir2", "standby", timeout=60)
    wait_until(lambda: client_get(lab), timeout=20, interval=0.2, what="VIP to answer")
    wait_until(lambda: (lab.status("dir2").get("redundancy") or {}).get("peer", {}).get("state")
               == "active", timeout=10, interval=0.2, what="backup to see the active primary")
    peer = lab.status("dir2")["redundancy"]["peer"]
    assert peer["role"] == "primary" and peer["serial_no"] == 1
    # hot standby: the backup checks the real servers too and keeps the primary's IPVS table,
    # only without the VIP and the NAT router address
    assert lab.status("dir2")["addresses"] == []
    wait_until(lambda: "-a -t" in ipvs_save(lab, "dir1") and ipvs_save(lab, "dir2") == ipvs_save(lab, "dir1"),
               timeout=20, interval=0.2, what="the standby's table to equal the primary's")
    assert ipvs_save(lab, "dir2").count("\n-a -t ") == len(REAL_SERVERS)
    wait_until(lambda: all(h["state"] == "up" for h in
                           lab.status("dir2")["health"]["web"].values()),
               timeout=20, interval=0.2, what="backup's warm health checks")
    hb = lab.status("dir2")["redundancy"]["heartbeat"]
    assert hb.get("received", 0) > 0 and not any(k.startswith("dropped_bad_mac") for k in hb)


def test_publish_reaches_backup_within_a_second(lab: FailoverLab) -> None:
    from piranha_web.lvscf.files import write_atomic
    t0 = time.time()
    write_atomic(lab.conf("dir1"), lvs_cf(2, lab.key_file, scheduler="wlc"))
    wait_until(lambda: lab.log_times("dir2", r"reloading .*-> 2"), timeout=10, interval=0.05,
               what="backup to reload serial_no 2")
    took = lab.log_times("dir2", r"reloading .*-> 2")[0] - t0
    print(f"\npublish on primary -> backup running serial_no 2: {took:.3f}s")
    assert lab.conf("dir2").read_text() == lab.conf("dir1").read_text()
    limit = scaled(1.5)   # a second plus log-timestamp granularity and UML slack
    print(f"limit {limit:.3f}s (time factor {TIME_FACTOR})")
    assert took < limit


def test_graceful_stop_hands_over_at_once(lab: FailoverLab) -> None:
    held = HeldConnection(lab.ns("client"), VIP, 80, timeout=scaled(3))
    try:
        assert held.request() in {t for _a, t in REAL_SERVERS.values()}
        # the master sync daemon flushes its buffer every 2 s: wait until the backup has it
        try:
            wait_until(lambda: synced_connections(lab, "dir2"), timeout=10, interval=0.2,
                       what="the held connection to reach the backup's IPVS table")
        except TimeoutError:
            pytest.fail("connection not synced; daemons: " + "; ".join(
                f"{n}: {lab.run(n, ['ipvsadm', '-L', '--daemon']).stdout.strip()!r} "
                f"{(lab.status(n).get('redundancy') or {}).get('syncd')} "
                f"conns {in_netns(lab.ns(n), _ip_vs_conn)!r}" for n in DIRECTORS))
        t0 = time.monotonic()
        lab.pulses["dir1"].signal(signal.SIGTERM)
        took = first_answer_after(lab, t0)
        print(f"\ngraceful stop -> first answer via backup: {took:.3f}s")
        lab.wait_state("dir2", "active", timeout=5)
        takeover = lab.log_times("dir2", "ACTIVE: peer stopping")
        assert takeover, lab.pulses["dir2"].log_text()
        assert takeover_ops(lab, "dir2") == ["add-address", "add-address"], lab.pulses["dir2"].log_text()
        limit = DEADTIME + scaled(1.0)
        print(f"limit deadtime + 1 s = {limit:.3f}s (time factor {TIME_FACTOR})")
        assert took < limit
        assert lab.pulses["dir1"].popen.wait(timeout=scaled(20)) == 0
        # the established connection lives on through the backup (IPVS sync daemon)
        assert held.request() in {t for _a, t in REAL_SERVERS.values()}
    finally:
        held.close()
    # the primary returns: no preemption, it stays standby
    lab.start_pulse("dir1")
    lab.wait_state("dir1", "standby", timeout=60)
    time.sleep(4 * DEADTIME)
    assert lab.fo_state("dir1") == "standby" and lab.fo_state("dir2") == "active"
    assert client_get(lab)


def test_sigkill_active_backup_takes_over_within_deadtime(lab: FailoverLab) -> None:
    # dir2 (backup node) is active now; kill it hard and make the node vanish
    t0 = time.monotonic()
    lab.pulses["dir2"].signal(signal.SIGKILL)
    node_death(lab, "dir2")
    took = first_answer_after(lab, t0)
    print(f"\nSIGKILL active -> first answer via the other director: {took:.3f}s")
    lab.wait_state("dir1", "active", timeout=5)
    assert takeover_ops(lab, "dir1") == ["add-address", "add-address"], lab.pulses["dir1"].log_text()
    limit = DEADTIME + scaled(1.5)
    print(f"limit deadtime + 1.5 s = {limit:.3f}s (time factor {TIME_FACTOR})")
    assert took < limit
    for _ in range(5):
        assert client_get(lab)
    lab.pulses["dir2"].popen.wait(timeout=scaled(10))
    # publish while dir2 is down: it must catch up when it returns
    from piranha_web.lvscf.files import write_atomic
    write_atomic(lab.conf("dir1"), lvs_cf(3, lab.key_file, scheduler="wlc"))
    wait_until(lambda: lab.status("dir1").get("serial_no") == 3, timeout=10, interval=0.1,
               what="primary to load serial_no 3")
    node_revive(lab, "dir2")
    lab.start_pulse("dir2")
    lab.wait_state("dir2", "standby", timeout=60)
    assert lab.fo_state("dir1") == "active"
    wait_until(lambda: lab.log_times("dir2", r"reloading .*-> 3"), timeout=10, interval=0.1,
               what="returning backup to catch up to serial_no 3")
    assert lab.conf("dir2").read_text() == lab.conf("dir1").read_text()


def test_split_brain_then_primary_wins(lab: FailoverLab) -> None:
    assert lab.fo_state("dir1") == "active" and lab.fo_state("dir2") == "standby"
    heartbeats_blocked(lab, "dir2", True)
    try:
        # the backup hears nothing: after deadtime it goes active too (documented split brain)
        lab.wait_state("dir2", "active", timeout=10)
        assert lab.fo_state("dir1") == "active"
    finally:
        heartbeats_blocked(lab, "dir2", False)
    # heartbeats back: deterministic resolution, the backup steps down, the primary re-announces
    lab.wait_state("dir2", "standby", timeout=10)
    assert lab.fo_state("dir1") == "active"
    assert lab.log_times("dir2", "peer active: backup steps down")
    assert lab.status("dir2")["addresses"] == []
    wait_until(lambda: client_get(lab), timeout=10, interval=0.2, what="VIP after healing")
