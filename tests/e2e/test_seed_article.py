"""The seed article's experiment, end to end, through the product's entry points.

Hanbit 2003 ("LVS with Piranha on Red Hat AS 2.1"), replayed in namespaces
(addresses mapped to TEST-NET, see tests/support/topology.py):

1. ``piranha-passwd --stdin`` sets the console password;
   ``piranha-gui --bind 127.0.0.1:3636`` runs in the director namespace.
2. A browser in the director namespace logs in and configures GLOBAL
   SETTINGS (NAT, NAT router 192.0.2.254/24 on eth1:1), the virtual server
   ``www`` (203.0.113.10 on eth0:1, port 80, fwmark 80, rr) with real servers
   192.0.2.1 and 192.0.2.2, activates everything, ACCEPT on each panel.
3. ``pulse -n --backend ipvs`` starts; it brings up eth0:1/eth1:1, the MARK
   rule and the IPVS service (nothing is configured by hand).
4. A browser in the client namespace ("samba") loads http://203.0.113.10/
   and refreshes 4 times: the two real servers' pages alternate.
   CONTROL/MONITORING shows both real servers up and the table with
   connections.
5. Afterword, improved: scheduler wrr with weights 3 and 1 is ACCEPTed while
   pulse keeps running (same pid, no restart); 8 requests split 6:2 and a TCP
   connection opened before the change keeps working.
6. One real server is stopped: the console shows it down and requests go to
   the other.

7. The same article in IPv6 on the same director (the lab is dual-stacked,
   2001:db8::/32, tests/support/topology.py PLAN6): through the panels'
   labels, GLOBAL SETTINGS gets the IPv6 NAT router (nat_router6
   2001:db8:1::254/64 on eth1) and a virtual server ``www6`` (2001:db8:10::10,
   mask 64, device eth0, port 80, rr) its two real servers 2001:db8:1::1 and
   2001:db8:1::2; ACCEPT writes lvs.cf, pulse (still the same process)
   programs the IPv6 service and the client's browser at
   http://[2001:db8:10::10]/ sees the pages alternate. CONTROL/MONITORING,
   pulse's status and its log write ``[2001:db8:10::10]:80``. Then Firewall
   Mark 80 is ACCEPTed on ``www6``: an IPv6 FWM service with an ip6 mark
   rule, and the refreshes still alternate.

Both tests share the lab, the console, the client's browser and pulse
(module fixtures; the IPv6 test also runs alone: it then starts pulse
itself). The steps they share are in tests/support/seedscenario.py.
piranha-gui and pulse run with the product's default lvs.cf path: each in a
private mount namespace where /etc/sysconfig/ha is the scenario's directory
(tests/support/sysconfig_ns.py), so the console shows /etc/sysconfig/ha/lvs.cf.
Screenshots of each step go to test-artifacts/e2e/; CONTROL/MONITORING with
real IPVS data is also saved under test-artifacts/e2e/docs/ (after checking
that the page shows no temporary path), and copied to docs/ when
PIRANHA_E2E_DOCS=1 (how docs/console-control-monitoring.png was made; the
other panels' images come from tests/docs/test_panel_screenshots.py).
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support import docshots
from tests.support.console import Console
from tests.support.marks import has_mark_rule, mark_rules
from tests.support.processes import wait_until
from tests.support.seedscenario import (Scenario, client_browser_warm, client_refreshes_alternate,
                                        seed_scenario, start_console, start_pulse, wait_control)
from tests.support.topology import (CLIENT_IP, DIRECTOR_PUBLIC_IP, NAT_ROUTER_IP, PLAN4, PLAN6, REAL_SERVERS,
                                    VIP)

pytestmark = [pytest.mark.ipvs, pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
RS1, RS2 = REAL_SERVERS["rs1"], REAL_SERVERS["rs2"]  # (address, page text)
SERVICE = "FWM 80"
V6 = PLAN6
REALS6 = set(V6.real_servers.values())
PORT_SERVICE6, MARK_SERVICE6 = f"TCP [{V6.vip}]:80", "FWM 80 IPv6"
WRITTEN6 = [f"[{addr}]:80" for addr in V6.real_servers.values()]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """The seed lab, dual-stacked (IPv4 first), with its two real servers; torn down after the module."""
    with seed_scenario(tmp_path_factory.mktemp("seed"), ARTIFACTS, (PLAN4, PLAN6)) as sc:
        sc.log(f"lab up: client {CLIENT_IP} and {V6.client}, director {DIRECTOR_PUBLIC_IP}/"
               f"{sc.lab.director_private_ip} and {V6.director_public}/{V6.director_private}, "
               f"rs1 {RS1[0]} {V6.real_servers['rs1']}, rs2 {RS2[0]} {V6.real_servers['rs2']} "
               f"(namespaces {sc.lab.prefix}*)")
        yield sc


@pytest.fixture(scope="module")
def playwright_instance() -> Iterator[Any]:
    """One Playwright driver for the module (both browsers hang off it)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def console(scenario: Scenario, playwright_instance: Any) -> Console:
    """Article steps 1-3: piranha-passwd, piranha-gui, the director's browser logged in."""
    return start_console(scenario, playwright_instance)


