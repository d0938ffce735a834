"""pulse and keepalived side by side: same configuration, same real servers, same IPVS guest.

    uptime; scripts/ipvs-kernel --timeout 14400 --mem 2G -- \\
        .venv/bin/python benchmarks/peer_keepalived.py [--sessions 3]; uptime

Needs root and an IPVS kernel (the guest), gcc, OpenSSL (libssl-dev, openssl) and
keepalived (Debian package).
Both daemons get the same ``--services`` x ``--dests`` configuration: pulse
reads the lvs.cf, keepalived what ``piranha-config export --format keepalived``
makes of it.  The real servers are one small C program (compiled here with
gcc) accepting on ``--dests`` TEST-NET addresses in their own namespace; the
director is another namespace.  Each session runs both daemons, one after
the other, the first one alternating between sessions, so a busy host hurts
both alike.  Rows (min / median / max over all sessions, and the ratio of the
medians pulse / keepalived):

1. start -> every service and destination in the kernel (check interval 1 s);
2. SIGHUP -> one changed weight in the kernel, with every check running at 1 s
   (``--reloads`` per session, at random moments);
3. daemon CPU while idle: one full check interval (``--idle-interval``, 30 s)
   of the same table with nothing changing, as % of one CPU;
4. checks per CPU-second with every check at 1 s (checks counted by the
   director namespace's ``Tcp: ActiveOpens``, CPU of the daemon's processes),
   for TCP connect checks (keepalived ``TCP_CHECK``), HTTP GET (``check =
   http``; ``HTTP_GET``) and HTTPS GET (``check = https``; ``SSL_GET``)
   against the same 10,000 real servers; the real servers are the same C
   program in a matching mode (plain HTTP answer, or OpenSSL with a P-256
   self-signed certificate and no session tickets), and its CPU share is
   printed beside each sample.  Next to it the C probe's connects per
   CPU-second, the kernel's own price for a TCP check;
5. failover, link down + SIGKILL of the active daemon -> first answered
   request through the VIP, in the two-director lab of tests/ipvs/test_failover
   (pulse heartbeat vs keepalived VRRP), at each one's tightest setting and
   with defaults.

Addresses: TEST-NET only, inside namespaces the benchmark creates.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from piranha_web.convert.keepalived import to_keepalived  # noqa: E402
from piranha_web.lvscf import load  # noqa: E402
from piranha_web.lvscf.files import write_atomic  # noqa: E402
from tests.support.ipvs_runner import RUN_HINT, ipvs_available  # noqa: E402
from tests.support.netns import in_netns, ip_batch, ns_run  # noqa: E402
from tests.support.processes import NsProcess, wait_until  # noqa: E402
from tests.support.topology import Lab, reap_stale_namespaces  # noqa: E402

C_DIR = Path(__file__).resolve().parent / "peer_c"
DIRECTOR_IP = "192.0.2.1"
RS_GATEWAY = "198.51.100.254"
PULSE = [sys.executable, "-m", "piranha_web.pulse.main"]
KEEPALIVED = shutil.which("keepalived") or "/usr/sbin/keepalived"
TICK = os.sysconf("SC_CLK_TCK")
DAEMONS = ("pulse", "keepalived")
BASELINE = "pulse-base"              # pulse from another checkout (--baseline), beside this one


# ---- configuration ----------------------------------------------------------------------------
def rs_address(d: int) -> str:
    """Real server ``d`` (0-based)."""
    return f"198.51.100.{d + 1}"


def scale_config(services: int, dests: int, interval: float, weights: dict[tuple[int, int], int],
                 check: str = "tcp") -> str:
    """lvs.cf: ``services`` virtual servers on 250 VIPs, ``dests`` real servers each.

    250 VIPs (203.0.113.1-250), one port per 250 services (8000, 8001, ...),
    each virtual on its own ``eth0:N`` label; the real servers listen on the
    virtual's port (direct routing: keepalived checks that port whatever the
    real server's says; not 80, where pulse's default check is an HTTP GET).
    ``timeout`` (pulse's check interval and bound, keepalived's delay_loop
    and connect_timeout) is ``interval``.  ``weights``
    overrides single weights: {(service, dest): weight}.  ``check``: tcp
    (pulse's default on these ports), http or https (``check =``, exported
    as keepalived's HTTP_GET or SSL_GET of ``/``).
    """
    out = ["serial_no = 1", f"primary = {DIRECTOR_IP}", "service = lvs", "network = direct"]
    for s in range(services):
        out.append(f"virtual vs{s} {{\n    active = 1\n    address = 203.0.113.{s % 250 + 1} eth0:{s}\n"
                   f"    port = {8000 + s // 250}\n    scheduler = wlc\n    protocol = tcp\n"
                   f"    timeout = {interval:g}\n    reentry = {interval:g}"
                   + ("" if check == "tcp" else f"\n    check = {check}"))
        for d in range(dests):
            out.append(f"    server rs{d} {{\n        address = {rs_address(d)}\n        active = 1\n"
                       f"        weight = {weights.get((s, d), 1)}\n    }}")
        out.append("}")
    return "\n".join(out) + "\n"


def listen_specs(services: int, dests: int) -> list[str]:
    """Every ADDR:PORT a real server listens on."""
    return [f"{rs_address(d)}:{8000 + p}" for d in range(dests) for p in range((services + 249) // 250)]


def export_keepalived(lvs_cf: Path, out: Path, role: str = "primary") -> None:
    """``piranha-config export --format keepalived`` of ``lvs_cf``."""
    cli = Path(sys.executable).with_name("piranha-config")
    argv = [str(cli)] if cli.exists() else [sys.executable, "-m", "piranha_web.cli.config"]
    subprocess.run(argv + ["export", "--format", "keepalived", "--role", role, "--from", str(lvs_cf),
                           str(out)], check=True, capture_output=True, text=True, timeout=600,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})


def compile_c(name: str, workdir: Path, *libs: str) -> Path:
    """gcc -O2 benchmarks/peer_c/NAME.c into ``workdir`` (never committed as a binary)."""
    exe = workdir / name
    subprocess.run(["gcc", "-O2", "-Wall", "-o", str(exe), str(C_DIR / f"{name}.c"), *libs], check=True,
                   timeout=120)
    return exe


def make_certificate(workdir: Path) -> tuple[Path, Path]:
    """A throwaway self-signed P-256 certificate and key for the HTTPS real servers."""
    cert, key = workdir / "rs-cert.pem", workdir / "rs-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=rs.test"],
                   check=True, capture_output=True, timeout=120)
    return cert, key


# ---- kernel and process observation -----------------------------------------------------------
def _read(path: str) -> str:
    with open(path, encoding="ascii", errors="replace") as fh:
        return fh.read()


def ipvs_counts(netns: str) -> tuple[int, int]:
    """(services, destinations) in ``netns``'s IPVS table (/proc/net/ip_vs)."""
    text = in_netns(netns, _read, "/proc/thread-self/net/ip_vs")
    services = dests = 0
    for line in text.splitlines():
        if line.startswith(("TCP ", "UDP ", "FWM ")):
            services += 1
        elif line.startswith("  ->") and not line.startswith("  -> RemoteAddress"):
            dests += 1
    return services, dests


def active_opens(netns: str) -> int:
    """TCP connects started in ``netns`` (``Tcp: ActiveOpens``): one per health check."""
    lines = [ln.split() for ln in in_netns(netns, _read, "/proc/thread-self/net/snmp").splitlines()
             if ln.startswith("Tcp:")]
    return int(lines[1][lines[0].index("ActiveOpens")])


def tree_pids(root: int) -> list[int]:
    """``root`` and every descendant (keepalived runs a parent, a VRRP and a checker process)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(_read(f"/proc/{entry}/stat").rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by ``root`` and its descendants."""
    return sum(proc_cpu(pid) for pid in tree_pids(root))


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of one process (0 once it is gone)."""
    try:
        fields = _read(f"/proc/{pid}/stat").rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_name(pid: int) -> str:
    """A process's command line, shortened: which of keepalived's processes is which."""
    try:
        argv = _read(f"/proc/{pid}/cmdline").split("\0")
    except OSError:
        return "gone"
    return " ".join(Path(argv[0]).name.split()[:1] + argv[1:3])[:40]


def log_summary(path: Path) -> str:
    """What a keepalived log says about its checks: activations, first successes, late timers."""
    text = path.read_text(errors="replace")
    late = re.findall(r"thread timer expired ([0-9.]+) seconds", text)
    return (f"{text.count('Activating healthchecker')} 'Activating healthchecker', "
            f"{len(re.findall(r'connection to .* success', text))} first successes, "
            f"{len(re.findall(r'(?i)fail|timeout', text))} failure lines, "
            f"{len(late)} late-timer warnings (worst {max(map(float, late), default=0):.1f} s)")


def loadavg() -> str:
    """The guest's load average (the host's is printed by the wrapper command line)."""
    return " ".join(_read("/proc/loadavg").split()[:3])


# ---- the scale lab ----------------------------------------------------------------------------
class ScaleLab(Lab):
    """director (eth0 192.0.2.1 + the VIPs, eth1 198.51.100.254) -- rs (198.51.100.1..N)."""

    def __init__(self, workdir: Path, dests: int) -> None:
        super().__init__(workdir, segments=("pub", "priv"))
        self.dests = dests
        self.add_host("dir", [("eth0", "pub", f"{DIRECTOR_IP}/24"), ("eth1", "priv", f"{RS_GATEWAY}/24")])
        self.add_host("rs", [("eth0", "priv", f"{rs_address(0)}/24")])

    def build(self) -> None:
        """Namespaces, links, the real servers' extra addresses."""
        super().build()
        ip_batch([["addr", "add", f"{rs_address(d)}/24", "dev", "eth0"] for d in range(1, self.dests)],
                 self.ns("rs"))

    def clean_director(self) -> None:
        """What a daemon that did not clean up left: IPVS table and VIPs."""
        self.run("dir", ["ipvsadm", "-C"])
        ip_batch([["addr", "flush", "dev", "eth0"], ["addr", "add", f"{DIRECTOR_IP}/24", "dev", "eth0"]],
                 self.ns("dir"))


