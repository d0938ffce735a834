"""Several active directors behind a router's ECMP route, built from network namespaces.

Layout (TEST-NET addresses, private AS numbers)::

    client 198.51.100.30 ── [wan] ── router 198.51.100.254 / 203.0.113.254 (BIRD, AS 64500,
                                     merge paths on, layer-4 multipath hash)
                                         │
                                       [lan] ── d1 203.0.113.1, d2 .2, d3 .3  (pulse + its BIRD, AS 64512)
                                         └──── rs1 203.0.113.21, rs2 .22, rs3 .23 (VIP on lo, reply
                                               straight to the client through the router)

The VIP 203.0.113.10 is announced by each director's BIRD; the router
installs one route with a nexthop per announcing director.  Direct routing,
mh: every director sends a flow to the same real server.  Each director
reads its own copy of lvs.cf; the pulses keep them in step over their
authenticated peer channel (the shared key ``cluster.key``), and the
console can run on d1.
"""
from __future__ import annotations

import json
import re
import secrets
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from .client import page_name
from .emulation import scaled
from .netns import in_netns
from .processes import NsProcess, wait_until
from .seedpulse import pulse_argv
from .topology import REALSERVER_SCRIPT, Lab

VIP = "203.0.113.10"
CLIENT = "198.51.100.30"
ROUTER_WAN, ROUTER_LAN = "198.51.100.254", "203.0.113.254"
DIRECTORS = {"d1": "203.0.113.1", "d2": "203.0.113.2", "d3": "203.0.113.3"}
REAL_SERVERS = {"rs1": "203.0.113.21", "rs2": "203.0.113.22", "rs3": "203.0.113.23"}
ROUTER_AS, CLUSTER_AS = 64500, 64512
_CONN = re.compile(r"^TCP\s+\S+\s+(\S+)\s+(\S+):(\d+)\s+\S+\s+(\S+):\d+", re.M)


def hold_time(native: int = 3) -> int:
    """The BGP hold time for this run: ``native`` seconds, stretched under a slow guest (keepalives
    are hold / 3 apart; an emulated BIRD starved of CPU would otherwise drop healthy sessions)."""
    return max(native, int(scaled(native)))


def bfd_interval_ms(native: int = 100) -> int:
    """The router's BFD intervals: the directors' 100 ms, stretched under a slow guest.

    A BFD session runs at its slower side's pace (each side sends no faster than the other
    requires, and declares the other dead after its multiplier times that), so the router's
    intervals set both sides' detection time: 5 x 100 ms = 0.5 s natively.  An emulated guest
    starved of CPU for longer than that drops every healthy session at once, and each drop
    restarts the BGP session it guards.
    """
    return max(native, int(scaled(native)))


def ecmp_lvs_cf(serial: int = 1, *, bfd: bool = False, drain: float = 2.0, check: float = 1.0,
                key: Path | None = None) -> str:
    """The lvs.cf every director starts from (``key``: the heartbeat key of the peer channel)."""
    hold = hold_time()
    directors = "".join(f"director {n} {{\n\taddress = {a}\n}}\n" for n, a in DIRECTORS.items())
    servers = "".join(f"\tserver {n} {{\n\t\taddress = {a}\n\t\tactive = 1\n\t\tweight = 1\n\t}}\n"
                      for n, a in REAL_SERVERS.items())
    return (f"serial_no = {serial}\nservice = lvs\nbackup_active = 0\ncluster = ecmp\n"
            + (f"heartbeat_key_file = {key}\n" if key else "") +
            f"bgp_local_as = {CLUSTER_AS}\nbgp_peer = {ROUTER_LAN} {ROUTER_AS}\nbgp_hold_time = {hold}\n"
            f"bgp_bfd = {int(bfd)}\nbgp_drain_seconds = {scaled(drain)}\nnetwork = direct\n{directors}"
            f"virtual www {{\n\tactive = 1\n\taddress = {VIP} lo\n\tport = 80\n\tscheduler = mh\n"
            f"\tprotocol = tcp\n\ttimeout = {scaled(check)}\n\treentry = {scaled(check)}\n{servers}}}\n")


