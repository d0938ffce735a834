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

from tests.support.client import HeldConnection  # noqa: E402
from tests.support.ecmplab import (  # noqa: E402
    DIRECTORS, VIP, EcmpLab, bfd_interval_ms, hold_time,
)
from tests.support.ipvs_runner import RUN_HINT, ipvs_available  # noqa: E402
from tests.support.processes import wait_until  # noqa: E402
from tests.support.topology import reap_stale_namespaces  # noqa: E402


def held_through(lab: EcmpLab, victim: str, count: int = 20) -> HeldConnection:
    """A keep-alive connection from the client that the router sends through ``victim`` now.

    The router hashes a flow by its socket's hash, which a new connection draws at random even
    from the same source port, so only a connection that stays open keeps its path.
    """
    conns = [HeldConnection(lab.ns("client"), VIP, 80, timeout=120) for _ in range(count)]
    for conn in conns:
        conn.request()
    carried = set(lab.connections(victim))
    chosen = next((conn for conn in conns if conn.local[1] in carried), None)
    for conn in conns:
        if conn is not chosen:
            conn.close()
    if chosen is None:
        raise RuntimeError(f"none of {count} connections went through {victim}")
    return chosen


def one_run(lab: EcmpLab, victim: str) -> tuple[float, float | None]:
    """(seconds until the router withdrew ``victim``, seconds until a request on a connection that
    went through it was answered; None if that connection broke).

    Both from the moment the victim's switch port lost its carrier; the withdrawal is the kernel's
    route change on the router as ``ip monitor`` logged it, not when a poll noticed it.  The
    request is sent once: the client's TCP retransmits it (with its usual backoff) until a
    surviving director takes the flow over.
    """
    conn = held_through(lab, victim)
    if lab.bfd:      # a director that came back in an earlier run may still be bringing BFD up
        wait_until(lambda: lab.router_bfd_up() == len(DIRECTORS), timeout=60, interval=0.5,
                   what="BFD up on the router's sessions")
    cut = lab.cut_link(victim)
    try:
        lab.kill_pulse(victim)
        try:
            conn.request()
            served: float | None = time.time() - cut
        except (OSError, ConnectionError, TimeoutError) as exc:
            print(f"  the held connection broke: {exc!r}", flush=True)
            served = None
        lab.wait_nexthops(2, timeout=60)
        withdrawn = lab.withdrawn_at(DIRECTORS[victim], cut) - cut
    finally:
        conn.close()
        lab.run(victim, ["ip", "link", "set", "eth0", "up"])
        lab.run(victim, ["ip", "route", "replace", "default", "via", "203.0.113.254"])
        if victim not in lab.pulses:
            lab.start_pulse(victim)
    lab.wait_nexthops(3, timeout=300)
    return withdrawn, served


def series(bfd: bool, runs: int) -> list[tuple[float, float | None]]:
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
                again = "broke" if served is None else f"{served * 1000:7.1f} ms"
                print(f"{'bfd ' if bfd else 'hold'} run {i + 1:2d}: killed {victim}, router withdrew it "
                      f"after {withdrawn * 1000:7.1f} ms, a held connection through it served again after "
                      f"{again}", flush=True)
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
    for bfd in (True, False):
        results = series(bfd, args.runs)
        label = f"BFD ({5 * bfd_interval_ms()} ms detection)" if bfd else f"hold time {hold_time()} s"
        served = [r[1] for r in results if r[1] is not None]
        print(f"{label}: median withdrawal {statistics.median(r[0] for r in results) * 1000:.0f} ms, "
              f"median client served again {statistics.median(served) * 1000 if served else 0:.0f} ms "
              f"({len(results)} runs, {len(results) - len(served)} held connections broke)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
