"""BIRD configuration and announcement decisions, from lvs.cf (pure functions)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from piranha_web import lvscf
from piranha_web.pulse.ecmp.announce import Drain, DrainState, announced_vips
from piranha_web.pulse.ecmp.bird import bird_config, router_id
from piranha_web.pulse.ecmp.control import Reply
from piranha_web.pulse.ecmp.sessions import parse_sessions
from piranha_web.pulse.reconcile import desired_table

CFG = """serial_no = 3
service = lvs
cluster = ecmp
bgp_local_as = 64512
bgp_peer = 203.0.113.254 64500
bgp_peer = 2001:db8::fe 64501
bgp_hold_time = 3
bgp_bfd = 1
network = direct
director d1 {
\taddress = 203.0.113.1
}
director d2 {
\taddress = 2001:db8::2
}
virtual www {
\tactive = 1
\taddress = 203.0.113.10 lo
\tscheduler = mh
\tserver rs1 {
\t\taddress = 198.51.100.11
\t\tactive = 1
\t}
}
virtual www6 {
\tactive = 1
\taddress = 2001:db8::10 lo
\tscheduler = mh
\tserver rs1 {
\t\taddress = 2001:db8:1::11
\t\tactive = 1
\t}
}
"""


@pytest.fixture()
def cfg() -> lvscf.LvsConfig:
    return lvscf.load(CFG)


def test_the_config_names_every_peer_and_announces_only_what_is_asked(cfg: lvscf.LvsConfig) -> None:
    text = bird_config(cfg, cfg.directors[0], ["203.0.113.10"])
    assert "router id 203.0.113.1;" in text
    assert "route 203.0.113.10/32 blackhole;" in text and "2001:db8::10" not in text
    assert "neighbor 203.0.113.254 as 64500;" in text and "neighbor 2001:db8::fe as 64501;" in text
    assert text.count("local as 64512;") == 2 and text.count("hold time 3;") == 2
    assert text.count("bfd on;") == 2 and "protocol bfd {" in text
    assert 'export where proto = "vips6";' in text
    assert "blackhole" not in bird_config(cfg, cfg.directors[0], [])


def test_an_ipv6_director_gets_a_stable_ipv4_router_id(cfg: lvscf.LvsConfig) -> None:
    first = router_id(cfg.directors[1])
    assert first == router_id(cfg.directors[1]) and first != router_id(cfg.directors[0])


def test_bird_accepts_the_generated_config(cfg: lvscf.LvsConfig, tmp_path: Path) -> None:
    conf = tmp_path / "bird.conf"
    conf.write_text(bird_config(cfg, cfg.directors[0], ["203.0.113.10", "2001:db8::10"]))
    out = subprocess.run(["/usr/sbin/bird", "-p", "-c", str(conf)], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr


def test_a_vip_is_announced_while_a_real_server_is_up_and_not_draining(cfg: lvscf.LvsConfig) -> None:
    up = {("www", "rs1"): "up", ("www6", "rs1"): "up"}
    table = desired_table(cfg, up)
    assert announced_vips(cfg, table, up, Drain()) == {"203.0.113.10", "2001:db8::10"}
    down = {("www", "rs1"): "down", ("www6", "rs1"): "up"}
    assert announced_vips(cfg, desired_table(cfg, down), down, Drain()) == {"2001:db8::10"}
    assert announced_vips(cfg, {}, up, Drain()) == set()            # not in the kernel
    assert announced_vips(cfg, table, up, Drain().request(True, 0.0)) == set()


def test_a_vip_waits_for_the_first_check_of_every_real_server() -> None:
    two = lvscf.load(CFG.replace("\t\taddress = 198.51.100.11\n\t\tactive = 1\n\t}\n",
                                 "\t\taddress = 198.51.100.11\n\t\tactive = 1\n\t}\n"
                                 "\tserver rs2 {\n\t\taddress = 198.51.100.12\n\t\tactive = 1\n\t}\n", 1))
    first = {("www", "rs1"): "up"}
    assert announced_vips(two, desired_table(two, first), first, Drain()) == set()
    for rs2 in ("up", "down"):
        checked = {("www", "rs1"): "up", ("www", "rs2"): rs2}
        assert announced_vips(two, desired_table(two, checked), checked, Drain()) == {"203.0.113.10"}


def test_the_drain_state_machine() -> None:
    drain = Drain().request(True, 10.0)
    assert drain.state == DrainState.WITHDRAWN and not drain.announcing
    assert drain.advance(14.9, 5).state == DrainState.WITHDRAWN
    drained = drain.advance(15.0, 5)
    assert drained.state == DrainState.DRAINED
    assert drained.request(True, 20.0) == drained
    assert drained.request(False, 20.0) == Drain()


def test_mh_hashes_the_port_behind_ecmp_only(cfg: lvscf.LvsConfig) -> None:
    table = desired_table(cfg, {("www", "rs1"): "up"})
    assert all(entry.service.mh_port and entry.service.mh_fallback for entry in table.values())
    cfg.cluster = "pair"
    assert not any(entry.service.mh_port or entry.service.mh_fallback
                   for entry in desired_table(cfg, {}).values())


def test_sessions_are_read_from_show_protocols_all() -> None:
    reply = Reply([(2002, "Name       Proto      Table      State  Since         Info"),
                   (1002, "device1    Device     ---        up     2026-12-01 18:41:02.739  "),
                   (1002, "peer1      BGP        ---        up     2026-12-01 18:41:02.500  Established"),
                   (1006, "  BGP state:          Established"),
                   (1006, "    Neighbor address: 203.0.113.254"),
                   (1006, "    Routes:         0 imported, 2 exported, 0 preferred"),
                   (1002, "peer2      BGP        ---        start  2026-12-01 18:41:02.739  Active"),
                   (1006, "  BGP state:          Active"),
                   (0, "")])
    found = parse_sessions(reply, now=0.0)
    assert [(s["name"], s["state"], s["exported"], s["neighbor"]) for s in found] == [
        ("peer1", "Established", 2, "203.0.113.254"), ("peer2", "Active", 0, "")]
    assert found[0]["since"] is not None and found[0]["uptime"] == 0.0 and found[1]["uptime"] is None


def test_behind_ecmp_a_down_server_stays_at_weight_0(cfg: lvscf.LvsConfig) -> None:
    table = desired_table(cfg, {("www", "rs1"): "down"})
    assert [d.weight for e in table.values() for d in e.dests.values()] == [0, 0]
