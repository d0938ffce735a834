"""ECMP convergence benchmark: a director dies (link cut, then pulse killed with kill -9, so no
FIN or BGP message reaches the router); how long until the router withdrew it, and until a flow
that went through it is served again by another director.

The lab of tests/e2e/test_ecmp.py (three directors, a BIRD router with ECMP, three real
servers), once with the BGP hold time only (3 s) and once with BFD (0.5 s detection); both
stretched under emulation like every timer of the lab (ecmplab.hold_time, bfd_interval_ms).  Needs root
and an IPVS kernel; run it inside the guest::

    scripts/ipvs-kernel --timeout 3000 --mem 2G -- \\
        .venv/bin/python benchmarks/ecmp_convergence_bench.py --runs 10

Prints one line per run and the median of each series.  Under qemu TCG every step is
about five times slower than native: compare series, not absolute numbers.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.ecmplab import (  # noqa: E402
    DIRECTORS, EcmpLab, bfd_interval_ms, fetch_ports, hold_time,
)
from tests.support.ipvs_runner import RUN_HINT, ipvs_available  # noqa: E402
from tests.support.processes import wait_until  # noqa: E402
from tests.support.topology import reap_stale_namespaces  # noqa: E402

PORTS = list(range(42000, 42060))


def port_through(lab: EcmpLab, victim: str) -> int:
    """A client source port whose flow the router sends through ``victim`` now."""
    fetch_ports(lab.ns("client"), PORTS)
    mine = sorted(set(lab.connections(victim)) & set(PORTS))
    if not mine:
        raise RuntimeError(f"no sampled flow went through {victim}")
    return mine[0]


def one_run(lab: EcmpLab, victim: str) -> tuple[float, float]:
    """(seconds until the router withdrew ``victim``, seconds until its flow was served again).

    Both from the moment the victim's switch port lost its carrier; the withdrawal is the kernel's
    route change on the router as ``ip monitor`` logged it, not when a poll noticed it.
    """
    port = port_through(lab, victim)
    if lab.bfd:      # a director that came back in an earlier run may still be bringing BFD up
        wait_until(lambda: lab.router_bfd_up() == len(DIRECTORS), timeout=60, interval=0.5,
                   what="BFD up on the router's sessions")
    cut = lab.cut_link(victim)
    lab.kill_pulse(victim)
    served = None
    while served is None:
        if time.time() - cut > 60:
            raise RuntimeError("the flow was not served again within 60 s")
        if fetch_ports(lab.ns("client"), [port], timeout=0.5)[port]:
            served = time.time() - cut
    lab.wait_nexthops(2, timeout=60)
    withdrawn = lab.withdrawn_at(DIRECTORS[victim], cut) - cut
    lab.run(victim, ["ip", "link", "set", "eth0", "up"])
    lab.run(victim, ["ip", "route", "replace", "default", "via", "203.0.113.254"])
    lab.start_pulse(victim)
    lab.wait_nexthops(3, timeout=300)
    return withdrawn, served


def series(bfd: bool, runs: int) -> list[tuple[float, float]]:
    """Build the lab (with or without BFD) and measure ``runs`` deaths, rotating the victim."""
    reap_stale_namespaces()
    with tempfile.TemporaryDirectory(prefix="ecmp-bench-") as tmp:
        lab = EcmpLab(Path(tmp), bfd=bfd)
        try:
            lab.build()
            for name in DIRECTORS:
                lab.start_pulse(name)
            lab.wait_nexthops(3, timeout=600)
            out = []
            for i in range(runs):
                victim = list(DIRECTORS)[i % len(DIRECTORS)]
                withdrawn, served = one_run(lab, victim)
                out.append((withdrawn, served))
                print(f"{'bfd ' if bfd else 'hold'} run {i + 1:2d}: killed {victim}, router withdrew it "
                      f"after {withdrawn * 1000:7.1f} ms, its flow served again after "
                      f"{served * 1000:7.1f} ms", flush=True)
            return out
        finally:
            lab.teardown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    if not ipvs_available():
        print(RUN_HINT, file=sys.stderr)
        return 2
    print(f"backend {os.environ.get('PIRANHA_IPVS_BACKEND', 'native')}")
    for bfd in (False, True):
        results = series(bfd, args.runs)
        label = f"BFD ({5 * bfd_interval_ms()} ms detection)" if bfd else f"hold time {hold_time()} s"
        print(f"{label}: median withdrawal {statistics.median(r[0] for r in results) * 1000:.0f} ms, "
              f"median client served again {statistics.median(r[1] for r in results) * 1000:.0f} ms "
              f"({len(results)} runs)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