@pytest.fixture(scope="module")
def client_page(scenario: Scenario, playwright_instance: Any, console: Console) -> Any:
    """The client's ("samba") browser, warm before pulse starts: a cold start is heavy."""
    return client_browser_warm(scenario, playwright_instance)


@pytest.mark.timeout(900)
def test_seed_article_scenario(scenario: Scenario, console: Console, client_page: Any) -> None:
    sc = scenario
    configure_seed(console)                                               # article step 4
    check_lvs_cf(sc)
    pulse_pid = start_pulse(sc, SERVICE, {RS1[0], RS2[0]})                # steps 5-11
    check_director_state(sc)
    client_refreshes_alternate(sc, client_page, 5)                        # step 12
    control_shows_both_up_with_connections(sc, console)
    afterword_wrr_without_restart(sc, console, pulse_pid)                 # step 13, improved
    failed_server_is_taken_out(sc, console)
    assert sc.pulse.alive() and sc.gui.alive()  # type: ignore[union-attr]
    sc.log("scenario complete")


@pytest.mark.timeout(900)
def test_seed_article_scenario_in_ipv6(scenario: Scenario, console: Console, client_page: Any) -> None:
    sc = scenario
    for role in set(REAL_SERVERS) - set(sc.lab.servers):                  # the IPv4 run ends with rs2 stopped
        sc.lab.start_real_server(role)
    sc.lab.wait_real_servers()
    configure_seed6(console)
    check_lvs_cf6(sc)
    if sc.pulse is None:                                                  # run alone
        start_pulse(sc, PORT_SERVICE6, REALS6)
    sc.wait_dests(PORT_SERVICE6, REALS6, "pulse to serve www6 on its plain port")
    check_director_state6(sc)
    client_refreshes_alternate(sc, client_page, 3, vip=V6.vip, tag="client6")
    control_writes_addresses_in_brackets(sc, console)
    fwmark_service_alternates(sc, console, client_page)
    assert sc.pulse.alive() and sc.gui.alive()  # type: ignore[union-attr]
    sc.log("IPv6 scenario complete")


# -- steps ------------------------------------------------------------------
def control_shows_both_up_with_connections(sc: Scenario, console: Console) -> None:
    """CONTROL/MONITORING: pulse running, both UP, the FWM 80 table with connections."""
    control = wait_control(sc, console, lambda c: all(c["health"].get(a) == "UP" for a in (RS1[0], RS2[0])),
                           "both real servers UP")
    sc.log(f"CONTROL/MONITORING: daemon {control['daemon']!r}\n{control['table']}")
    assert "running" in control["daemon"] and re.search(r"FWM\s+80\s+rr", control["table"]), control
    # the console shows ActiveConn/InActConn (closed ones expire after a while);
    # the kernel's cumulative counters must cover the 5 page loads
    assert table_connections(control["table"]) >= 1, control["table"]
    stats = sc.director(["ipvsadm", "-Ln", "--stats"])
    sc.log(f"ipvsadm -Ln --stats:\n{stats}")
    assert dest_conns(stats) >= 5
    docshots.capture(console.page, ARTIFACTS / "docs", "console-control-monitoring.png", console.forbidden)
    console.open_virtual_servers()
    console.shot("virtual-servers")
    console.open_real_servers("www")
    console.shot("real-server")


def afterword_wrr_without_restart(sc: Scenario, console: Console, pulse_pid: int) -> None:
    """wrr 3:1 ACCEPTed while pulse runs: same pid, 6:2 split, a held connection survives."""
    with sc.lab.client_hold_connection() as held:
        before = held.request()
        sc.log(f"held connection {held.local} -> {VIP}:80 served by {before!r}")
        console.edit_virtual_server("www", {}, {"scheduler": "wrr"})
        console.set_real_weight("www", "real", 3)
        console.set_real_weight("www", "real1", 1)
        console.shot("real-server-wrr")
        wait_until(lambda: sc.service(SERVICE).get("scheduler") == "wrr"
                   and {a: d["weight"] for a, d in sc.dests(SERVICE).items()} == {RS1[0]: 3, RS2[0]: 1}
                   or sc.pulse_died(),
                   timeout=60, interval=0.5, what="pulse to apply wrr 3:1")
        pulse: Any = sc.pulse
        assert sc.status()["pid"] == pulse_pid and pulse.alive(), "pulse was restarted"
        assert (sc.instance / "pulse.pid").read_text().strip() == str(pulse_pid)
        sc.log(f"pulse reloaded in place (pid {pulse_pid}):\n{sc.director(['ipvsadm', '-Ln'])}")
        names = sc.lab.client_fetch_many(8)
        split = Counter(names)
        sc.log(f"8 requests with wrr 3:1: {names} -> {dict(split)}")
        assert split == {RS1[1]: 6, RS2[1]: 2}, split
        after = held.request()
        sc.log(f"held connection after the reload: still open, served by {after!r}")
        assert after == before


