"""pulse benchmarks: incremental reconcile vs flush-and-rebuild, and health checks per second.

    .venv/bin/python benchmarks/pulse_bench.py [--services 1000] [--dests 10]
                                               [--servers 10000] [--listeners 8] [--seconds 10]

(a) A 1,000 x 10 configuration in the dry-run backend: after one weight
    change, the daemon's reconcile (dump + desired table + plan + apply) is
    timed and its ops counted, next to a Piranha-style flush-and-rebuild
    (delete every service, add everything again) in the same run.
(b) In-process health checks: N real servers spread over a few listening
    sockets on 127.0.0.x (served by a separate process so only the checker is
    measured), interval 1 s, for ~10 s: checks completed per second, CPU time
    and RSS of the checker.

Only loopback traffic; every loop is bounded.  Raises RLIMIT_NOFILE to its hard limit.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from piranha_web.lvscf import load  # noqa: E402
from piranha_web.pulse.health.checks import make_spec  # noqa: E402
from piranha_web.pulse.configfile import LoadedConfig  # noqa: E402
from piranha_web.pulse.daemon import Daemon  # noqa: E402
from piranha_web.pulse.options import Options  # noqa: E402
from piranha_web.pulse.reconciler import settle_gc  # noqa: E402
from piranha_web.pulse.kernel import dry_run_backends  # noqa: E402
from piranha_web.pulse.health.monitor import Monitor, Target  # noqa: E402
from piranha_web.pulse.reconcile import (  # noqa: E402
    DEL_SERVICE, Op, all_up, desired_table, plan,
)


def big_config(services: int, dests: int) -> str:
    """An lvs.cf with ``services`` virtual servers of ``dests`` real servers each."""
    out = ["serial_no = 1", "primary = 203.0.113.1", "service = lvs", "network = direct"]
    for s in range(services):
        vip = f"203.0.113.{s % 250 + 1}"   # TEST-NET only: VIPs repeat, ports tell services apart
        out.append(f"virtual vs{s} {{\n    active = 1\n    address = {vip} eth0:{s}\n"
                   f"    port = {80 + s // 250}\n"
                   f"    scheduler = wlc\n    timeout = 6\n    reentry = 15")
        for d in range(dests):
            out.append(f"    server rs{d} {{\n        address = 198.51.100.{d + 1}\n"
                       f"        port = {8000 + s // 250}\n        active = 1\n        weight = 1\n    }}")
        out.append("}")
    return "\n".join(out) + "\n"


def timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    """Run ``fn``; returns (result, wall ms, CPU ms) - CPU is the fair number on a busy machine."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, (time.perf_counter() - w0) * 1000, (time.process_time() - c0) * 1000


