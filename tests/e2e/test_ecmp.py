"""Three active directors behind ECMP (pulse + BIRD each), real IPVS, mh, direct routing.

One lab for the module, tests in order: spread, a real server failing, a
graceful leave, a return, a publish on the console (d1) that turns BFD on
everywhere, an abrupt death (detected by BFD when the publish ran).  The
numbers each test measured are printed (``-s``) and written to
test-artifacts/e2e/ecmp.log.

Times are read from what the processes logged as it happened, not from how
soon a poll noticed it (each ``ip``/``ipvsadm`` process costs a large part of a
second in the emulated guest): a real server's removal from each pulse's
log line, a withdrawal from ``ip monitor`` on the router and on the switch.
"""
from __future__ import annotations

import collections
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ecmplab import (
    DIRECTORS, REAL_SERVERS, EcmpLab, HeldTraffic, bfd_interval_ms, fetch_ports, hold_time,
)
from tests.support.emulation import scaled
from tests.support.ipvs_runner import require_ipvs
from tests.support.processes import wait_until
from tests.support.topology import reap_stale_namespaces

pytestmark = [pytest.mark.ipvs, pytest.mark.timeout(1800)]   # qemu TCG: three pulses, four BIRDs

LOG = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e" / "ecmp.log"
LOGS = LOG.with_name("ecmp-logs")       # every process's log, kept after the guest is gone
PORTS = list(range(41000, 41300))       # 300 client source ports: 300 flows


def report(line: str) -> None:
    print(line)
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("a") as f:
        f.write(f"[{time.strftime('%H:%M:%S')}] {line}\n")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EcmpLab]:
    require_ipvs()
    reap_stale_namespaces()
    lab = EcmpLab(tmp_path_factory.mktemp("ecmp"))
    try:
        lab.build()
        t0 = time.monotonic()
        for name in DIRECTORS:
            lab.start_pulse(name)
        for name in DIRECTORS:
            wait_until(lambda: _status_cluster(lab, name).get("announced"), timeout=120, interval=0.2,
                       what=f"{name} announcing")
            report(f"{name}: pulse announcing {time.monotonic() - t0:.1f}s after start")
        report(f"router learned the VIP from 3 directors in {lab.wait_nexthops(3, timeout=120):.1f}s")
        yield lab
    finally:
        for name, proc in lab.pulses.items():
            if not proc.alive():
                print(f"pulse {name} died:\n{proc.log_text()}")
        lab.teardown()
        shutil.copytree(lab.workdir / "logs", LOGS, dirs_exist_ok=True)


def _status_cluster(lab: EcmpLab, name: str) -> dict:  # type: ignore[type-arg]
    import json
    return json.loads((lab.rundir(name) / "pulse-status.json").read_text()).get("cluster") or {}


def test_flows_spread_over_every_director_and_mh_agrees(lab: EcmpLab) -> None:
    assert lab.nexthops() == sorted(DIRECTORS.values())
    for name in DIRECTORS:
        cluster = _status_cluster(lab, name)
        assert cluster["director"] == name and cluster["announced"] == ["203.0.113.10"]
        wait_until(lambda: [s["state"] for s in _status_cluster(lab, name)["sessions"]] == ["Established"],
                   timeout=30, interval=0.5, what=f"{name}'s BGP session Established in its status file")
        svc = lab.run(name, ["ipvsadm", "-Ln"]).stdout
        report(f"{name}: {svc.splitlines()[3].strip()}")
        assert "mh-port" in svc, svc
        assert lab.run(name, ["sysctl", "-n", "net.ipv4.vs.sloppy_tcp"]).stdout.strip() == "1"
        assert lab.run(name, ["sysctl", "-n", "net.ipv4.vs.conntrack"]).stdout.strip() == "0"
    pages = fetch_ports(lab.ns("client"), PORTS)
    assert all(pages.values()), [p for p, v in pages.items() if not v]
    carried = {name: set(lab.connections(name)) & set(PORTS) for name in DIRECTORS}
    shares = {name: len(ports) / len(PORTS) for name, ports in carried.items()}
    report("spread over directors: " + ", ".join(f"{n} {s:.0%}" for n, s in shares.items())
           + "; real servers: " + str(dict(collections.Counter(pages.values()))))
    assert all(0.20 <= s <= 0.50 for s in shares.values()), shares
    # The same flow through each director in turn (router pinned by a rule on the client's ports).
    sample = PORTS[:60]
    seen: dict[int, set[str | None]] = {p: {pages[p]} for p in sample}
    lab.run("router", ["ip", "rule", "add", "iif", "eth0", "ipproto", "tcp", "sport", "41000-41059",
                       "lookup", "200"])
    try:
        for name, addr in DIRECTORS.items():
            lab.run("router", ["ip", "route", "replace", "203.0.113.10/32", "via", addr, "table", "200"])
            for port, page in fetch_ports(lab.ns("client"), sample).items():
                seen[port].add(page)
    finally:
        lab.run("router", ["ip", "rule", "del", "lookup", "200"])
    differing = {p: s for p, s in seen.items() if len(s) != 1 or None in s}
    report(f"same real server through every director: {len(sample) - len(differing)}/{len(sample)} flows")
    assert differing == {}


