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

piranha-gui and pulse run with the product's default lvs.cf path: each in a
private mount namespace where /etc/sysconfig/ha is the scenario's directory
(tests/support/sysconfig_ns.py), so the console shows /etc/sysconfig/ha/lvs.cf.
Screenshots of each step go to test-artifacts/e2e/; CONTROL/MONITORING with
real IPVS data is also saved under test-artifacts/e2e/docs/ (after checking
that the page shows no temporary path), and copied to docs/ when
PIRANHA_E2E_DOCS=1 (how docs/console-control-monitoring.png was made; the
other panels' images come from tests/docs/test_panel_screenshots.py).
The steps both families share (console, pulse, the client's browser) are in
tests/support/seedscenario.py; the IPv6 run is test_seed_article_ipv6.py.
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
from tests.support.topology import CLIENT_IP, DIRECTOR_PUBLIC_IP, NAT_ROUTER_IP, PLAN4, REAL_SERVERS, VIP

pytestmark = [pytest.mark.ipvs, pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
RS1, RS2 = REAL_SERVERS["rs1"], REAL_SERVERS["rs2"]  # (address, page text)
SERVICE = "FWM 80"


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[Scenario]:
    """The seed lab with its two real servers; everything torn down afterwards."""
    with seed_scenario(tmp_path, ARTIFACTS, (PLAN4,)) as sc:
        yield sc


@pytest.mark.timeout(900)
def test_seed_article_scenario(scenario: Scenario, playwright_instance: Any) -> None:
    sc = scenario
    sc.log(f"lab up: client {CLIENT_IP}, director {DIRECTOR_PUBLIC_IP}/{sc.lab.director_private_ip}, "
           f"rs1 {RS1[0]}, rs2 {RS2[0]} (namespaces {sc.lab.prefix}*)")
    console = start_console(sc, playwright_instance)                     # article steps 1-4
    configure_seed(console)
    check_lvs_cf(sc)
    client_page = client_browser_warm(sc, playwright_instance)           # before pulse: a cold start is heavy
    pulse_pid = start_pulse(sc, SERVICE)                                  # steps 5-11
    check_director_state(sc)
    client_refreshes_alternate(sc, client_page, 5)                        # step 12
    control_shows_both_up_with_connections(sc, console)
    afterword_wrr_without_restart(sc, console, pulse_pid)                 # step 13, improved
    failed_server_is_taken_out(sc, console)
    assert sc.pulse.alive() and sc.gui.alive()  # type: ignore[union-attr]
    sc.log("scenario complete")


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
