"""Failover of an IPv6 VIP and the sync daemon over IPv6, under a real IPVS kernel (marker ``ipvs``).

The IPv6 failover lab of tests/support/failoverlab.py: the directors talk
IPv6 only (heartbeats on both paths, config sync), and the sync interface
eth2 has no IPv4 address, so the sync daemons must use the IPv6 group.

1. startup: primary active, backup standby; both sync daemons on ff02::51;
2. a held client connection shows up in the backup's IPVS connection table;
3. the primary dies (SIGKILL, links down): without any client traffic the
   client's neighbour entry for the VIP moves to the backup's MAC (the
   unsolicited NA; nothing static), the client is served again within
   deadtime + 1 s, and the held connection lives on through the backup.
"""
from __future__ import annotations

import signal
import time
from typing import Iterator

import pytest

from tests.support.client import HeldConnection
from tests.support.emulation import TIME_FACTOR, scaled
from tests.support.failoverlab import (DEADTIME, FO_PLAN6, FailoverLab, build_lab, first_answer_after,
                                       ip_vs_conn, node_death, wait_synced)
from tests.support.netns import in_netns
from tests.support.processes import wait_until
from tests.support.topology import PAGES

pytestmark = pytest.mark.ipvs

VIP = FO_PLAN6.vip


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FailoverLab]:
    from tests.support.ipvs_runner import require_ipvs
    require_ipvs()
    lab = build_lab(tmp_path_factory.mktemp("failover6"), FO_PLAN6)
    try:
        yield lab
    finally:
        lab.teardown()


def mac(lab: FailoverLab, name: str) -> str:
    return lab.run(name, ["cat", "/sys/class/net/eth0/address"]).stdout.strip()


def vip_neighbour(lab: FailoverLab) -> str:
    """The client's neighbour entry for the VIP (``ip -6 neigh`` line, '' when none)."""
    return lab.run("client", ["ip", "-6", "neigh", "show", VIP, "dev", "eth0"]).stdout.strip()


def test_startup_and_sync_daemons_on_the_ipv6_group(lab: FailoverLab) -> None:
    lab.start_pair()
    for name, state in (("dir1", "master"), ("dir2", "backup")):
        wait_until(lambda n=name, st=state: lab.status(n)["redundancy"]["syncd"]["state"] == st, timeout=20,
                   interval=0.2, what=f"{name}'s status to show the {state} sync daemon")
        syncd = lab.status(name)["redundancy"]["syncd"]
        assert syncd["group"] == "ff02::51" and syncd["error"] is None, syncd
        daemon = lab.run(name, ["ipvsadm", "-L", "--daemon"]).stdout
        assert f"{state} sync daemon" in daemon and "ff02::51" in daemon, daemon
    wait_until(lambda: (lab.status("dir2")["redundancy"].get("peer") or {}).get("state") == "active",
               timeout=20, interval=0.2, what="the backup to see the active primary")
    assert lab.status("dir2")["redundancy"]["peer"]["role"] == "primary"


def test_ipv6_vip_fails_over_by_unsolicited_na_with_connections_synced(lab: FailoverLab) -> None:
    held = HeldConnection(lab.ns("client"), VIP, 80, timeout=scaled(3))
    try:
        assert held.request() in PAGES.values()
        wait_synced(lab)
        print(f"\nbackup's IPVS connection table:\n{in_netns(lab.ns('dir2'), ip_vs_conn)}")

        before = vip_neighbour(lab)
        assert f"lladdr {mac(lab, 'dir1')}" in before, before
        t0 = time.monotonic()
        print(f"SIGKILL of the primary at {time.time():.3f} (epoch, to read against the pulse logs)")
        lab.pulses["dir1"].signal(signal.SIGKILL)
        node_death(lab, "dir1")
        # no client traffic until the backup has taken over and announced the VIP
        lab.wait_state("dir2", "active", timeout=10, interval=0.02)
        backup_mac = mac(lab, "dir2")
        wait_until(lambda: f"lladdr {backup_mac}" in vip_neighbour(lab), timeout=2, interval=0.05,
                   what="the unsolicited NA to move the client's neighbour entry")
        entry = vip_neighbour(lab)
        took = first_answer_after(lab, t0)
        print(f"neighbour entry after takeover: {entry!r}\n"
              f"SIGKILL primary -> first answer via the backup: {took:.3f}s")
        assert "PERMANENT" not in lab.run("client", ["ip", "-6", "neigh", "show"]).stdout
        limit = DEADTIME + scaled(1.0)
        print(f"limit deadtime + 1 s = {limit:.3f}s (time factor {TIME_FACTOR})")
        assert took < limit
        # the established connection lives on through the backup (IPVS sync daemon over IPv6)
        assert held.request() in PAGES.values()
    finally:
        held.close()
