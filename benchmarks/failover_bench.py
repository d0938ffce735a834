"""Failover time benchmark: SIGKILL the active pulse (and take its node off the wire),
measure until the first request through the VIP is answered by the other director.

keepalive 0.1 s, deadtime 0.5 s (the lab of tests/support/failoverlab.py).  Needs
root and an IPVS kernel; run it inside the guest::

    scripts/ipvs-kernel --timeout 1800 -- \\
        .venv/bin/python benchmarks/failover_bench.py --runs 20

Prints one line per run and min / median / max at the end.  Each run alternates
the director that dies, then revives it (it returns as standby: no preemption).
"""
from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.failoverlab import (  # noqa: E402
    DEADTIME, KEEPALIVE, build_lab, first_answer_after, node_death, node_revive,
)
from tests.support.ipvs_runner import ipvs_available, RUN_HINT  # noqa: E402


def run(runs: int) -> list[float]:
    """Build the lab once, then kill/measure/revive ``runs`` times."""
    with tempfile.TemporaryDirectory(prefix="failover-bench-") as tmp:
        lab = build_lab(Path(tmp))
        try:
            lab.start_pair()
            times = []
            for i in range(runs):
                victim = "dir1" if lab.fo_state("dir1") == "active" else "dir2"
                other = "dir2" if victim == "dir1" else "dir1"
                t0 = time.monotonic()
                lab.pulses[victim].signal(signal.SIGKILL)
                node_death(lab, victim)
                took = first_answer_after(lab, t0, limit=15)
                times.append(took)
                print(f"run {i + 1:2d}: killed {victim}, {other} answered after {took * 1000:7.1f} ms",
                      flush=True)
                lab.pulses[victim].popen.wait(timeout=10)
                node_revive(lab, victim)
                lab.start_pulse(victim)
                lab.wait_state(victim, "standby", timeout=60)
                lab.wait_state(other, "active", timeout=10)
            return times
        finally:
            lab.teardown()


def main() -> int:
    """Parse options, run, print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if not ipvs_available():
        print(RUN_HINT.replace("pytest -m ipvs tests/ipvs tests/e2e",
                               "benchmarks/failover_bench.py"), file=sys.stderr)
        return 2
    times = run(args.runs)
    ms = [t * 1000 for t in times]
    print(f"\nfailover (kill -> first answered request), keepalive {KEEPALIVE}s deadtime {DEADTIME}s, "
          f"{len(ms)} runs: min {min(ms):.1f} ms  median {statistics.median(ms):.1f} ms  "
          f"max {max(ms):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