def failed_server_is_taken_out(sc: Scenario, console: Console) -> None:
    """Stop rs2's web server: the console shows it DOWN and requests go to rs1."""
    sc.lab.stop_real_server("rs2")
    sc.log("stopped rs2's web server")
    control = wait_control(sc, console, lambda c: c["health"] == {RS1[0]: "UP", RS2[0]: "DOWN"},
                           "rs1 UP, rs2 DOWN")
    sc.log(f"CONTROL/MONITORING after the failure: health {control['health']}\n{control['table']}")
    console.shot("control-rs2-down", full_page=True)
    names = sc.lab.client_fetch_many(4)
    sc.log(f"4 requests with rs2 down: {names}")
    assert names == [RS1[1]] * 4


def configure_seed(console: Console) -> None:
    """Article step 4: the whole configuration, panel by panel, ACCEPT on each."""
    console.global_settings(primary=DIRECTOR_PUBLIC_IP, nat_router=NAT_ROUTER_IP,
                            nat_nmask="255.255.255.0", nat_router_device="eth1:1")
    console.add_virtual_server(
        {"name": "www", "port": "80", "address": VIP, "fwmark": "80", "device": "eth0:1"},
        {"protocol": "tcp", "vip_nmask": "255.255.255.0", "scheduler": "rr"})
    console.add_real_server("www", "real", RS1[0])
    console.add_real_server("www", "real1", RS2[0])
    for name in ("real", "real1"):
        assert console.toggle_real_server("www", name) == "up"
    console.monitoring_scripts("www")
    assert console.toggle_virtual_server("www") == "up"


def check_lvs_cf(sc: Scenario) -> None:
    """The console wrote the article's lvs.cf (read back with the product's parser)."""
    from piranha_web import lvscf

    text = sc.lvs_cf.read_text()
    sc.log(f"lvs.cf written by the console:\n{text}")
    cfg = lvscf.load(text)
    assert cfg.network == "nat"
    (vs,) = cfg.virtuals
    assert (vs.name, vs.address, vs.device, vs.port, vs.fwmark, vs.scheduler, vs.active) == \
        ("www", VIP, "eth0:1", 80, 80, "rr", True)
    assert sorted((s.address, s.active, s.weight) for s in vs.servers) == \
        [(RS1[0], True, 1), (RS2[0], True, 1)]


def check_director_state(sc: Scenario) -> None:
    """Article steps 6/9/11: pulse brought up eth0:1, eth1:1, the MARK rule and the service."""
    addrs = sc.director(["ip", "-4", "-o", "addr", "show"])
    sc.log(f"director addresses:\n{addrs}")
    assert f"inet {VIP}/24" in addrs and "eth0:1" in addrs
    assert f"inet {NAT_ROUTER_IP}/24" in addrs and "eth1:1" in addrs
    marks = mark_rules(lambda argv: sc.director(list(argv)))
    sc.log(f"pulse's mark rules (iptables-save -t mangle, nft):\n{marks}")
    assert has_mark_rule(marks, VIP, 80, 0x50)
    table = sc.director(["ipvsadm", "-Ln"])
    sc.log(f"ipvsadm -Ln:\n{table}")
    assert re.search(r"FWM\s+80\s+rr", table) and f"{RS1[0]}:80" in table and f"{RS2[0]}:80" in table
    assert "Masq" in table


def table_connections(table: str) -> int:
    """Sum of ActiveConn + InActConn over the destination lines of the shown table."""
    total = 0
    for line in table.splitlines():
        parts = line.split()
        if parts[:1] == ["->"] and len(parts) >= 6 and parts[-1].isdigit() and parts[-2].isdigit():
            total += int(parts[-1]) + int(parts[-2])
    return total


def dest_conns(stats: str) -> int:
    """Sum of the Conns column over the destination lines of ``ipvsadm -Ln --stats``."""
    total = 0
    for line in stats.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "->" and parts[2].isdigit():
            total += int(parts[2])
    return total