# ---- the two daemons --------------------------------------------------------------------------
@dataclass
class Daemon:
    """One daemon under test in one namespace: how to start, reload and stop it."""

    kind: str
    lab: Lab
    role: str
    workdir: Path
    config: Path | None = None       # default: workdir/lvs.cf or workdir/keepalived.conf
    proc: NsProcess | None = None
    generation: int = 0
    opens_at_start: int = 0          # the director's ActiveOpens just before the last start
    label: str = ""                  # in the log's name (e.g. the check type)
    extra: tuple[str, ...] = ()      # more pulse options (--pulse-args)
    profile: bool = False            # pulse under stack_sampler.py (--profile)
    tree: Path = ROOT                # the checkout pulse runs from (--baseline: another one)

    @property
    def pulse(self) -> bool:
        """pulse (of this checkout or the baseline's), not keepalived."""
        return self.kind.startswith("pulse")

    def config_path(self) -> Path:
        return self.config or self.workdir / ("lvs.cf" if self.pulse else "keepalived.conf")

    def start(self) -> NsProcess:
        """Start in the foreground, logging to workdir/logs."""
        self.generation += 1
        run = self.workdir / "run"
        run.mkdir(parents=True, exist_ok=True)
        name = f"{self.kind}-{self.role}{self.label}-{self.generation}"
        if self.pulse:
            argv = [*(self.sampled() if self.profile else PULSE), "-n", "-c", str(self.config_path()),
                    "--runtime-dir", str(run), "--backend", "ipvs", "--drain-seconds", "0", *self.extra]
        else:
            argv = [KEEPALIVED, "-n", "-l", "-f", str(self.config_path()), "-p", str(run / "k.pid"),
                    "-r", str(run / "vrrp.pid"), "-c", str(run / "checkers.pid")]
        self.proc = self.lab.start(self.role, name, argv, env={**os.environ, "PYTHONPATH": str(self.tree)},
                                   cwd=self.tree)
        return self.proc

    def sampled(self) -> list[str]:
        """pulse under stack_sampler.py: its stacks in the lab's logs, named like the next log."""
        out = self.lab.workdir / "logs" / f"{self.kind}-{self.role}{self.label}-{self.generation}.stacks"
        return [sys.executable, str(Path(__file__).with_name("stack_sampler.py")), str(out), *PULSE[1:]]

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def reload(self) -> None:
        """SIGHUP: both re-read their configuration file."""
        os.kill(self.pid, signal.SIGHUP)

    def signal_group(self, signum: int) -> None:
        """Signal the whole process group (keepalived's children too)."""
        os.killpg(self.pid, signum)

    def kill(self) -> None:
        """SIGKILL the whole process group and reap the daemon."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            self.signal_group(signal.SIGKILL)
        self.proc.popen.wait(timeout=30)

    def stop(self, timeout: float = 300) -> None:
        """SIGTERM (both remove their table), then make sure nothing is left."""
        if self.proc is not None:
            self.proc.stop(timeout=timeout)
            self.proc = None


# ---- statistics and output --------------------------------------------------------------------
@dataclass
class Results:
    """Every sample by (row, daemon)."""

    samples: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)

    def add(self, row: str, daemon: str, value: float) -> None:
        self.samples.setdefault((row, daemon), []).append(value)
        print(f"    {row:<28} {daemon:<10} {value:10.3f}   (guest load {loadavg()})", flush=True)

    def timed_out(self, row: str, daemon: str, limit: float, why: object) -> None:
        """A measurement that did not finish: counted as ``limit`` (a lower bound), said so."""
        print(f"    {row:<28} {daemon:<10} TIMED OUT ({why}); counted as {limit}", flush=True)
        self.extra.append(f"{row} {daemon}: timed out after {limit}s (counted as {limit}, a lower bound)")
        if limit == limit:                       # NaN: nothing to count
            self.samples.setdefault((row, daemon), []).append(limit)

    def get(self, row: str, daemon: str) -> list[float]:
        return self.samples.get((row, daemon), [])


ROWS = [  # key, label, unit, better ("low" or "high"), target
    ("start", "1 start -> 1000x10 table", "s", "low", "ratio <= 1.0"),
    ("reload", "2 SIGHUP -> weight in kernel", "s", "low", "ratio <= 1.0, pulse < 0.5 s"),
    ("idle_cpu", "3 idle CPU", "% CPU", "low", "ratio <= 1.0"),
    ("checks_per_cpu", "4a TCP checks per CPU-second", "/CPU-s", "high", "ratio >= 2.0"),
    ("checks_per_s", "  TCP checks per second (info)", "/s", "high", "-"),
    ("checks_per_cpu_http", "4b HTTP checks per CPU-second", "/CPU-s", "high", "ratio >= 1.0"),
    ("checks_per_s_http", "  HTTP checks per second (info)", "/s", "high", "-"),
    ("checks_per_cpu_https", "4c HTTPS checks per CPU-second", "/CPU-s", "high", "(reported)"),
    ("checks_per_s_https", "  HTTPS checks per second (info)", "/s", "high", "-"),
    ("failover_tight", "5a failover, tightest", "s", "low", "ratio <= 1.0"),
    ("failover_default", "5b failover, defaults", "s", "low", "ratio <= 1.0"),
]


def summary(values: list[float]) -> str:
    if not values:
        return "-"
    return (f"{statistics.median(values):.3g} ({min(values):.3g}-{max(values):.3g}) n={len(values)}")


def print_table(res: Results, title: str) -> None:
    """The results as a markdown table: median (min-max) n, ratio of the medians."""
    print(f"\n{title}\n")
    print("| row | unit | pulse | keepalived | pulse/keepalived | target |")
    print("|---|---|---|---|---|---|")
    for key, label, unit, _better, target in ROWS:
        p, k = res.get(key, "pulse"), res.get(key, "keepalived")
        ratio = (f"{statistics.median(p) / statistics.median(k):.2f}"
                 if p and k and statistics.median(k) else "-")
        print(f"| {label} | {unit} | {summary(p)} | {summary(k)} | {ratio} | {target} |")
    for key, label, unit, _better, _target in ROWS:
        base, p = res.get(key, BASELINE), res.get(key, "pulse")
        if base:
            ratio = f", this / baseline {statistics.median(p) / statistics.median(base):.2f}" if p else ""
            print(f"{label.strip()}: baseline pulse {summary(base)} {unit}{ratio}")
    for line in res.extra:
        print(line)
    print(flush=True)


# ---- rows 1-4 ---------------------------------------------------------------------------------
def wait_table(netns: str, services: int, dests: int, t0: float, limit: float,
               alive: Callable[[], bool], progress: float = 0.0,
               cpu: Callable[[], float] | None = None) -> float:
    """Seconds from ``t0`` until ``netns`` holds every service and destination.

    Polled more coarsely as time passes (2 % of the elapsed time, at least
    0.05 s) so that reading a 10,000-line /proc/net/ip_vs does not itself
    become the load.  ``progress`` > 0: print the counts (and the daemon's
    ``cpu`` seconds) about that often, the start's timeline.
    """
    shown = t0
    for _ in range(100000):
        now = time.monotonic()
        if now - t0 > limit:
            raise TimeoutError(f"table not complete after {limit}s: {ipvs_counts(netns)}")
        if not alive():
            raise RuntimeError("daemon died while building its table")
        counts = ipvs_counts(netns)
        if progress and now - shown >= progress:
            shown = now
            print(f"      +{now - t0:6.1f}s: {counts[0]} services, {counts[1]} destinations"
                  + (f", daemon CPU {cpu():.1f}s" if cpu is not None else ""), flush=True)
        if counts == (services, services * dests):
            return now - t0
        time.sleep(max(0.05, 0.02 * (now - t0)))
    raise TimeoutError("wait_table: too many polls")


class WeightProbe:
    """Reads one destination's weight with a single netlink dump request (in the director's netns)."""

    def __init__(self, netns: str) -> None:
        from piranha_web.pulse.kernel.ipvs import NetlinkIpvs
        self.ipvs = in_netns(netns, NetlinkIpvs)   # a socket keeps the namespace it was made in

    def weight(self, vip: str, port: int, rs: str, rs_port: int) -> int | None:
        from piranha_web.pulse.reconcile import DestKey, ServiceKey
        dest = self.ipvs.dump_dests(ServiceKey.tcp(vip, port)).get(DestKey(rs, rs_port))
        return dest.weight if dest is not None else None

    def close(self) -> None:
        self.ipvs.close()


@dataclass
class ScaleRun:
    """Everything one scale session needs."""

    args: argparse.Namespace
    lab: ScaleLab
    workdir: Path
    res: Results
    servers: RealServers
    changes: list[tuple[int, int]] = field(default_factory=list)

    def write_config(self, daemon: Daemon, interval: float, nchanges: int, check: str = "tcp") -> None:
        """The daemon's configuration file: base + the first ``nchanges`` weight changes."""
        weights = {pos: 5 for pos in self.changes[:nchanges]}
        cache = self.workdir / "configs"
        cache.mkdir(exist_ok=True)
        lvs = cache / f"lvs-{interval:g}-{nchanges}-{check}.cf"
        if not lvs.exists():
            text = scale_config(self.args.services, self.args.dests, interval, weights, check)
            load(text)                                        # must be valid for both daemons
            lvs.write_text(text)
        src = lvs
        if daemon.kind == "keepalived":
            src = cache / f"keepalived-{interval:g}-{nchanges}-{check}.conf"
            if not src.exists() and nchanges == 0 and check == "tcp":
                export_keepalived(lvs, src)
            elif not src.exists():
                # the same function the command runs, without a Python start per variant
                # (a minute each in the guest when the host is busy)
                src.write_text(to_keepalived(load(lvs.read_text()), "primary"))
        daemon.config_path().parent.mkdir(parents=True, exist_ok=True)
        write_atomic(daemon.config_path(), src.read_text())

    def prepare(self) -> None:
        """Export every configuration up front so no export runs while a daemon is measured."""
        rng = random.Random(19)
        s, d = self.args.services, self.args.dests
        self.changes = rng.sample([(i, j) for i in range(s) for j in range(d)], self.args.reloads)
        scratch = Daemon("keepalived", self.lab, "dir", self.workdir / "scratch")
        scratch.workdir.mkdir(parents=True, exist_ok=True)
        variants = [(1.0, n, "tcp") for n in range(self.args.reloads + 1)]
        variants += [(self.args.idle_interval, 0, "tcp")]
        variants += [(1.0, 0, check) for check in self.args.checks if check != "tcp"]
        for interval, count, check in variants:
            self.write_config(scratch, interval, count, check)

    @contextmanager
    def running(self, kind: str, interval: float, check: str = "tcp") -> Iterator[tuple[Daemon, float]]:
        """``kind`` started (at the yielded monotonic time) on a clean director; stopped and cleaned after."""
        daemon = Daemon(kind, self.lab, "dir", self.workdir / kind, label=f"-{check}-{interval:g}s",
                        extra=tuple(self.args.pulse_args.split()), profile=self.args.profile,
                        tree=self.args.baseline if kind == BASELINE else ROOT)
        self.write_config(daemon, interval, 0, check)
        self.lab.clean_director()
        daemon.opens_at_start = active_opens(self.lab.ns("dir"))
        t0 = time.monotonic()
        daemon.start()
        try:
            yield daemon, t0
        finally:
            daemon.stop()
            self.lab.clean_director()

    def busy_session(self, kind: str) -> None:
        """Rows 1, 4a and 2 (those of ``--rows``): start at 1 s checks, measure the check rate, reload."""
        a = self.args
        with self.running(kind, 1.0) as (daemon, t0):
            try:
                took = wait_table(self.lab.ns("dir"), a.services, a.dests, t0, a.limit, daemon.alive,
                                  a.progress, lambda: tree_cpu(daemon.pid))
                print(f"    {kind}: table complete, daemon CPU {tree_cpu(daemon.pid):.1f}s", flush=True)
            except TimeoutError as exc:
                if "1" in a.rows:
                    self.res.timed_out("start", kind, a.limit, exc)
                if "4" in a.rows and "tcp" in a.checks and daemon.alive():
                    print(f"    {kind} tcp: {exc}; measuring checks anyway", flush=True)
                    self.measure_checks(daemon)
                return
            if "1" in a.rows:
                self.res.add("start", kind, took)
            if "4" in a.rows and "tcp" in a.checks:
                self.measure_checks(daemon)
            if "2" in a.rows:
                time.sleep(a.settle)
                self.reloads(daemon)

    def wait_steady(self, daemon: Daemon, check: str) -> None:
        """Until ``daemon`` is really checking: every server checked once, then a settled rate.

        A daemon's first round is not its steady state: keepalived logs one
        line per checker it activates and one per first success, pulse adds
        each server to the kernel after its first success, and until both
        are done the checks per CPU-second say little (under qemu TCG
        keepalived's checker can make no connect for tens of seconds after
        its table is complete).  Settled: ``services x dests`` connects since the
        daemon started, and two successive ``--step`` samples of checks per
        CPU-second within ``--tolerance`` of each other.
        """
        a, ns = self.args, self.lab.ns("dir")
        need, t_start = a.services * a.dests, time.monotonic()
        c0, cpu0, w0, prev = active_opens(ns), tree_cpu(daemon.pid), time.monotonic(), None
        while daemon.alive():
            time.sleep(a.step)
            c1, cpu1, w1 = active_opens(ns), tree_cpu(daemon.pid), time.monotonic()
            rate, since_start = (c1 - c0) / max(cpu1 - cpu0, 1e-9), c1 - daemon.opens_at_start
            print(f"      {daemon.kind} {check} +{w1 - t_start:5.0f}s: "
                  f"{(c1 - c0) / (w1 - w0):7.1f} connects/s, "
                  f"{100 * (cpu1 - cpu0) / (w1 - w0):3.0f}% CPU, {rate:7.1f} /CPU-s, "
                  f"{since_start} since start", flush=True)
            if (since_start >= need and prev and rate > 0
                    and abs(rate - prev) <= a.tolerance * max(rate, prev)):
                return
            if time.monotonic() - t_start > a.limit:
                print(f"    {daemon.kind} {check}: rate not settled after {a.limit}s; measuring anyway",
                      flush=True)
                self.res.extra.append(f"{check} {daemon.kind}: rate not settled after {a.limit}s")
                return
            c0, cpu0, w0, prev = c1, cpu1, w1, rate

    def measure_checks(self, daemon: Daemon, check: str = "tcp") -> None:
        """Row 4: checks (connects from the director) per CPU-second of the daemon, in steady state."""
        self.wait_steady(daemon, check)
        ns = self.lab.ns("dir")
        pids = tree_pids(daemon.pid)
        per0 = {pid: proc_cpu(pid) for pid in pids}
        c0, cpu0, t0, rs0 = active_opens(ns), tree_cpu(daemon.pid), time.monotonic(), self.servers.cpu()
        time.sleep(self.args.window)
        c1, cpu1, t1, rs1 = active_opens(ns), tree_cpu(daemon.pid), time.monotonic(), self.servers.cpu()
        per = ", ".join(f"{proc_name(pid)}[{pid}] {100 * (proc_cpu(pid) - per0[pid]) / (t1 - t0):.0f}%"
                        for pid in pids)
        suffix = "" if check == "tcp" else f"_{check}"
        print(f"    {check} checks over {t1 - t0:.0f} s: {c1 - c0} connects; daemon "
              f"{100 * (cpu1 - cpu0) / (t1 - t0):.0f}% CPU ({per}), real servers "
              f"{100 * (rs1 - rs0) / (t1 - t0):.0f}% CPU, table {ipvs_counts(ns)}",
              flush=True)
        self.res.add(f"checks_per_cpu{suffix}", daemon.kind, (c1 - c0) / max(cpu1 - cpu0, 1e-9))
        self.res.add(f"checks_per_s{suffix}", daemon.kind, (c1 - c0) / (t1 - t0))
        if daemon.kind == "keepalived" and daemon.proc is not None:
            print(f"    keepalived log: {log_summary(daemon.proc.log_path)}", flush=True)

    def check_session(self, kind: str, check: str) -> None:
        """Row 4 for an HTTP or HTTPS check: start on that check, wait for the table, measure.

        A table still incomplete after ``--limit`` is reported and measured
        anyway: failing checks are checks too, but the log says so.
        """
        a = self.args
        self.servers.serve(check)
        with self.running(kind, 1.0, check) as (daemon, t0):
            try:
                wait_table(self.lab.ns("dir"), a.services, a.dests, t0, a.limit, daemon.alive)
            except TimeoutError as exc:
                print(f"    {kind} {check}: {exc}; measuring anyway", flush=True)
                self.res.extra.append(f"{check} {kind}: table incomplete after {a.limit}s")
            if not daemon.alive():
                self.res.timed_out(f"checks_per_cpu_{check}", kind, float("nan"), "daemon died")
                return
            self.measure_checks(daemon, check)

    def reloads(self, daemon: Daemon) -> None:
        """Row 2: one weight change per SIGHUP, at a random moment, until the kernel shows it."""
        probe = WeightProbe(self.lab.ns("dir"))
        rng = random.Random()
        try:
            for n, (s, d) in enumerate(self.changes, start=1):
                time.sleep(rng.uniform(0.5, 1.5))
                self.write_config(daemon, 1.0, n)
                vip, port, rs = f"203.0.113.{s % 250 + 1}", 8000 + s // 250, rs_address(d)
                t0 = time.monotonic()
                daemon.reload()
                for _ in range(int(self.args.limit / 0.002)):
                    if probe.weight(vip, port, rs, port) == 5:
                        self.res.add("reload", daemon.kind, time.monotonic() - t0)
                        break
                    if time.monotonic() - t0 > self.args.limit:
                        self.res.timed_out("reload", daemon.kind, self.args.limit, "weight not in the kernel")
                        return
                    time.sleep(0.002)
        finally:
            probe.close()

    def idle_session(self, kind: str) -> None:
        """Row 3: CPU over one full check interval once the table is complete and settled."""
        a = self.args
        with self.running(kind, a.idle_interval) as (daemon, t0):
            try:
                wait_table(self.lab.ns("dir"), a.services, a.dests, t0, a.limit, daemon.alive)
            except TimeoutError as exc:
                self.res.timed_out("idle_cpu", kind, float("nan"), exc)
                return
            time.sleep(a.settle)
            cpu0, w0 = tree_cpu(daemon.pid), time.monotonic()
            time.sleep(a.idle_interval)
            cpu1, w1 = tree_cpu(daemon.pid), time.monotonic()
            self.res.add("idle_cpu", kind, 100 * (cpu1 - cpu0) / (w1 - w0))

    def probe_kernel(self, exe: Path) -> None:
        """The C probe: the kernel's connects per CPU-second to the same real servers."""
        specs = listen_specs(self.args.services, self.args.dests)
        out = self.lab.run("dir", [str(exe), str(self.args.window / 2), *specs], timeout=120).stdout.split()
        ok, failed, cpu = int(out[1]), int(out[2]), float(out[4])
        print(f"    c-probe: {' '.join(out)}", flush=True)
        self.res.add("probe_per_cpu", "c-probe", ok / max(cpu, 1e-9))
        if failed:
            print(f"    c-probe: {failed} connects failed", flush=True)