def router_bird_conf(bfd: bool = False) -> str:
    """The router's BIRD: learns the VIP from every director, installs one multipath route."""
    hold = hold_time()
    peers = "".join(f"protocol bgp {n} from directors {{\n\tneighbor {a} as {CLUSTER_AS};\n}}\n"
                    for n, a in DIRECTORS.items())
    interval = bfd_interval_ms()
    bfd_proto = ('protocol bfd {\n\tdebug { states, events };\n\tinterface "*" {\n'
                 f"\t\tmin rx interval {interval} ms;\n\t\tmin tx interval {interval} ms;\n"
                 "\t\tmultiplier 5;\n\t};\n}\n") if bfd else ""
    # Session and BFD state changes with milliseconds in router-bird.log: when each was noticed.
    return (f"router id {ROUTER_LAN};\nlog stderr all;\n"
            "timeformat log \"%T.%3f\";\n"
            "protocol device { scan time 1; }\n"
            "protocol kernel {\n\tmerge paths on;\n\tipv4 { import none; export all; };\n}\n"
            f"{bfd_proto}template bgp directors {{\n\tlocal as {ROUTER_AS};\n\thold time {hold};\n"
            "\tconnect retry time 1;\n\terror wait time 1, 5;\n\tdebug { states, events };\n"
            + ("\tbfd on;\n" if bfd else "") + "\tipv4 { import all; export none; };\n}\n" + peers)


