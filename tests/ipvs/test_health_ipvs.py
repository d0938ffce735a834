"""Health checks under real IPVS: http status, fall, rise, slow start, agent weights and drain, load.

One pulse in the seed lab runs three virtual servers on the VIP:

* ``www`` (port 80): ``check = agent`` on port 9999 of each real server;
* ``web`` (port 8080): ``check = http``, ``check_status = 200``, fall 3,
  rise 2, slow start 4 s;
* ``load`` (port 8082): no check, ``load_monitor = uptime`` through a stub
  ``rsh_command`` that prints the load the test chooses.

The real servers' health endpoints (tests/support/healthserver.py) are
steered through files: ``NAME.fail`` (answer 500 that many times) and
``NAME.agent`` (the agent's reply).  Tests run in file order on one pulse.
"""
from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from piranha_web.pulse.health.load import nanny_weight
from tests.support.processes import wait_until
from tests.support.seedpulse import pulse_argv
from tests.support.topology import REAL_SERVERS, VIP, SeedTopology

pytestmark = pytest.mark.ipvs

HEALTHSERVER = Path(__file__).parents[1] / "support" / "healthserver.py"
RS1 = "192.0.2.1"
INTERVAL = 1.0   # TCG guests are slow: a 0.5 s check timeout fails healthy servers


def lvs_cf(stub: Path) -> str:
    def servers(weight: int) -> str:
        return "".join(f"""    server {role} {{
        address = {addr}
        active = 1
        weight = {weight}
    }}
""" for role, (addr, _) in REAL_SERVERS.items())

    def virtual(name: str, port: int, keys: str, weight: int) -> str:
        return f"""virtual {name} {{
    active = 1
    address = {VIP} eth0:1
    vip_nmask = 255.255.255.0
    port = {port}
    scheduler = wlc
    protocol = tcp
    timeout = {INTERVAL}
    reentry = 1
{keys}{servers(weight)}}}
"""
    checks = {"www": "    check = agent\n    agent_port = 9999\n",
              "web": "    check = http\n    check_status = 200\n    fall = 3\n    rise = 2\n"
                     "    slowstart = 4\n",
              "load": "    check = none\n    load_monitor = uptime\n"}
    return f"""serial_no = 1
primary = 203.0.113.1
service = lvs
rsh_command = {stub}
backup_active = 0
network = nat
nat_router = 192.0.2.254 eth1:1
nat_nmask = 255.255.255.0
""" + virtual("www", 80, checks["www"], 10) + virtual("web", 8080, checks["web"], 32) + \
        virtual("load", 8082, checks["load"], 10)


class Lab:
    """pulse, the health endpoints and the files that steer them."""

    def __init__(self, seed: SeedTopology, work: Path) -> None:
        self.seed, self.work = seed, work

    def set(self, name: str, text: str) -> None:
        tmp = self.work / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(self.work / name)

    def weights(self, port: int) -> dict[str, int]:
        """real server address -> kernel weight of the VIP:port service (ipvsadm -Ln)."""
        out = self.seed.run("director", ["ipvsadm", "-Ln", "-t", f"{VIP}:{port}"], timeout=30).stdout
        return {m.group(1): int(m.group(2))
                for m in re.finditer(r"->\s+([\d.]+):\d+\s+Masq\s+(\d+)", out)}

    def conns(self, port: int) -> int:
        out = self.seed.run("director", ["ipvsadm", "-Ln", "-t", f"{VIP}:{port}"], timeout=30).stdout
        return sum(int(m.group(1)) for m in re.finditer(r"Masq\s+\d+\s+(\d+)", out))