class RealServers:
    """The C listener in the real servers' namespace, restarted in the mode a check type needs."""

    def __init__(self, lab: ScaleLab, workdir: Path, specs: list[str]) -> None:
        self.lab, self.specs = lab, specs
        self.exe = compile_c("listener", workdir, "-lssl", "-lcrypto")
        cert, key = make_certificate(workdir)
        self.flags = {"tcp": [], "http": ["--http"], "https": ["--https", str(cert), str(key)]}
        self.mode: str | None = None
        self.proc: NsProcess | None = None
        self.starts = 0

    def serve(self, check: str) -> None:
        """Answer ``check``'s requests from now on (tcp: accept and close)."""
        if check == self.mode:
            return
        if self.proc is not None:
            self.proc.stop(timeout=30)
        self.starts += 1
        proc = self.proc = self.lab.start("rs", f"listener-{check}-{self.starts}",
                                          [str(self.exe), *self.flags[check], "86400", *self.specs])
        wait_until(lambda: "ready" in proc.log_text(), timeout=60, interval=0.1, what=f"{check} real servers")
        self.mode = check

    def cpu(self) -> float:
        """CPU seconds the real servers used so far."""
        return tree_cpu(self.proc.pid) if self.proc is not None else 0.0


@contextmanager
def scale_lab(workdir: Path, args: argparse.Namespace) -> Iterator[tuple[ScaleLab, RealServers, Path]]:
    """The scale lab with its C real servers running (TCP mode); always torn down."""
    reap_stale_namespaces()
    workdir.mkdir(parents=True, exist_ok=True)
    lab = ScaleLab(workdir, args.dests)
    try:
        lab.build()
        servers = RealServers(lab, workdir, listen_specs(args.services, args.dests))
        probe = compile_c("probe", workdir)
        servers.serve("tcp")
        yield lab, servers, probe
    finally:
        lab.teardown()
        if args.logs is not None and (workdir / "logs").is_dir():
            shutil.copytree(workdir / "logs", args.logs, dirs_exist_ok=True)


