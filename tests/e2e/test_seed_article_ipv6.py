"""The seed article's experiment in IPv6, end to end: the console's labels, real IPVS, the client's browser.

The seed lab in IPv6 (tests/support/topology.py, PLAN6; 2001:db8::/32 only)::

    client 2001:db8:c::100 ── director eth0 2001:db8:c::1 (VIP 2001:db8:10::10/64, brought up by pulse)
                              director eth1 2001:db8:1::253 (nat_router6 2001:db8:1::254/64, by pulse)
                              ── rs1 2001:db8:1::1, rs2 2001:db8:1::2 (default route via 2001:db8:1::254)

1. ``piranha-passwd``, ``piranha-gui`` on its default lvs.cf path; chromium
   in the director namespace logs in and fills, through the panels' labels,
   GLOBAL SETTINGS (NAT, "NAT Router IPv6 address" 2001:db8:1::254, prefix
   length 64, device eth1; no IPv4 NAT router), the VIRTUAL SERVER ``www``
   (2001:db8:10::10, mask 64, device eth0, port 80, rr) and its two REAL
   SERVERs; ACCEPT writes lvs.cf.
2. ``pulse -n --backend ipvs`` brings up the VIP and the gateway (no DAD)
   and the IPv6 IPVS service; the client's chromium loads
   http://[2001:db8:10::10]/ and refreshes: the pages alternate.
   CONTROL/MONITORING, pulse's status and its log write the addresses as
   ``[2001:db8:10::10]:80``.
3. Firewall Mark 80 is ACCEPTed on the same virtual server (the article's
   MARK): pulse keys the service by the mark with an ip6 mark rule, and the
   client's refreshes still alternate.

The harness is the IPv4 scenario's (tests/support/seedscenario.py); what it
checks there (the reload in place, a real server going down) and the IPv6
failover (tests/ipvs/test_failover_ipv6.py) are not repeated.  Artifacts:
test-artifacts/e2e-ipv6/.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support.console import Console
from tests.support.marks import has_mark_rule, mark_rules
from tests.support.processes import wait_until
from tests.support.seedscenario import (Scenario, client_browser_warm, client_refreshes_alternate,
                                        seed_scenario, start_console, start_pulse, wait_control)
from tests.support.topology import PLAN6

pytestmark = [pytest.mark.ipvs, pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e-ipv6"
V6 = PLAN6
PORT_SERVICE = f"TCP [{V6.vip}]:80"
MARK_SERVICE = "FWM 80 IPv6"
WRITTEN_REALS = [f"[{addr}]:80" for addr in V6.real_servers.values()]


@pytest.fixture
def scenario6(tmp_path: Path) -> Iterator[Scenario]:
    """The seed lab in IPv6 with its two real servers; everything torn down afterwards."""
    with seed_scenario(tmp_path, ARTIFACTS, (V6,)) as sc:
        yield sc


@pytest.mark.timeout(900)
def test_seed_article_scenario_in_ipv6(scenario6: Scenario, playwright_instance: Any) -> None:
    sc = scenario6
    sc.log(f"lab up: client {V6.client}, director {V6.director_public}/{V6.director_private}, "
           f"rs1 {V6.real_servers['rs1']}, rs2 {V6.real_servers['rs2']} (namespaces {sc.lab.prefix}*)")
    console = start_console(sc, playwright_instance)
    configure_seed6(console)
    check_lvs_cf6(sc)
    client_page = client_browser_warm(sc, playwright_instance)
    start_pulse(sc, PORT_SERVICE)
    check_director_state6(sc)
    client_refreshes_alternate(sc, client_page, 3)
    control_writes_addresses_in_brackets(sc, console)
    fwmark_service_alternates(sc, console, client_page)
    assert sc.pulse.alive() and sc.gui.alive()  # type: ignore[union-attr]
    sc.log("IPv6 scenario complete")


def configure_seed6(console: Console) -> None:
    """GLOBAL SETTINGS with the IPv6 NAT router, ``www`` on the IPv6 VIP, two real servers: by label."""
    console.global_settings_labelled("NAT", {
        "Primary server public IP": V6.director_public, "NAT Router IPv6 address": V6.nat_router,
        "NAT Router IPv6 prefix length": str(V6.plen), "NAT Router IPv6 device": "eth1"})
    console.add_virtual_server_labelled({
        "Name": "www", "Application port": "80", "Virtual IP Address": V6.vip, "Device": "eth0",
        "Virtual IP Network Mask": str(V6.plen), "Protocol": "tcp", "Scheduling": "rr"})
    console.add_real_server("www", "real", V6.real_servers["rs1"])
    console.add_real_server("www", "real1", V6.real_servers["rs2"])
    for name in ("real", "real1"):
        assert console.toggle_real_server("www", name) == "up"
    assert console.toggle_virtual_server("www") == "up"


def check_lvs_cf6(sc: Scenario) -> None:
    """The console wrote nat_router6 (no IPv4 gateway) and the VIP with its prefix length."""
    from piranha_web import lvscf

    text = sc.lvs_cf.read_text()
    sc.log(f"lvs.cf written by the console:\n{text}")
    assert f"nat_router6 = {V6.nat_router} eth1" in text and f"nat_nmask6 = {V6.plen}" in text, text
    cfg = lvscf.load(text)
    assert (cfg.network, cfg.nat_router) == ("nat", None)
    (vs,) = cfg.virtuals
    assert (vs.address, vs.device, vs.vip_nmask, vs.port, vs.fwmark, vs.scheduler, vs.active) == \
        (V6.vip, "eth0", str(V6.plen), 80, None, "rr", True)
    assert sorted((s.address, s.active) for s in vs.servers) == \
        sorted((addr, True) for addr in V6.real_servers.values())


def check_director_state6(sc: Scenario) -> None:
    """pulse brought up the VIP and nat_router6 with their prefix, usable at once, and the IPv6 service."""
    addrs = sc.director(["ip", "-6", "-o", "addr", "show"])
    sc.log(f"director addresses:\n{addrs}")
    assert re.search(rf"eth0\s+inet6 {V6.vip}/{V6.plen} ", addrs), addrs
    assert re.search(rf"eth1\s+inet6 {V6.nat_router}/{V6.plen} ", addrs), addrs
    assert "tentative" not in addrs
    table = sc.director(["ipvsadm", "-Ln"])
    sc.log(f"ipvsadm -Ln:\n{table}")
    assert f"TCP  [{V6.vip}]:80 rr" in table and all(f"-> {w}" in table for w in WRITTEN_REALS), table
    assert "Masq" in table


def control_writes_addresses_in_brackets(sc: Scenario, console: Console) -> None:
    """CONTROL/MONITORING, pulse's status and its log: ``[2001:db8:10::10]:80``."""
    control = wait_control(sc, console, lambda c: all(c["health"].get(a) == "UP"
                                                      for a in V6.real_servers.values()),
                           "both IPv6 real servers UP")
    sc.log(f"CONTROL/MONITORING: daemon {control['daemon']!r}, health {control['addresses']}\n"
           f"{control['table']}")
    assert "running" in control["daemon"], control
    assert re.search(rf"^TCP \[{re.escape(V6.vip)}\]:80 rr$", control["table"], re.M), control["table"]
    assert all(re.search(rf"-> {re.escape(w)}\s+Masq", control["table"]) for w in WRITTEN_REALS)
    assert sorted(control["addresses"]) == sorted(WRITTEN_REALS), control["addresses"]
    console.shot("control-ipv6", full_page=True)
    assert sc.service(PORT_SERVICE), sc.status().get("table")
    log = sc.pulse.log_path.read_text(errors="replace")  # type: ignore[union-attr]
    assert all(f"www/{name} {w} is UP" in log for name, w in zip(("real", "real1"), WRITTEN_REALS)), log


def fwmark_service_alternates(sc: Scenario, console: Console, page: Any) -> None:
    """Firewall Mark 80 ACCEPTed: an IPv6 FWM service with an ip6 mark rule; refreshes alternate."""
    console.edit_virtual_server("www", {}, {}, labelled={"Firewall Mark": "80"})
    sc.wait_dests(MARK_SERVICE, "pulse to key www by firewall mark 80")
    wait_until(lambda: not sc.service(PORT_SERVICE) or sc.pulse_died(), timeout=30, interval=0.5,
               what="the plain-port service to go")
    marks = mark_rules(lambda argv: sc.director(list(argv)), "ip6")
    table = sc.director(["ipvsadm", "-Ln"])
    sc.log(f"pulse's ip6 mark rules:\n{marks}\nipvsadm -Ln:\n{table}")
    assert has_mark_rule(marks, V6.vip, 80, 0x50), marks
    assert "FWM  80 IPv6 rr" in table and all(f"-> {w}" in table for w in WRITTEN_REALS), table
    client_refreshes_alternate(sc, page, 2, reload_only=True, tag="client-fwmark")