@pytest.fixture(scope="module")
def lab(seed: SeedTopology, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    work = tmp_path_factory.mktemp("health")
    stub = work / "fake-rsh"
    stub.write_text("#!/bin/sh\n"
                    f"echo \" 12:00:00 up 1 day,  load average: $(cat {work}/load), 0.50, 0.50\"\n")
    stub.chmod(0o755)
    lab = Lab(seed, work)
    lab.set("load", "0.00")
    procs = [seed.start(role, f"{role}-health", [sys.executable, "-I", str(HEALTHSERVER), "--bind", addr,
                                                 "--dir", str(work), "--name", role])
             for role, (addr, _) in REAL_SERVERS.items()]
    (work / "lvs.cf").write_text(lvs_cf(stub))
    pulse = seed.start("director", "pulse", pulse_argv(work / "lvs.cf", work / "run", "--load-period", "1"))

    def ready() -> bool:
        if not pulse.alive():
            raise RuntimeError(f"pulse died:\n{pulse.log_text()}")
        return len(lab.weights(8080)) == 2 and len(lab.weights(80)) == 2
    try:
        try:
            wait_until(ready, timeout=240, interval=0.5, what="both real servers in www and web")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\npulse log:\n{pulse.log_text()[-4000:]}") from None
        yield lab
    finally:
        pulse.stop()
        for proc in procs:
            proc.stop()


def test_fall_3_keeps_a_server_failing_twice(lab: Lab) -> None:
    lab.set("rs1.fail", "2")
    deadline = time.monotonic() + 6 * INTERVAL + 5
    while time.monotonic() < deadline:
        assert RS1 in lab.weights(8080)
        if (lab.work / "rs1.fail").read_text() == "0":
            break
    time.sleep(3 * INTERVAL)                       # the next checks pass
    assert RS1 in lab.weights(8080)


def test_http_500_removes_and_rise_restores_then_slow_start_climbs(lab: Lab) -> None:
    lab.set("rs1.fail", "1000000")
    wait_until(lambda: RS1 not in lab.weights(8080), timeout=20, interval=0.1, what="rs1 removed on 500")
    lab.set("rs1.fail", "0")
    wait_until(lambda: RS1 in lab.weights(8080), timeout=20, interval=0.1, what="rs1 back after rise")
    seen = [lab.weights(8080).get(RS1, 0)]
    t0 = time.monotonic()
    while time.monotonic() - t0 < 7 and seen[-1] < 32:
        seen.append(lab.weights(8080).get(RS1, 0))
        time.sleep(0.3)
    assert seen[0] < 32 and seen[-1] == 32, seen
    assert seen == sorted(seen) and len(set(seen)) >= 3, seen


def test_agent_halves_the_weight_and_drain_keeps_connections(lab: Lab) -> None:
    lab.set("rs1.agent", "50%")
    wait_until(lambda: lab.weights(80).get(RS1) == 5, timeout=20, interval=0.1, what="agent 50%: weight 5")
    assert lab.weights(80)["192.0.2.2"] == 10
    with lab.seed.client_hold_connection() as held:
        first = held.request()
        lab.set("rs1.agent", "drain")
        lab.set("rs2.agent", "drain")
        wait_until(lambda: lab.weights(80) == {RS1: 0, "192.0.2.2": 0}, timeout=20, interval=0.1,
                   what="both drained to weight 0")
        assert held.request() == first             # the connection lives on
        assert lab.conns(80) >= 1
    lab.set("rs1.agent", "ready 100%")    # ready clears drain; the last percentage stays until replaced
    lab.set("rs2.agent", "up")
    wait_until(lambda: lab.weights(80) == {RS1: 10, "192.0.2.2": 10}, timeout=20, interval=0.1,
               what="ready: full weight again")


def test_load_monitor_follows_nannys_formula(lab: Lab) -> None:
    rising = {10}
    w = 10
    while w < 100:
        w = nanny_weight(w, 10, 0.0)
        rising.add(w)
    wait_until(lambda: lab.weights(8082).get(RS1, 0) >= 20, timeout=30, interval=0.2,
               what="load 0: weight up")
    assert set(lab.weights(8082).values()) <= rising
    lab.set("load", "9.00")
    wait_until(lambda: lab.weights(8082) == {RS1: 10, "192.0.2.2": 10}, timeout=180, interval=0.2,
               what="load 9: back to the configured weight")