# ---- row 5: failover --------------------------------------------------------------------------
def _drop_lines(text: str, *keys: str) -> str:
    return "".join(ln for ln in text.splitlines(keepends=True) if ln.split("=")[0].strip() not in keys)


def pulse_failover_cf(base: str, keepalive: float | None, deadtime: float | None) -> str:
    """The failover lab's lvs.cf with these heartbeat settings (None: lvs.cf's default) and no syncd.

    The sync daemon is dropped because the keepalived export has none: both
    sides move only addresses and answer new connections.
    """
    text = _drop_lines(base, "keepalive", "deadtime", "syncdaemon", "syncd_iface", "syncd_id")
    extra = ((f"keepalive = {keepalive:g}\n" if keepalive else "")
             + (f"deadtime = {deadtime:g}\n" if deadtime else ""))
    return text.replace("heartbeat = 1\n", "heartbeat = 1\n" + extra)


def keepalived_failover_conf(exported: str, advert: float | None) -> str:
    """The export with ``advert_int`` set (VRRPv3 for fractions) or removed (keepalived's 1 s default)."""
    text = re.sub(r"^\s*advert_int .*\n", "", exported, flags=re.M)
    if advert is None:
        return text
    text = text.replace("global_defs {\n", "global_defs {\n    vrrp_version 3\n")
    return text.replace("vrrp_instance PIRANHA {\n", f"vrrp_instance PIRANHA {{\n    advert_int {advert:g}\n")


