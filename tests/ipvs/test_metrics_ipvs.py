"""pulse --metrics-port under a real IPVS kernel: the seed lab's traffic shows up in /metrics.

The exporter renders pulse's status document (unit-tested with fixed data in
tests/web/test_metrics.py); this proves the numbers are the kernel's own:
connections, packets and bytes per real server after the client's requests,
health per real server, and the loopback-only binding inside the director.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.support.client import fetch
from tests.support.processes import NsProcess, wait_until
from tests.support.seedpulse import pulse_argv, seed_lvs_cf
from tests.support.topology import SeedTopology

pytestmark = pytest.mark.ipvs

PORT = 9539


def value(body: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in body.splitlines():
        match = re.match(rf"^{name}\{{([^}}]*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            total += float(match.group(2))
    return total


@pytest.fixture(scope="module")
def pulse(seed: SeedTopology, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NsProcess]:
    work = tmp_path_factory.mktemp("pulse-metrics")
    (work / "lvs.cf").write_text(seed_lvs_cf())
    argv = pulse_argv(work / "lvs.cf", work / "run", "--reconcile-interval", "1", "--metrics-port", str(PORT))
    proc = seed.start("director", "pulse-metrics", argv)
    try:
        yield proc
    finally:
        if proc.alive():
            proc.stop()


def test_kernel_counters_and_health_in_metrics(pulse: NsProcess, seed: SeedTopology) -> None:
    url = f"http://127.0.0.1:{PORT}/metrics"
    scrape = lambda: fetch(seed.ns("director"), url, timeout=3)  # noqa: E731

    def both_in() -> bool:      # UP by the checks, then in the kernel table after the health window
        try:
            body = scrape()
        except OSError:
            return False
        return (value(body, "piranha_pulse_health_up") == 2
                and value(body, "piranha_pulse_ipvs_real_weight") == 2)
    wait_until(both_in, timeout=30, interval=0.5, what="both real servers up and in the table in /metrics")
    seed.client_fetch_many(6)

    def counted() -> bool:      # counters arrive with the periodic kernel dump
        body = scrape()
        return (value(body, "piranha_pulse_ipvs_virtual_connections_total") >= 6
                and value(body, "piranha_pulse_ipvs_real_in_bytes_total", server="192.0.2.1:80") > 0
                and value(body, "piranha_pulse_ipvs_real_in_bytes_total", server="192.0.2.2:80") > 0)
    wait_until(counted, timeout=20, interval=0.5, what="IPVS counters in /metrics")
    body = scrape()
    assert value(body, "piranha_pulse_ipvs_virtual_in_packets_total") > 0
    assert value(body, "piranha_pulse_ipvs_virtual_out_bytes_total") > 0
    assert value(body, "piranha_pulse_role", role="standalone") == 1
    assert value(body, "piranha_pulse_health_checks_total", result="ok") > 0
    # Bound to the director's loopback only: not reachable on its public address.
    with pytest.raises(OSError):
        fetch(seed.ns("client"), f"http://203.0.113.1:{PORT}/metrics", timeout=2)
