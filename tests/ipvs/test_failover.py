"""Primary/backup failover under a real IPVS kernel (marker ``ipvs``).

Two directors on shared segments, a client and two real servers: the IPv4
lab of tests/support/failoverlab.py (IPv6: test_failover_ipv6.py).

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

import signal
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.emulation import TIME_FACTOR, scaled  # noqa: E402
from tests.support.client import HeldConnection  # noqa: E402
from tests.support.failoverlab import (  # noqa: E402
    DEADTIME, FO_PLAN4, FailoverLab, build_lab, client_get, first_answer_after, heartbeats_blocked,
    ipvs_save, node_death, node_revive, takeover_ops, wait_synced)
from tests.support.processes import wait_until  # noqa: E402
from tests.support.topology import PAGES  # noqa: E402

pytestmark = pytest.mark.ipvs

VIP = FO_PLAN4.vip


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
    lab.start_pair()
    wait_until(lambda: (lab.status("dir2").get("redundancy") or {}).get("peer", {}).get("state")
               == "active", timeout=10, interval=0.2, what="backup to see the active primary")
    peer = lab.status("dir2")["redundancy"]["peer"]
    assert peer["role"] == "primary" and peer["serial_no"] == 1
    # hot standby: the backup checks the real servers too and keeps the primary's IPVS table,
    # only without the VIP and the NAT router address
    assert lab.status("dir2")["addresses"] == []
    wait_until(lambda: "-a -t" in ipvs_save(lab, "dir1") and ipvs_save(lab, "dir2") == ipvs_save(lab, "dir1"),
               timeout=20, interval=0.2, what="the standby's table to equal the primary's")
    assert ipvs_save(lab, "dir2").count("\n-a -t ") == len(FO_PLAN4.real_servers)
    wait_until(lambda: all(h["state"] == "up" for h in
                           lab.status("dir2")["health"]["web"].values()),
               timeout=20, interval=0.2, what="backup's warm health checks")
    hb = lab.status("dir2")["redundancy"]["heartbeat"]
    assert hb.get("received", 0) > 0 and not any(k.startswith("dropped_bad_mac") for k in hb)


def test_publish_reaches_backup_within_a_second(lab: FailoverLab) -> None:
    from piranha_web.lvscf.files import write_atomic
    t0 = time.time()
    write_atomic(lab.conf("dir1"), lab.lvs_cf(2, scheduler="wlc"))
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
        assert held.request() in set(PAGES.values())
        wait_synced(lab)
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
        assert held.request() in set(PAGES.values())
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
    write_atomic(lab.conf("dir1"), lab.lvs_cf(3, scheduler="wlc"))
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