# -- the article in IPv6 ------------------------------------------------------
def configure_seed6(console: Console) -> None:
    """GLOBAL SETTINGS with the IPv6 NAT router, ``www6`` on the IPv6 VIP, two real servers: by label."""
    console.global_settings_labelled("NAT", {
        "Primary server public IP": V6.director_public, "NAT Router IPv6 address": V6.nat_router,
        "NAT Router IPv6 prefix length": str(V6.plen), "NAT Router IPv6 device": "eth1"})
    console.add_virtual_server_labelled({
        "Name": "www6", "Application port": "80", "Virtual IP Address": V6.vip, "Device": "eth0",
        "Virtual IP Network Mask": str(V6.plen), "Protocol": "tcp", "Scheduling": "rr"})
    console.add_real_server("www6", "real", V6.real_servers["rs1"])
    console.add_real_server("www6", "real1", V6.real_servers["rs2"])
    for name in ("real", "real1"):
        assert console.toggle_real_server("www6", name) == "up"
    assert console.toggle_virtual_server("www6") == "up"


def check_lvs_cf6(sc: Scenario) -> None:
    """The console wrote nat_router6 with its prefix length and ``www6`` with the VIP's."""
    from piranha_web import lvscf

    text = sc.lvs_cf.read_text()
    sc.log(f"lvs.cf written by the console:\n{text}")
    assert f"nat_router6 = {V6.nat_router} eth1" in text and f"nat_nmask6 = {V6.plen}" in text, text
    cfg = lvscf.load(text)
    assert (cfg.network, cfg.primary) == ("nat", V6.director_public)
    (vs,) = [v for v in cfg.virtuals if v.name == "www6"]
    assert (vs.address, vs.device, vs.vip_nmask, vs.port, vs.fwmark, vs.scheduler, vs.active) == \
        (V6.vip, "eth0", str(V6.plen), 80, None, "rr", True)
    assert sorted((s.address, s.active) for s in vs.servers) == sorted((a, True) for a in REALS6)


def check_director_state6(sc: Scenario) -> None:
    """pulse brought up the VIP and nat_router6 with their prefix, usable at once, and the IPv6 service."""
    addrs = sc.director(["ip", "-6", "-o", "addr", "show"])
    sc.log(f"director IPv6 addresses:\n{addrs}")
    assert re.search(rf"eth0\s+inet6 {V6.vip}/{V6.plen} ", addrs), addrs
    assert re.search(rf"eth1\s+inet6 {V6.nat_router}/{V6.plen} ", addrs), addrs
    assert "tentative" not in addrs
    table = sc.director(["ipvsadm", "-Ln"])
    sc.log(f"ipvsadm -Ln:\n{table}")
    assert f"TCP  [{V6.vip}]:80 rr" in table and all(f"-> {w}" in table for w in WRITTEN6), table


def control_writes_addresses_in_brackets(sc: Scenario, console: Console) -> None:
    """CONTROL/MONITORING, pulse's status and its log write ``[2001:db8:10::10]:80``."""
    control = wait_control(sc, console, lambda c: all(c["health"].get(a) == "UP" for a in REALS6),
                           "both IPv6 real servers UP")
    sc.log(f"CONTROL/MONITORING: health addresses {control['addresses']}\n{control['table']}")
    assert re.search(rf"^TCP \[{re.escape(V6.vip)}\]:80 rr$", control["table"], re.M), control["table"]
    assert all(re.search(rf"-> {re.escape(w)}\s+Masq", control["table"]) for w in WRITTEN6), control["table"]
    assert set(WRITTEN6) <= set(control["addresses"]), control["addresses"]
    console.shot("control-ipv6", full_page=True)
    assert sc.service(PORT_SERVICE6), sc.status().get("table")
    log = sc.pulse.log_path.read_text(errors="replace")  # type: ignore[union-attr]
    assert all(f"www6/{name} {w} is UP" in log for name, w in zip(("real", "real1"), WRITTEN6)), log[-3000:]


def fwmark_service_alternates(sc: Scenario, console: Console, page: Any) -> None:
    """Firewall Mark 80 ACCEPTed on www6: an IPv6 FWM service with an ip6 mark rule; refreshes alternate."""
    console.edit_virtual_server("www6", {}, {}, labelled={"Firewall Mark": "80"})
    sc.wait_dests(MARK_SERVICE6, REALS6, "pulse to key www6 by firewall mark 80")
    wait_until(lambda: not sc.service(PORT_SERVICE6) or sc.pulse_died(), timeout=30, interval=0.5,
               what="the plain-port service to go")
    marks = mark_rules(lambda argv: sc.director(list(argv)), "ip6")
    table = sc.director(["ipvsadm", "-Ln"])
    sc.log(f"pulse's ip6 mark rules:\n{marks}\nipvsadm -Ln:\n{table}")
    assert has_mark_rule(marks, V6.vip, 80, 0x50), marks
    assert "FWM  80 IPv6 rr" in table and all(f"-> {w}" in table for w in WRITTEN6), table
    client_refreshes_alternate(sc, page, 2, reload_only=True, tag="client6-fwmark")
