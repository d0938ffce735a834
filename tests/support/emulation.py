"""How much slower than native the real-IPVS guest runs: one factor for every test wait.

Under qemu TCG (``PIRANHA_IPVS_BACKEND=qemu``, set by scripts/ipvs-kernel) every
instruction is emulated: python start-up, a TCP health check and an ip/ipvsadm
call take about five times as long as on the host or under UML.  The harness's
waits and the timing values the tests write into lvs.cf (check timeout,
keepalive, deadtime) are multiplied by this factor, and so are timing
assertions that are acceptance claims (e.g. takeover within deadtime + 1 s),
so a test proves the same ratio of product behaviour to configured time.
``PIRANHA_TEST_TIME_FACTOR`` overrides the factor (e.g. on a slower machine).
"""
from __future__ import annotations

import os

#: Factor per guest backend; anything not listed runs at native speed.
BACKEND_FACTORS = {"qemu": 5.0}


def time_factor() -> float:
    """The slowdown factor of this run (>= 1)."""
    override = os.environ.get("PIRANHA_TEST_TIME_FACTOR")
    if override:
        return max(1.0, float(override))
    return BACKEND_FACTORS.get(os.environ.get("PIRANHA_IPVS_BACKEND", ""), 1.0)


TIME_FACTOR = time_factor()


def scaled(seconds: float) -> float:
    """``seconds`` of native time, stretched to this run's speed."""
    return round(seconds * TIME_FACTOR, 3)