def holder(lab: Lab, vip: str) -> str | None:
    """The director that has the VIP configured (None while nobody has)."""
    for name in ("dir1", "dir2"):
        out = ns_run(lab.ns(name), ["ip", "-o", "addr", "show", "dev", "eth0"], check=False).stdout
        if f" {vip}/" in out:
            return name
    return None


VRRP_STATE = re.compile(r"Entering (\w+) STATE")


def ready_standby(lab: Lab, daemon: Daemon, owner: str) -> bool:
    """``daemon`` could take over now: it follows the owner's heartbeats/adverts and holds its table.

    Hot standby on both sides: keepalived programs IPVS on the backup too, pulse
    keeps the table on the standby.  A pulse whose status file exists is not
    yet necessarily listening to heartbeats (its start-up opens the address
    socket first), so both sides of the heartbeat must have heard each other.
    """
    from tests.support.failoverlab import ipvs_save
    table = sorted(ipvs_save(lab, owner).splitlines())
    if not any(line.startswith("-a ") for line in table):
        return False
    if sorted(ipvs_save(lab, daemon.role).splitlines()) != table:
        return False
    if daemon.kind == "pulse":
        mine = lab.status(daemon.role).get("redundancy") or {}  # type: ignore[attr-defined]
        theirs = lab.status(owner).get("redundancy") or {}      # type: ignore[attr-defined]
        return (mine.get("state") == "standby" and (mine.get("peer") or {}).get("state") == "active"
                and (theirs.get("peer") or {}).get("state") == "standby")
    assert daemon.proc is not None
    states = VRRP_STATE.findall(daemon.proc.log_text(tail=20000))
    return bool(states) and states[-1] == "BACKUP"


