"""pulse as a real process programming kernel IPVS in the seed lab (NAT, rr, fwmark 80).

Run inside the IPVS guest:
    scripts/ipvs-kernel -- .venv/bin/python -m pytest -m ipvs tests/ipvs
The tests share one pulse process and run in file order; each leaves the lab
as it found it (both real servers up, weights 1).
"""
from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.emulation import scaled
from tests.support.marks import has_mark_rule, mark_rules, nft_in_use
from tests.support.processes import wait_until
from tests.support.seedpulse import Pulse, seed_lvs_cf
from tests.support.topology import REAL_SERVERS, VIP, SeedTopology

pytestmark = pytest.mark.ipvs

TIMEOUT, REENTRY = 0.5, 1.0
RS1_TEXT, RS2_TEXT = REAL_SERVERS["rs1"][1], REAL_SERVERS["rs2"][1]
FOREIGN = "198.51.100.50:25"


def seed_cf(serial: int, rs2_weight: int = 1, scheduler: str = "rr") -> str:
    """The seed article's lvs.cf keyed by fwmark 80, with an HTTP send/expect check."""
    return seed_lvs_cf(serial, rs2_weight=rs2_weight, scheduler=scheduler, fwmark=80,
                       send='"GET / HTTP/1.0\\r\\n\\r\\n"', expect='"HTTP"', timeout=TIMEOUT, reentry=REENTRY)


@pytest.fixture(scope="module")
def pulse(seed: SeedTopology, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pulse]:
    p = Pulse(seed, tmp_path_factory.mktemp("pulse"))
    p.write(seed_cf(1))
    p.run("ipvsadm", "-A", "-t", FOREIGN, "-s", "wlc")      # not pulse's: must survive everything
    p.start()
    try:
        wait_until(lambda: set(p.dests()) == {"192.0.2.1", "192.0.2.2"}, timeout=30, interval=0.2,
                   what="both real servers in the table")
        yield p
    finally:
        if p.proc is not None and p.proc.alive():
            p.proc.stop()


def firewall_kind(pulse: Pulse) -> str:
    """The backend pulse must have chosen on this kernel."""
    return "nft" if nft_in_use(lambda argv: pulse.run(*argv)) else "iptables"


def marks_of(pulse: Pulse) -> str:
    return mark_rules(lambda argv: pulse.run(*argv))


def alternates(names: list[str]) -> bool:
    return len(names) == 4 and names[0] != names[1] and names[0] == names[2] and names[1] == names[3]


def test_seed_requests_alternate_through_fwmark_nat(pulse: Pulse, seed: SeedTopology) -> None:
    names = seed.client_fetch_many(4)
    assert alternates(names) and set(names) == {RS1_TEXT, RS2_TEXT}, names
    table = pulse.ipvsadm()
    assert "FWM  80 rr" in table and "192.0.2.1:80                 Masq    1" in table
    assert f"TCP  {FOREIGN} wlc" in table
    assert has_mark_rule(marks_of(pulse), VIP, 80, 0x50), marks_of(pulse)
    addrs = pulse.run("ip", "-o", "-4", "addr", "show")
    assert f"inet {VIP}/24" in addrs and "eth0:1" in addrs
    assert "inet 192.0.2.254/24" in addrs and "eth1:1" in addrs
    doc = pulse.status()
    assert doc["backend"] == "ipvs" and doc["role"] == "standalone"
    assert doc["firewall"] == firewall_kind(pulse)

    def counted() -> bool:      # counters come with the periodic kernel dump (every 5 s)
        svc = next(s for s in pulse.status()["table"] if s["service"] == "FWM 80")
        return sum(d["conns"] for d in svc["dests"]) >= 4 and sum(d["inbytes"] for d in svc["dests"]) > 0
    wait_until(counted, timeout=15, interval=0.5, what="connection counters in the status")


def test_failed_server_is_removed_and_comes_back(pulse: Pulse, seed: SeedTopology) -> None:
    seed.stop_real_server("rs1")
    t0 = time.monotonic()
    wait_until(lambda: "192.0.2.1" not in pulse.dests(), timeout=10, interval=0.05, what="rs1 removed")
    removed_after = time.monotonic() - t0
    limit = TIMEOUT + scaled(0.5) + 2.0                          # one interval + status/poll slack
    print(f"rs1 removed after {removed_after:.3f}s (limit {limit:.3f}s)")
    assert removed_after < limit, removed_after
    assert "192.0.2.1:80" not in pulse.ipvsadm()
    assert seed.client_fetch_many(4) == [RS2_TEXT] * 4
    t1 = time.monotonic()
    seed.start_real_server("rs1")
    wait_until(lambda: "192.0.2.1" in pulse.dests(), timeout=15, interval=0.05, what="rs1 back")
    assert time.monotonic() - t1 >= REENTRY * 0.4               # two passing checks 0.5 s apart
    seed.wait_real_servers(["rs1"])
    assert set(seed.client_fetch_many(4)) == {RS1_TEXT, RS2_TEXT}