class EcmpLab(Lab):
    """client, router, d1-d3, rs1-rs3; pulse per director, BIRD on the router."""

    def __init__(self, workdir: Path, *, bfd: bool = False) -> None:
        super().__init__(workdir, segments=("wan", "lan"))
        self.bfd = bfd
        self.add_host("client", [("eth0", "wan", f"{CLIENT}/24")], gateway=ROUTER_WAN)
        self.add_host("router", [("eth0", "wan", f"{ROUTER_WAN}/24"), ("eth1", "lan", f"{ROUTER_LAN}/24")])
        for name, addr in DIRECTORS.items():
            self.add_host(name, [("eth0", "lan", f"{addr}/24")], gateway=ROUTER_LAN)
        for name, addr in REAL_SERVERS.items():
            self.add_host(name, [("eth0", "lan", f"{addr}/24")], gateway=ROUTER_LAN)
        self.cfs = {name: workdir / f"lvs-{name}.cf" for name in DIRECTORS}
        self.key = workdir / "cluster.key"
        self.pulses: dict[str, NsProcess] = {}
        self.servers: dict[str, NsProcess] = {}

    def build(self) -> None:
        """Wire it, set the router's and real servers' kernel settings, start BIRD and the web servers."""
        super().build()
        self.sysctl("router", "net.ipv4.ip_forward", "1")
        self.sysctl("router", "net.ipv4.fib_multipath_hash_policy", "1")
        self.sysctl("client", "net.core.txrehash", "0")
        for key in ("net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter"):
            self.sysctl("router", key, "0")
        for name in REAL_SERVERS:
            self.sysctl(name, "net.ipv4.conf.all.arp_ignore", "1")
            self.sysctl(name, "net.ipv4.conf.all.arp_announce", "2")
            self.run(name, ["ip", "addr", "add", f"{VIP}/32", "dev", "lo"])
            self.start_real_server(name)
        conf = self.workdir / "router-bird.conf"
        conf.write_text(router_bird_conf(bfd=self.bfd))
        self.start("router", "router-bird", ["/usr/sbin/bird", "-f", "-c", str(conf),
                                             "-s", str(self.workdir / "router-bird.ctl")])
        # Kernel events with their time, written as they happen: a withdrawal is timed from the
        # moment the director's switch port lost its carrier to the moment the router's kernel
        # route changed, without the start-up of an ``ip`` process per poll in what is measured.
        self.start("router", "router-routes", ["ip", "-tshort", "monitor", "route"])
        self.start("switch", "switch-links", ["ip", "-tshort", "monitor", "link"])
        self.key.write_text(secrets.token_hex(16) + "\n")
        self.key.chmod(0o600)
        for cf in self.cfs.values():
            cf.write_text(ecmp_lvs_cf(bfd=self.bfd, key=self.key))

    def router_bfd(self, on: bool) -> None:
        """Turn BFD on the router's sessions on or off (``configure``: the sessions stay up)."""
        self.bfd = on
        (self.workdir / "router-bird.conf").write_text(router_bird_conf(bfd=on))
        self.router_bird("configure")

    def router_bfd_up(self) -> int:
        """How many of the router's BFD sessions are Up."""
        return len(re.findall(r"\bUp\b", self.router_bird("show", "bfd", "sessions")))

    def start_real_server(self, name: str) -> None:
        """The real server's web server, on every address (its own for checks, the VIP for clients)."""
        self.servers[name] = self.start(name, f"{name}-http", [
            sys.executable, "-I", str(REALSERVER_SCRIPT), "--bind", "0.0.0.0", "--port", "80",
            "--text", f"real server {name}"])

    def stop_real_server(self, name: str) -> None:
        """Its web server stops: connections and checks are refused."""
        self.servers.pop(name).stop()

    def start_pulse(self, name: str) -> NsProcess:
        """pulse on director ``name`` (its own runtime directory, hence its own BIRD)."""
        rundir = self.rundir(name)
        rundir.mkdir(parents=True, exist_ok=True)
        self.pulses[name] = self.start(name, f"pulse-{name}", pulse_argv(self.cfs[name], rundir))
        return self.pulses[name]

    def drain(self, name: str) -> str:
        """``pulse --drain`` on director ``name``; its output once pulse says stopping is safe."""
        out = self.run(name, pulse_argv(self.cfs[name], self.rundir(name), "--drain"), timeout=scaled(60))
        return out.stdout.strip()

    def status(self, name: str) -> dict[str, Any]:
        """Director ``name``'s pulse status document ({} while there is none)."""
        try:
            return dict(json.loads((self.rundir(name) / "pulse-status.json").read_text()))
        except (OSError, ValueError):
            return {}

    def console(self) -> tuple[Any, str]:
        """The console on d1 (its lvs.cf, its pulse's runtime directory) and an admin's bearer token.

        The Flask app runs in this process, on a real SQLite file, answering through its test
        client: in the slow guest a gunicorn master, its worker and the password and token
        commands would each import the whole app again.  It imports d1's lvs.cf on its first start.
        """
        from piranha_web.app import create_app
        from piranha_web.services import tokens, users

        rundir = self.rundir("d1")
        app = create_app({"INSTANCE_PATH": str(self.workdir / "instance"), "LVS_CF": str(self.cfs["d1"]),
                          "SECRET_KEY": secrets.token_hex(16), "PULSE_PID_FILE": str(rundir / "pulse.pid"),
                          "PULSE_STATUS_FILE": str(rundir / "pulse-status.json"),
                          "PULSE_RUNTIME_SOCKET": str(rundir / "pulse-runtime.sock"),
                          "PULSE_WAIT_SECONDS": scaled(4)})
        with app.app_context():
            users.store_password("piranha", secrets.token_hex(16))
            _, token = tokens.create("piranha", "ecmp", actor="test")
        return app.test_client(), token

    def rundir(self, name: str) -> Path:
        """Director ``name``'s runtime directory."""
        return self.workdir / f"run-{name}"

    def kill_pulse(self, name: str) -> int:
        """kill -9 pulse on ``name``; returns its BIRD's pid (read first) for the caller to watch."""
        bird = bird_pid(self.rundir(name))
        proc = self.pulses.pop(name)
        proc.signal(signal.SIGKILL)
        proc.popen.wait(10)
        return bird

    def nexthops(self) -> list[str]:
        """Directors the router's route to the VIP points at now."""
        out = self.run("router", ["ip", "-4", "route", "show", f"{VIP}/32"]).stdout
        return sorted(re.findall(r"via (\S+)", out))

    def wait_nexthops(self, count: int, timeout: float = 60) -> float:
        """Seconds until the router's route has ``count`` nexthops."""
        t0 = time.monotonic()
        wait_until(lambda: len(self.nexthops()) == count, timeout=timeout, interval=0.05,
                   what=f"{count} nexthops (have {self.nexthops()})")
        return time.monotonic() - t0

    def cut_link(self, name: str) -> float:
        """Take director ``name``'s link down; the wall-clock time its switch port lost the carrier."""
        before = time.time()
        self.run(name, ["ip", "link", "set", "eth0", "down"])
        port = f" {name}-eth0@"
        log = self.workdir / "logs" / "switch-links.log"
        found = wait_until(lambda: [t for t, text in monitor_events(log)
                                    if t >= before and port in text and "NO-CARRIER" in text],
                           timeout=10, interval=0.05, what=f"{name}'s switch port without carrier")
        return float(found[0])  # type: ignore[index]

    def withdrawn_at(self, address: str, after: float) -> float:
        """The wall-clock time the router's kernel route to the VIP first lost ``address`` after ``after``."""
        for at, text in monitor_events(self.workdir / "logs" / "router-routes.log"):
            if at >= after and text.startswith(f"{VIP} ") and f"via {address} " not in text \
                    and " table " not in text:
                return at
        raise LookupError(f"the router's route to {VIP} never lost {address} after {after}")

    def weight_set_at(self, name: str, address: str, weight: int, after: float) -> float:
        """The wall-clock time director ``name``'s pulse logged setting ``address`` to ``weight``."""
        done = re.compile(rf"^(\S+ \S+),(\d+) .* set-dest \S+ {re.escape(VIP)}:\d+ -> "
                          rf"{re.escape(address)}:\d+ \S+ weight {weight}$")
        log = self.workdir / "logs" / f"pulse-{name}.log"
        for line in log.read_text(errors="replace").splitlines():
            found = done.match(line)
            if found:
                at = time.mktime(time.strptime(found.group(1), "%Y-%m-%d %H:%M:%S"))
                at += int(found.group(2)) / 1e3
                if at >= after:
                    return at
        raise LookupError(f"{name}'s pulse never set {address} to weight {weight} after {after}")

    def router_log(self, after: float, address: str) -> list[str]:
        """The router's BIRD log lines about ``address``'s sessions from ``after`` on (retries left out)."""
        since = time.strftime("%H:%M:%S", time.localtime(after))
        name = next(n for n, a in DIRECTORS.items() if a == address)
        lines = (self.workdir / "logs" / "router-bird.log").read_text(errors="replace").splitlines()
        return [line for line in lines if line[:8] >= since and (f" {name}: " in line or address in line)
                and "onnect" not in line]

    def router_bird(self, *command: str) -> str:
        """Output of a ``birdc`` command on the router."""
        return str(self.run("router", ["/usr/sbin/birdc", "-s", str(self.workdir / "router-bird.ctl"),
                                       *command]).stdout)

    def weight(self, name: str, address: str) -> int | None:
        """The weight director ``name`` gives real server ``address`` in the kernel (None: absent)."""
        out = self.run(name, ["ipvsadm", "-Ln"]).stdout
        found = re.search(rf"-> {re.escape(address)}:\d+\s+\S+\s+(\d+)", out)
        return int(found.group(1)) if found else None

    def connections(self, name: str) -> dict[int, str]:
        """{client port: real server address} of director ``name``'s IPVS connections from the client."""
        out = self.run(name, ["ipvsadm", "-Lnc"]).stdout
        return {int(port): dest for _state, src, port, dest in _CONN.findall(out) if src == CLIENT}