def test_a_failed_real_server_moves_only_its_own_flows(lab: EcmpLab) -> None:
    before = fetch_ports(lab.ns("client"), PORTS)
    stopped = time.time()                   # its web server is told to stop (it refuses from its exit)
    lab.stop_real_server("rs2")
    try:
        def gone_everywhere() -> bool:      # weight 0: the destination lists keep their order
            return all(lab.weight(n, "203.0.113.22") == 0 for n in DIRECTORS)
        wait_until(gone_everywhere, timeout=30, interval=0.1, what="rs2 removed on every director")
        took = {n: round(lab.weight_set_at(n, "203.0.113.22", 0, stopped) - stopped, 2) for n in DIRECTORS}
        bound = scaled(1.0 + 1.0 + 0.5)     # check interval + check timeout (both 1 s) + 0.5 s
        report(f"rs2 removed {took} s after it stopped (pulse's log; check interval and timeout "
               f"{scaled(1.0)} s each, bound {bound} s)")
        assert max(took.values()) <= bound, took
        after = fetch_ports(lab.ns("client"), PORTS)
    finally:
        lab.start_real_server("rs2")
        wait_until(lambda: all(lab.weight(n, "203.0.113.22") == 1 for n in DIRECTORS),
                   timeout=60, interval=0.2, what="rs2 back on every director")
    others = [p for p in PORTS if before[p] not in (None, "real server rs2")]
    moved = [p for p in others if after[p] != before[p]]
    share = len(moved) / len(others)
    report(f"real server failure: {len(moved)}/{len(others)} flows of the other real servers moved "
           f"({share:.1%}; bound 1/N + 5 % = {1 / len(REAL_SERVERS) + 0.05:.1%})")
    assert share <= 1 / len(REAL_SERVERS) + 0.05
    assert [p for p in PORTS if after[p] is None] == []


def test_a_graceful_leave_and_return_break_no_connection(lab: EcmpLab) -> None:
    with HeldTraffic(lab.ns("client")) as traffic:
        time.sleep(scaled(1))
        t0 = time.monotonic()
        drained = lab.drain("d1")
        report(f"pulse --drain on d1: {drained} after {time.monotonic() - t0:.1f}s; "
               f"nexthops now {lab.nexthops()}")
        assert lab.nexthops() == ["203.0.113.2", "203.0.113.3"]
        lab.pulses.pop("d1").stop()
        time.sleep(scaled(2))
        report(f"graceful leave: {len(traffic.broken)}/50 held connections broke "
               f"({traffic.requests} requests answered)")
        assert traffic.broken == {}
        lab.start_pulse("d1")
        report(f"return: d1 announced again after {lab.wait_nexthops(3, timeout=120):.1f}s")
        time.sleep(scaled(3))
        report(f"return: {len(traffic.broken)}/50 held connections broke ({traffic.requests} requests)")
        assert traffic.broken == {}