def settled(lab: Lab, daemons: dict[str, Daemon], limit: float) -> None:
    """Both directors up, exactly one holding the VIP and answering, the other one ready to take over."""
    from tests.support.failoverlab import FO_PLAN4, client_get

    def ready() -> bool:
        owner = holder(lab, FO_PLAN4.vip)
        if owner is None or not client_get(lab, 1.0):
            return False
        kind = daemons[owner].kind
        if kind == "pulse" and lab.fo_state(owner) != "active":  # type: ignore[attr-defined]
            return False
        if kind == "keepalived" and owner != "dir1":   # VRRP preempts: dir1 (higher priority) takes it back
            return False
        return all(ready_standby(lab, d, owner) for name, d in daemons.items() if name != owner)
    wait_until(ready, timeout=limit, interval=0.2, what="one active director and one standby")
    time.sleep(1.0 + random.random())


def trace_failover_lab(lab: Lab) -> None:
    """Timestamped evidence in the lab's logs: frames on every switch port, neighbours and addresses.

    ``wiretap-switch.log`` (ARP, ND and TCP as they enter the switch),
    ``neigh-ROLE.log`` (``ip -ts monitor`` of neighbour entries, plus
    addresses on the directors); stopped with the lab.
    """
    lab.start("switch", "wiretap-switch", [sys.executable, "-m", "tests.support.wiretap"], cwd=ROOT,
              env={**os.environ, "PYTHONPATH": str(ROOT)})
    for role in ("client", "rs1", "rs2", "dir1", "dir2"):
        objects = ["neigh", "address"] if role.startswith("dir") else ["neigh"]
        lab.start(role, f"neigh-{role}", ["ip", "-ts", "monitor", *objects])