def bench_reconcile(services: int, dests: int, real_ipvs: bool = False) -> dict[str, Any]:
    """(a): ops and milliseconds, incremental vs flush-and-rebuild."""
    text = big_config(services, dests)
    cfg, parse_ms, _ = timed(lambda: load(text))
    with tempfile.TemporaryDirectory() as tmp:
        backends = dry_run_backends()
        if real_ipvs:                       # inside the IPVS guest: real netlink, addresses stay dry
            from piranha_web.pulse.kernel.ipvs import NetlinkIpvs
            backends.ipvs, backends.name = NetlinkIpvs(), "ipvs"
        opts = Options(config=Path(tmp) / "lvs.cf", runtime_dir=Path(tmp), backend=backends.name,
                       status_interval=3600)
        daemon = Daemon(opts, backends, LoadedConfig(cfg, "x", (0, 0, 0)))
        for key, state in all_up(cfg).items():
            daemon.monitor.seed(key, state)
        first, build_ms, build_cpu = timed(daemon.reconcile)
        settle_gc()          # as the daemon does after start and after each reload

        changed = copy.deepcopy(cfg)
        changed.virtuals[services // 2].servers[dests // 2].weight = 5
        daemon.config.loaded = LoadedConfig(changed, "y", (0, 0, 0))
        settle_gc()
        ops, incr_ms, incr_cpu = timed(daemon.reconcile)

        def core() -> list[Op]:
            """The same diff after a full dump (what the periodic pass costs)."""
            changed.virtuals[services // 2].servers[dests // 2].weight = 6
            found = plan(desired_table(changed, daemon.monitor.health()), backends.ipvs.dump(),
                         daemon.reconciler.managed.services)
            for op in found:
                backends.ipvs.apply(op)
            return found
        core_ops, core_ms, core_cpu = timed(core)

        def flush() -> list[Op]:
            """Piranha's way: ipvsadm -C, then add everything again."""
            actual = backends.ipvs.dump()
            found = [Op(DEL_SERVICE, k, e.service) for k, e in actual.items()]
            found += plan(desired_table(changed, daemon.monitor.health()), {})
            for op in found:
                backends.ipvs.apply(op)
            return found
        flush_ops, flush_ms, flush_cpu = timed(flush)
        if real_ipvs:
            for key, entry in backends.ipvs.dump().items():
                backends.ipvs.apply(Op(DEL_SERVICE, key, entry.service))
            backends.ipvs.close()
    return {"backend": backends.name, "parse_ms": parse_ms,
            "build_ops": len(first), "build_ms": build_ms, "build_cpu": build_cpu,
            "incr_ops": len(ops), "incr_ms": incr_ms, "incr_cpu": incr_cpu,
            "core_ops": len(core_ops), "core_ms": core_ms, "core_cpu": core_cpu,
            "flush_ops": len(flush_ops), "flush_ms": flush_ms, "flush_cpu": flush_cpu}


LISTENER = textwrap.dedent("""
    import selectors, socket, sys, time
    addrs = sys.argv[1].split(","); port = int(sys.argv[2]); deadline = time.monotonic() + float(sys.argv[3])
    sel = selectors.DefaultSelector()
    for a in addrs:
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((a, port)); s.listen(4096); s.setblocking(False); sel.register(s, selectors.EVENT_READ)
    print("ready", flush=True)
    while time.monotonic() < deadline:
        for key, _ in sel.select(0.5):
            for _ in range(256):
                try:
                    c, _ = key.fileobj.accept()
                except BlockingIOError:
                    break
                c.close()
""")


def raise_nofile() -> int:
    """Soft RLIMIT_NOFILE := hard; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_mb() -> float:
    """Current resident set size of this process in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _run_checks(targets: list[Target], seconds: float) -> tuple[int, float, float, int]:
    """Run the monitor for ``seconds``; returns (checks, wall, cpu, failures)."""
    mon = Monitor()
    ru0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    mon.update(targets)
    await asyncio.sleep(1.0)                       # warm-up: first round spread over ~0.5 s
    c1, ru1, t1 = mon.checks_done, resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    await asyncio.sleep(seconds)
    c2, ru2, t2 = mon.checks_done, resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    failures = sum(1 for s in mon.states.values() if s.state != "up")
    await mon.stop()
    del ru0, t0
    cpu = (ru2.ru_utime + ru2.ru_stime) - (ru1.ru_utime + ru1.ru_stime)
    return c2 - c1, t2 - t1, cpu, failures


def bench_checks(servers: int, listeners: int, seconds: float) -> dict[str, float]:
    """(b): checks/s, CPU and RSS for ``servers`` TCP checks at 1 s interval."""
    nofile = raise_nofile()
    addrs = [f"127.0.0.{i + 1}" for i in range(listeners)]
    port = 18000 + (time.time_ns() // 1000) % 2000
    proc = subprocess.Popen([sys.executable, "-c", LISTENER, ",".join(addrs), str(port), str(seconds + 30)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        rss0 = rss_mb()
        targets = [Target(("vs", f"rs{i}"), make_spec(addrs[i % listeners], port, 1.0), 1.0, 1.0)
                   for i in range(servers)]
        checks, wall, cpu, down = asyncio.run(_run_checks(targets, seconds))
        rss1 = rss_mb()
    finally:
        proc.kill()
        proc.wait()
    return {"servers": servers, "listeners": listeners, "checks": checks, "wall_s": wall,
            "checks_per_s": checks / wall, "cpu_s": cpu, "cpu_pct": 100 * cpu / wall,
            "checks_per_cpu_s": checks / cpu if cpu else 0.0, "down_at_end": down,
            "rss_mb": rss1, "rss_growth_mb": rss1 - rss0, "nofile": nofile}


def main() -> None:
    """Run both benchmarks and print results and ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--dests", type=int, default=10)
    ap.add_argument("--servers", type=int, default=10000)
    ap.add_argument("--listeners", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--ipvs", action="store_true", help="(a) against the real kernel (root, IPVS guest)")
    ap.add_argument("--skip-checks", action="store_true", help="run (a) only")
    args = ap.parse_args()

    r = bench_reconcile(args.services, args.dests, args.ipvs)
    print(f"(a) reconcile, {args.services} x {args.dests} config, {r['backend']} backend "
          "(wall ms / CPU ms)")
    print(f"    parse+validate lvs.cf:          {r['parse_ms']:9.1f} ms")
    for label, key in (("initial build", "build"), ("one change, daemon (cached table)", "incr"),
                       ("one change, fresh kernel dump", "core"), ("flush-and-rebuild", "flush")):
        print(f"    {label + ':':<36}{r[key + '_ops']:6d} ops {r[key + '_ms']:9.1f} ms "
              f"{r[key + '_cpu']:9.1f} CPU ms")
    print(f"    ratio: {r['flush_ops'] / max(r['incr_ops'], 1):.0f}x fewer kernel ops; "
          f"flush-and-rebuild takes {r['flush_cpu'] / max(r['incr_cpu'], 1e-9):.1f}x the CPU of the "
          "daemon's one-change reconcile (and drops every connection)")
    if args.skip_checks:
        return

    c = bench_checks(args.servers, args.listeners, args.seconds)
    print(f"(b) health checks: {c['servers']} TCP real servers on {c['listeners']} listeners (127.0.0.x), "
          f"interval 1 s, {c['wall_s']:.1f} s measured")
    print(f"    checks completed:  {c['checks']} = {c['checks_per_s']:.0f}/s "
          f"(target {c['servers']}/s: {100 * c['checks_per_s'] / c['servers']:.0f}%)")
    print(f"    checker CPU:       {c['cpu_s']:.2f} s = {c['cpu_pct']:.0f}% of one core; "
          f"{c['checks_per_cpu_s']:.0f} checks per CPU-second")
    print(f"    checker RSS:       {c['rss_mb']:.0f} MiB (+{c['rss_growth_mb']:.0f} MiB for the checker); "
          f"not UP at end: {c['down_at_end']}; RLIMIT_NOFILE {c['nofile']}")


if __name__ == "__main__":
    main()