def test_a_publish_on_the_console_reaches_every_director(lab: EcmpLab,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from argon2 import PasswordHasher

    from piranha_web.services import users
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    client, token = lab.console()
    auth = {"Authorization": f"Bearer {token}"}
    before = lab.status("d1")["serial_no"]
    seen: dict[str, dict[str, float]] = {"arrived": {}, "applied": {}}
    done = threading.Event()

    def watch() -> None:          # when each director's lvs.cf holds the revision, and its pulse runs it
        while not done.is_set() and len(seen["applied"]) < len(DIRECTORS):
            for name in DIRECTORS:
                if name not in seen["arrived"] and f"serial_no = {before + 1}\n" in lab.cfs[name].read_text():
                    seen["arrived"][name] = time.time()
                if name not in seen["applied"] and lab.status(name).get("serial_no", 0) > before:
                    seen["applied"][name] = time.time()
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        response = client.patch("/api/v1/settings", json={"bgp_bfd": True}, headers=auth)  # BFD everywhere
        assert response.status_code == 200, response.get_json()
        wait_until(lambda: len(seen["applied"]) == len(DIRECTORS), timeout=scaled(10),
                   what="every director running the revision")
    finally:
        done.set()
        watcher.join(10)
    publish = response.get_json()["publish"]
    serial = publish["serial_no"]
    written = lab.cfs["d1"].stat().st_mtime
    took = {what: {n: round(at - written, 2) for n, at in sorted(times.items())}
            for what, times in seen.items()}
    results = {d["director"]: d["result"] for d in publish["pulse"]["directors"]}
    report(f"publish of serial_no {serial} on d1's console: lvs.cf on each director after "
           f"{took['arrived']} s, "
           f"in force (pulse status) after {took['applied']} s; the publish reported {results}")
    assert {lab.cfs[n].read_text() for n in DIRECTORS} == {lab.cfs["d1"].read_text()}
    assert max(took["arrived"].values()) <= scaled(1.0), took
    assert results == {name: "applied" for name in DIRECTORS}
    assert all(lab.status(n)["serial_no"] == serial for n in DIRECTORS)

    def cluster_serials() -> dict[str, object]:
        found = client.get("/api/v1/cluster", headers=auth).get_json()
        return {d["name"]: d["serial_no"] for d in found["directors"]}
    wait_until(lambda: cluster_serials() == {n: serial for n in DIRECTORS}, timeout=scaled(5),
               what="CLUSTER showing the same serial_no for every director")
    # The router's side of BFD; the directors' BIRDs have it from the publish.
    lab.router_bfd(True)
    wait_until(lambda: lab.router_bfd_up() == len(DIRECTORS), timeout=scaled(30), interval=0.5,
               what="BFD up on the router's three sessions")
    lab.wait_nexthops(3, timeout=60)
    report(f"BFD up on all {len(DIRECTORS)} sessions; nexthops {lab.nexthops()}")


def test_an_abrupt_death_takes_bird_along_and_the_router_withdraws(lab: EcmpLab) -> None:
    with HeldTraffic(lab.ns("client")) as traffic:
        time.sleep(scaled(1))
        if lab.bfd:
            wait_until(lambda: lab.router_bfd_up() == len(DIRECTORS), timeout=30, interval=0.5,
                       what="BFD up on the router's three sessions")
            report("router's BFD sessions before the cut:\n" + lab.router_bird("show", "bfd", "sessions"))
        cut = 0.0
        try:
            cut = lab.cut_link("d2")         # d2 is gone: no FIN, no BGP message
            t0 = time.monotonic()
            bird = lab.kill_pulse("d2")
            wait_until(lambda: not os.path.exists(f"/proc/{bird}") or _zombie(bird), timeout=10,
                       interval=0.05, what="BIRD dying with pulse")
            report(f"kill -9 pulse on d2: its BIRD (pid {bird}) was gone {time.monotonic() - t0:.2f}s later")
            lab.wait_nexthops(2, timeout=hold_time() + scaled(10))
            polled = time.time() - cut
            took = lab.withdrawn_at(DIRECTORS["d2"], cut) - cut
            detection = (f"BFD, {5 * bfd_interval_ms() / 1000} s detection, bound {scaled(1.0)} s" if lab.bfd
                         else f"hold time {hold_time()} s")
            report(f"abrupt death: router withdrew d2 {took:.2f}s after its link was cut ({detection}; "
                   f"seen by polling ip route after {polled:.2f}s)")
            time.sleep(scaled(3))
            broken = len(traffic.broken)
            errors = sorted(set(traffic.broken.values()))[:3]
            report(f"abrupt death: {broken}/50 held connections broke: {errors}")
        finally:
            if cut:
                log = lab.router_log(cut, DIRECTORS["d2"])
                report("router's BIRD log on d2 after the cut:\n" + "\n".join(log))
            lab.run("d2", ["ip", "link", "set", "eth0", "up"])
            lab.run("d2", ["ip", "route", "replace", "default", "via", "203.0.113.254"])
            if "d2" not in lab.pulses:
                lab.start_pulse("d2")
            report(f"d2 back after {lab.wait_nexthops(3, timeout=120):.1f}s")
        assert broken <= 5, traffic.broken
        assert took <= (scaled(1.0) if lab.bfd else hold_time() + scaled(1.0))


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (OSError, IndexError):
        return True


def test_sigterm_stops_bird_too(lab: EcmpLab) -> None:
    bird = int(_status_cluster(lab, "d3")["bird"]["pid"])
    lab.pulses["d3"].signal(signal.SIGTERM)
    lab.pulses.pop("d3").popen.wait(scaled(30))
    assert not os.path.exists(f"/proc/{bird}") or _zombie(bird)
    assert lab.nexthops() == ["203.0.113.1", "203.0.113.2"]