def failover_session(kind: str, setting: str, args: argparse.Namespace, workdir: Path, res: Results) -> None:
    """Row 5: ``args.kills`` kills of the active director; records kill -> first answer."""
    from tests.support.failoverlab import (
        FO_PLAN4, build_lab, first_answer_around, lvs_cf, node_death, node_revive,
    )
    workdir.mkdir(parents=True, exist_ok=True)
    lab, vip = build_lab(workdir), FO_PLAN4.vip
    daemons = {name: Daemon(kind, lab, name, workdir / name, lab.conf(name) if kind == "pulse" else None)
               for name in ("dir1", "dir2")}
    tight = setting == "tight"
    try:
        for name, daemon in daemons.items():
            base = lvs_cf(1, lab.key_file)
            keepalive, deadtime = (args.pulse_tight if tight else (None, None))
            cf = pulse_failover_cf(base, keepalive, deadtime)
            write_atomic(lab.conf(name), cf)
            if kind == "keepalived":
                exported = workdir / f"{name}-export.conf"
                export_keepalived(lab.conf(name), exported, "primary" if name == "dir1" else "backup")
                write_atomic(daemon.config_path(), keepalived_failover_conf(
                    exported.read_text(), args.keepalived_tight if tight else None))
        row = f"failover_{'tight' if tight else 'default'}"
        if args.trace:
            trace_failover_lab(lab)
        daemons["dir1"].start()                      # the primary first, settled, then the backup
        wait_until(lambda: holder(lab, vip) == "dir1", timeout=args.limit, interval=0.2, what="dir1 active")
        daemons["dir2"].start()
        for i in range(args.kills):
            settled(lab, daemons, args.limit)
            victim = holder(lab, vip) or "dir1"
            attempts: list[str] | None = [] if args.trace else None
            cut_at: list[float] = []

            def cut(victim: str = victim) -> None:
                """The crash: SIGKILL of the daemon's process group, its links down at once."""
                cut_at.append(time.time())
                daemons[victim].signal_group(signal.SIGKILL)
                node_death(lab, victim)
            try:
                took = first_answer_around(lab, cut, limit=args.limit, attempts=attempts)
            except TimeoutError as exc:
                res.timed_out(row, kind, args.limit, exc)
                return
            finally:
                daemons[victim].kill()                       # reaped (and its children) after the cut
                if attempts is not None:
                    with open(workdir / "logs" / "client-attempts.log", "a", encoding="utf-8") as fh:
                        fh.write(f"{cut_at[0]:.3f} kill {victim}\n" + "".join(f"{a}\n" for a in attempts))
            res.add(row, kind, took)
            node_revive(lab, victim)
            daemons[victim].start()
    finally:
        for daemon in daemons.values():
            daemon.stop(timeout=30)
        lab.teardown()
        if args.logs is not None and (workdir / "logs").is_dir():
            shutil.copytree(workdir / "logs", args.logs / workdir.name, dirs_exist_ok=True)