_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\dT[\d:.]+)\] ")


def monitor_events(path: Path) -> list[tuple[float, str]]:
    """(wall-clock time, text) of each event an ``ip -tshort monitor`` wrote to ``path``."""
    from datetime import datetime
    events: list[tuple[float, str]] = []
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return events
    for line in lines:
        stamp = _STAMP.match(line)
        if stamp:
            events.append((datetime.fromisoformat(stamp.group(1)).timestamp(), line[stamp.end():] + " "))
        elif events:                                     # a multipath route's nexthop lines
            events[-1] = (events[-1][0], events[-1][1] + line.strip() + " ")
    return events


def bird_pid(rundir: Path) -> int:
    """The pid of the BIRD pulse runs (from pulse's status file)."""
    doc = json.loads((rundir / "pulse-status.json").read_text())
    return int(doc["cluster"]["bird"]["pid"])


def fetch_ports(netns: str, ports: list[int], *, timeout: float = scaled(5)) -> dict[int, str | None]:
    """One GET per client source port (bound explicitly, so a flow can be repeated); page name or None."""
    def run() -> dict[int, str | None]:
        out: dict[int, str | None] = {}
        for port in ports:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.settimeout(timeout)
            try:
                sock.bind(("", port))
                sock.connect((VIP, 80))
                sock.sendall(f"GET / HTTP/1.0\r\nHost: {VIP}\r\n\r\n".encode())
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
                out[port] = page_name(data.partition(b"\r\n\r\n")[2].decode("utf-8", "replace"))
            except OSError:
                out[port] = None
            finally:
                sock.close()
        return out
    return in_netns(netns, run, timeout=len(ports) * (timeout + 1) + 10)


class HeldTraffic:
    """``count`` keep-alive connections from the client, each sending a request every ``interval``.

    A connection is broken when a request fails or is answered by another real
    server than before (the flow moved to a real server that does not know it).
    """

    def __init__(self, netns: str, count: int = 50, interval: float = scaled(0.1)) -> None:
        from .client import HeldConnection
        self.conns = [HeldConnection(netns, VIP, 80, timeout=scaled(5)) for _ in range(count)]
        self.interval = interval
        self.server: dict[int, str] = {}
        self.broken: dict[int, str] = {}
        self.requests = 0
        self._stop = False
        import threading
        self.thread = threading.Thread(target=self._run, name="held-traffic", daemon=True)

    def _run(self) -> None:
        while not self._stop:
            started = time.monotonic()
            for i, conn in enumerate(self.conns):
                if i in self.broken:
                    continue
                try:
                    name = conn.request()
                except (OSError, ConnectionError, TimeoutError) as exc:
                    self.broken[i] = f"{type(exc).__name__}: {exc}"
                    continue
                self.requests += 1
                if self.server.setdefault(i, name) != name:
                    self.broken[i] = f"moved from {self.server[i]} to {name}"
            time.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    def __enter__(self) -> "HeldTraffic":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self.thread.join(scaled(30))
        for conn in self.conns:
            conn.close()
