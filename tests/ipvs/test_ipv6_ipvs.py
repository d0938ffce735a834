"""IPv6 under real IPVS: the seed article's scenario in IPv6, dual stack, and DR (marker ``ipvs``).

The seed lab dual-stacked (tests/support/topology.py, PLAN6 and PLAN4): one
pulse in the director namespace runs, in file order,

1. the article's NAT scenario in IPv6 (VIP 2001:db8:10::10 on the public
   side, ``nat_router6`` 2001:db8:1::254 as the real servers' gateway, rr):
   a plain-port service, then the same virtual keyed by fwmark 80 (ip6
   marks); the client's requests alternate between the two real servers;
2. dual stack: an IPv4 and an IPv6 virtual server at once in front of the
   same dual-stacked real servers; both serve; one real server down leaves
   both.

DR in IPv6 runs on its own one-segment lab: the real servers hold the VIP on
lo and answer the client directly (the director does not forward).

    scripts/ipvs-kernel -- .venv/bin/python -m pytest -m ipvs tests/ipvs/test_ipv6_ipvs.py
"""
from __future__ import annotations

import dataclasses
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.marks import has_mark_rule, mark_rules
from tests.support.processes import wait_until
from tests.support.seedpulse import Pulse, seed_lvs_cf
from tests.support.client import fetch_many
from tests.support.topology import (PAGES, AddressPlan, PLAN4, PLAN6, REALSERVER_SCRIPT, Lab, SeedTopology,
                                    reap_stale_namespaces, topology_fixture, url_host)

pytestmark = pytest.mark.ipvs

dual = topology_fixture("module", plans=(PLAN6, PLAN4))   # IPv6 first: the client helpers aim at it
V6, V4 = PLAN6, PLAN4
SVC6 = f"TCP [{V6.vip}]:80"
SVC4 = f"TCP {V4.vip}:80"
BOTH = set(PAGES.values())


def both_dests(plan: AddressPlan) -> set[str]:
    return set(plan.real_servers.values())


def alternates(names: list[str]) -> bool:
    """Round robin over two servers: ABAB."""
    return (len(names) == 4 and set(names) == BOTH and names[0] == names[2] and names[1] == names[3])


@pytest.fixture(scope="module")
def pulse(dual: SeedTopology, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pulse]:
    p = Pulse(dual, tmp_path_factory.mktemp("pulse6"))
    p.write(seed_lvs_cf(1, plans=(V6,)))
    p.start()
    try:
        yield p
    finally:
        if p.proc is not None and p.proc.alive():
            p.proc.stop()


def wait_dests(pulse: Pulse, service: str, addrs: set[str], what: str) -> None:
    def ready() -> bool:
        if pulse.proc is not None and not pulse.proc.alive():
            raise AssertionError(f"pulse exited:\n{pulse.proc.log_text()}")
        return set(pulse.dests(service)) == addrs
    try:
        wait_until(ready, timeout=60, interval=0.3, what=what)
    except TimeoutError as exc:
        log = pulse.proc.log_text() if pulse.proc is not None else ""
        table = pulse.status().get("table")
        raise AssertionError(f"{exc}\nstatus table: {table}\npulse log:\n{log}") from None


def test_seed_scenario_in_ipv6_plain_port_then_fwmark(pulse: Pulse, dual: SeedTopology) -> None:
    wait_dests(pulse, SVC6, both_dests(V6), "both IPv6 real servers in the plain-port service")
    names = dual.client_fetch_many(4)
    assert alternates(names), names
    table = pulse.ipvsadm()
    assert f"TCP  [{V6.vip}]:80 rr" in table and f"-> [{V6.real_servers['rs1']}]:80" in table, table
    assert re.search(r"Masq\s+1", table), table
    addrs = pulse.run("ip", "-o", "-6", "addr", "show")
    assert re.search(rf"eth0\s+inet6 {V6.vip}/64 ", addrs), addrs          # VIP on the public side
    assert re.search(rf"eth1\s+inet6 {V6.nat_router}/64 ", addrs), addrs   # nat_router6: the gateway
    assert "tentative" not in addrs                                        # nodad: serving at once

    # the same virtual keyed by firewall mark 80: an IPv6 FWM service and an ip6 mark rule
    pulse.write(seed_lvs_cf(2, plans=(V6,), fwmark=80))
    wait_dests(pulse, "FWM 80 IPv6", both_dests(V6), "the IPv6 fwmark service")
    wait_until(lambda: SVC6 not in {s["service"] for s in pulse.status()["table"]}, timeout=15,
               what="the plain-port service to go")
    marks = mark_rules(lambda argv: pulse.run(*argv), "ip6")
    assert has_mark_rule(marks, V6.vip, 80, 0x50), marks
    table = pulse.ipvsadm()
    assert "FWM  80 IPv6 rr" in table, table
    names = dual.client_fetch_many(4)
    assert alternates(names), names