# ---- main -------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=3)
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--dests", type=int, default=10)
    ap.add_argument("--reloads", type=int, default=3, help="SIGHUPs per busy session (row 2)")
    ap.add_argument("--window", type=float, default=60.0, help="seconds of row 4's measurement")
    ap.add_argument("--step", type=float, default=10.0, help="row 4: seconds per sample while waiting for a "
                    "settled check rate")
    ap.add_argument("--tolerance", type=float, default=0.15, help="row 4: two successive samples of checks "
                    "per CPU-second this close (relative) count as settled")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds after the table is complete")
    ap.add_argument("--idle-interval", type=float, default=30.0, help="check interval (and window) of row 3")
    ap.add_argument("--limit", type=float, default=600.0, help="give up on one measurement after this")
    ap.add_argument("--kills", type=int, default=3, help="failovers per daemon, setting and session")
    ap.add_argument("--pulse-tight", type=lambda s: tuple(float(x) for x in s.split("/")), default=(0.1, 0.3),
                    metavar="KEEPALIVE/DEADTIME", help="pulse's tightest stable heartbeat setting (default: "
                    "three heartbeats of 0.1 s missed, VRRP's rule at advert_int 0.1)")
    ap.add_argument("--keepalived-tight", type=float, default=0.1, metavar="ADVERT_INT",
                    help="keepalived's tightest stable VRRP advert interval")
    ap.add_argument("--rows", default="12345", help="which rows to run (default all)")
    ap.add_argument("--checks", type=lambda s: s.split(","), default=["tcp", "http", "https"],
                    help="row 4's check types besides the TCP checks of the busy session (default "
                    "tcp,http,https)")
    ap.add_argument("--workdir", type=Path, help="keep configurations and logs here (default: a temporary "
                    "directory, removed at the end)")
    ap.add_argument("--pulse-args", default="", help="more pulse options for rows 1-4, e.g. "
                    "'--sample-interval 0' (traffic sampling, on by default, has no keepalived counterpart)")
    ap.add_argument("--logs", type=Path, help="copy the daemon logs here at the end (the scale lab's; row 5: "
                    "one directory per failover session) (the "
                    "default work directory is on the guest's tmpfs, where logging costs both daemons "
                    "least; a --workdir on the host's file system makes every log line a 9p round trip)")
    ap.add_argument("--profile", action="store_true", help="rows 1-4: run pulse under "
                    "benchmarks/stack_sampler.py (collapsed stacks in 10 s buckets next to its log)")
    ap.add_argument("--progress", type=float, default=0.0, help="row 1: print the table's counts this often "
                    "(seconds; default 0: never)")
    ap.add_argument("--daemons", type=lambda s: s.split(","), default=list(DAEMONS),
                    help="run only these (e.g. keepalived, to repeat one daemon's sample)")
    ap.add_argument("--baseline", type=Path, help="rows 1-4: also run pulse from this checkout (e.g. `git "
                    "archive main | tar -x -C DIR`) right after this one's, as 'pulse-base': before and "
                    "after in one run, under the same load")
    ap.add_argument("--trace", action="store_true", help="row 5: log every client attempt, the frames on "
                    "the lab's switch and the neighbour entries of every host (in the failover work "
                    "directories' logs)")
    ap.add_argument("--first", choices=DAEMONS, default="pulse", help="daemon that starts session 1")
    return ap.parse_args()


def main() -> int:
    args = parse_args()
    if not ipvs_available():
        print(RUN_HINT.replace("pytest -m ipvs tests/ipvs tests/e2e", "benchmarks/peer_keepalived.py"),
              file=sys.stderr)
        return 2
    res = Results()
    version = subprocess.run([KEEPALIVED, "--version"], capture_output=True, text=True).stderr.splitlines()[0]
    print(f"pulse vs keepalived ({version}), "
          f"{args.services} x {args.dests}, {args.sessions} sessions, guest load {loadavg()}", flush=True)
    order = list(DAEMONS) if args.first == "pulse" else list(reversed(DAEMONS))
    order = [kind for kind in order if kind in args.daemons]
    with tempfile.TemporaryDirectory(prefix="peer-keepalived-") as tmp:
        work = args.workdir or Path(tmp)
        if set(args.rows) & set("1234"):
            with scale_lab(work / "scale", args) as (lab, servers, probe):
                run = ScaleRun(args, lab, work / "scale", res, servers)
                run.prepare()
                for session in range(args.sessions):
                    scale = [k for kind in order
                             for k in ([kind, BASELINE] if kind == "pulse" and args.baseline else [kind])]
                    print(f"session {session + 1}/{args.sessions} (scale): {' then '.join(scale)}",
                          flush=True)
                    servers.serve("tcp")
                    run.probe_kernel(probe)
                    for kind in scale:
                        if set(args.rows) & set("12") or ("4" in args.rows and "tcp" in args.checks):
                            run.busy_session(kind)
                        if "3" in args.rows:
                            run.idle_session(kind)
                    for check in [c for c in args.checks if c != "tcp" and "4" in args.rows]:
                        for kind in scale:
                            run.check_session(kind, check)
                    order.reverse()
                    print_table(res, f"after scale session {session + 1}")
        if "5" in args.rows:
            for session in range(args.sessions):
                print(f"session {session + 1}/{args.sessions} (failover): {' then '.join(order)}", flush=True)
                for kind in order:
                    for setting in ("tight", "default"):
                        failover_session(kind, setting, args, work / f"fo-{session}-{kind}-{setting}", res)
                order.reverse()
    probe_runs = res.get("probe_per_cpu", "c-probe")
    if probe_runs:
        ceiling = statistics.median(probe_runs)
        res.extra.append(f"\nC probe (connect + RST close, one at a time): {summary(probe_runs)} "
                         "connects per CPU-second")
        for kind in DAEMONS:
            got = res.get("checks_per_cpu", kind)
            if got:
                res.extra.append(f"{kind}: {100 * statistics.median(got) / ceiling:.0f}% of the probe's rate")
    res.extra.append(f"guest load at the end: {loadavg()}; tightest settings: pulse keepalive/deadtime "
                     f"{args.pulse_tight[0]:g}/{args.pulse_tight[1]:g} s, keepalived advert_int "
                     f"{args.keepalived_tight:g} s (VRRPv3); defaults: lvs.cf's and keepalived's")
    print_table(res, "pulse vs keepalived: median (min-max) n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