def test_weight_change_is_one_netlink_op_and_held_connection_survives(pulse: Pulse,
                                                                      seed: SeedTopology) -> None:
    with seed.client_hold_connection() as held:
        first = held.request()
        before = pulse.status()["ops_applied"]
        pulse.write(seed_cf(2, rs2_weight=3))
        wait_until(lambda: pulse.status().get("serial_no") == 2 and pulse.dests().get("192.0.2.2") == 3,
                   timeout=15, interval=0.05, what="serial 2 with weight 3")
        time.sleep(0.5)
        doc = pulse.status()
        assert doc["ops_applied"] - before == 1, doc["last_reconcile"]
        assert doc["last_reconcile"]["ops"] == ["set-dest FWM 80 -> 192.0.2.2:80 nat weight 3"]
        assert "192.0.2.2:80                 Masq    3" in pulse.ipvsadm()
        assert held.request() == first                             # same connection, same server
    pulse.write(seed_cf(3))
    wait_until(lambda: pulse.dests().get("192.0.2.2") == 1, timeout=15, interval=0.05,
               what="weight back to 1")


def test_invalid_reload_leaves_kernel_table_untouched(pulse: Pulse) -> None:
    before = pulse.ipvsadm()
    ops_before = pulse.status()["ops_applied"]
    pulse.write(seed_cf(4).replace("scheduler = rr", "scheduler = fastest"))
    assert pulse.proc is not None
    pulse.proc.signal(signal.SIGHUP)
    wait_until(lambda: pulse.status().get("last_reload", {}).get("ok") is False, timeout=10, interval=0.05,
               what="failed reload reported")
    doc = pulse.status()
    assert "lvs.cf:" in doc["last_reload"]["error"] and "scheduler" in doc["last_reload"]["error"]
    assert doc["serial_no"] == 3
    time.sleep(0.6)
    assert pulse.ipvsadm() == before
    assert pulse.status()["ops_applied"] == ops_before
    pulse.write(seed_cf(5))
    wait_until(lambda: pulse.status().get("serial_no") == 5 and pulse.status()["last_reload"]["ok"],
               timeout=10, interval=0.05, what="good reload")
    assert pulse.ipvsadm() == before


def test_removed_server_is_drained_then_deleted(pulse: Pulse, seed: SeedTopology) -> None:
    only_rs1 = seed_cf(6)
    only_rs1 = only_rs1[:only_rs1.index("    server real1 {")] + "}\n"
    pulse.write(only_rs1)
    wait_until(lambda: pulse.dests().get("192.0.2.2") == 0, timeout=10, interval=0.05, what="rs2 drained")
    assert "drain-dest FWM 80 -> 192.0.2.2:80 nat weight 0" in pulse.status()["last_reconcile"]["ops"]
    wait_until(lambda: "192.0.2.2" not in pulse.dests(), timeout=10, interval=0.05, what="rs2 deleted")
    assert seed.client_fetch_many(2) == [RS1_TEXT] * 2
    pulse.write(seed_cf(7))
    wait_until(lambda: pulse.dests() == {"192.0.2.1": 1, "192.0.2.2": 1}, timeout=15, interval=0.05,
               what="rs2 back")


def test_plan_against_the_live_table(pulse: Pulse) -> None:
    pulse_bin = Path(sys.executable).with_name("pulse")
    argv = [str(pulse_bin)] if pulse_bin.exists() else [sys.executable, "-m", "piranha_web.pulse.main"]
    common = ["--backend", "ipvs", "--runtime-dir", str(pulse.rundir)]
    assert pulse.run(*argv, "--plan", "-c", str(pulse.cf), *common).splitlines()[1:] == ["no changes"]
    other = pulse.cf.with_name("other.cf")
    other.write_text(seed_cf(9, rs2_weight=5, scheduler="wlc"))
    out = pulse.run(*argv, "--plan", "-c", str(other), *common).splitlines()[1:]
    assert out == ["set-service FWM 80 wlc", "set-dest FWM 80 -> 192.0.2.2:80 nat weight 5"]
    assert "FWM  80 rr" in pulse.ipvsadm()                        # --plan changed nothing


def test_stop_removes_exactly_what_pulse_added(pulse: Pulse) -> None:
    assert pulse.proc is not None
    pulse.proc.signal(signal.SIGTERM)
    proc = pulse.proc
    wait_until(lambda: not proc.alive(), timeout=15, interval=0.1, what="pulse exit")
    table = pulse.ipvsadm()
    assert "FWM  80" not in table and f"TCP  {FOREIGN} wlc" in table
    assert not has_mark_rule(marks_of(pulse), VIP, 80, 0x50)
    addrs = pulse.run("ip", "-o", "-4", "addr", "show")
    assert VIP not in addrs and "192.0.2.254" not in addrs
    assert "203.0.113.1/24" in addrs and "192.0.2.253/24" in addrs       # the lab's own addresses stay
    assert pulse.status()["state"] == "stopped"
    log = proc.log_text(tail=200_000)
    assert "gratuitous announcements finished (2 address(es), 5 round(s))" in log
    assert "cannot announce" not in log and "Traceback" not in log
    pulse.run("ipvsadm", "-D", "-t", FOREIGN)