def test_dual_stack_both_families_serve_and_lose_a_server_together(pulse: Pulse, dual: SeedTopology) -> None:
    pulse.write(seed_lvs_cf(3, plans=(V6, V4)))
    wait_dests(pulse, SVC6, both_dests(V6), "the IPv6 virtual server")
    wait_dests(pulse, SVC4, both_dests(V4), "the IPv4 virtual server")
    v6 = dual.client_fetch_many(4)
    v4 = dual.client_fetch_many(4, f"http://{V4.vip}/")
    assert alternates(v6) and alternates(v4), (v6, v4)
    table = pulse.ipvsadm()
    assert f"TCP  [{V6.vip}]:80 rr" in table and f"TCP  {V4.vip}:80 rr" in table, table

    dual.stop_real_server("rs2")               # one process answers both families
    wait_dests(pulse, SVC6, {V6.real_servers["rs1"]}, "rs2 out of the IPv6 service")
    wait_dests(pulse, SVC4, {V4.real_servers["rs1"]}, "rs2 out of the IPv4 service")
    assert dual.client_fetch_many(3) == [PAGES["rs1"]] * 3
    assert dual.client_fetch_many(3, f"http://{V4.vip}/") == [PAGES["rs1"]] * 3
    dual.start_real_server("rs2")
    dual.wait_real_servers(["rs2"])
    wait_dests(pulse, SVC6, both_dests(V6), "rs2 back in the IPv6 service")
    wait_dests(pulse, SVC4, both_dests(V4), "rs2 back in the IPv4 service")

    assert pulse.proc is not None
    pulse.proc.signal(signal.SIGTERM)
    proc = pulse.proc
    wait_until(lambda: not proc.alive(), timeout=20, interval=0.2, what="pulse to exit")
    assert V6.vip not in pulse.run("ip", "-o", "-6", "addr", "show")
    assert f"[{V6.vip}]" not in pulse.ipvsadm()


# -- DR --------------------------------------------------------------------------------------
DR = dataclasses.replace(PLAN6, real_servers={"rs1": "2001:db8:c::11", "rs2": "2001:db8:c::12"})


class DrLab(Lab):
    """Client, director and two real servers on one segment; the real servers hold the VIP on lo."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, segments=("pub",))
        self.add_host("client", [("eth0", "pub", f"{DR.client}/64")], routes=[(str(DR.vip_prefix), "eth0")])
        self.add_host("director", [("eth0", "pub", f"{DR.director_public}/64")])
        for role, addr in DR.real_servers.items():
            self.add_host(role, [("eth0", "pub", f"{addr}/64")])

    def build(self) -> None:
        super().build()
        for role in DR.real_servers:
            self.run(role, ["ip", "addr", "add", f"{DR.vip}/128", "dev", "lo", "nodad"])
            self.start(role, f"{role}-http", [sys.executable, "-I", str(REALSERVER_SCRIPT),
                                              "--bind", "::", "--port", "80", "--text", PAGES[role]])
        # the director routes nothing: replies can only go from the real servers to the client
        self.sysctl("director", "net.ipv6.conf.all.forwarding", "0")


@pytest.fixture
def dr_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DrLab]:
    from tests.support.ipvs_runner import require_ipvs
    require_ipvs()
    reap_stale_namespaces()
    lab = DrLab(tmp_path_factory.mktemp("dr6"))
    try:
        lab.build()
        yield lab
    finally:
        lab.teardown()


def test_direct_routing_in_ipv6(dr_lab: DrLab, tmp_path_factory: pytest.TempPathFactory) -> None:
    pulse = Pulse(dr_lab, tmp_path_factory.mktemp("pulse-dr6"))
    pulse.write(seed_lvs_cf(1, plans=(DR,), network="direct"))
    pulse.start()
    wait_dests(pulse, SVC6, set(DR.real_servers.values()), "both real servers in the DR service")
    assert "Route" in pulse.ipvsadm()
    names = fetch_many(dr_lab.ns("client"), f"http://{url_host(DR.vip)}/", 4)
    assert alternates(names), names
    # the real servers saw the client's own address (no NAT) ...
    seen = [(dr_lab.workdir / "logs" / f"{role}-http.log").read_text() for role in DR.real_servers]
    assert all(f"{DR.client} \"GET / HTTP/1.1\" 200" in text for text in seen), seen
    # ... and answered it themselves: the director forwards nothing
    assert pulse.run("sysctl", "-n", "net.ipv6.conf.all.forwarding").strip() == "0"
    assert pulse.proc is not None
    pulse.proc.stop()
