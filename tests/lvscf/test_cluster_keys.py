"""cluster = ecmp: the BGP keys and director blocks, parsed, validated with line numbers, written back."""

from __future__ import annotations

import pytest

from piranha_web import lvscf
from piranha_web.lvscf.validate import problems, warnings

BASE = """serial_no = 7
service = lvs
cluster = ecmp
heartbeat_key_file = /etc/sysconfig/ha/cluster.key
bgp_local_as = 64512
bgp_peer = 203.0.113.254 64500
bgp_peer = 2001:db8::fe 64501
bgp_hold_time = 3
bgp_bfd = 1
bgp_bird = /usr/sbin/bird
bgp_drain_seconds = 2.5
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
\tport = 80
\tscheduler = mh
\tserver rs1 {
\t\taddress = 198.51.100.11
\t\tactive = 1
\t}
}
"""


def _messages(text: str) -> list[tuple[int, str | None, str]]:
    return [(p.line, p.key, p.message) for p in problems(lvscf.parse(text))]


def test_the_example_loads_and_round_trips() -> None:
    cfg = lvscf.load(BASE)
    assert cfg.ecmp and cfg.bgp_local_as == 64512 and cfg.bgp_bfd is True
    assert cfg.bgp_peers == ["203.0.113.254 64500", "2001:db8::fe 64501"]
    assert [(d.name, d.address, d.line) for d in cfg.directors] == [("d1", "203.0.113.1", 13),
                                                                    ("d2", "2001:db8::2", 16)]
    assert cfg.bgp_drain_seconds == 2.5
    text = lvscf.dumps(cfg)
    assert lvscf.parse(text) == cfg
    assert lvscf.dumps(lvscf.parse(text)) == text
    assert "director d1 {\n\taddress = 203.0.113.1\n}" in text


def test_a_pair_file_writes_no_cluster_keys() -> None:
    text = lvscf.dumps(lvscf.LvsConfig())
    assert "cluster" not in text and "bgp" not in text and "director" not in text


def test_ecmp_refuses_nat() -> None:
    found = _messages(BASE.replace("network = direct", "network = nat\nnat_router = 192.0.2.1 eth0"))
    assert [(line, key) for line, key, _ in found] == [(12, "network")] and "direct or tunnel" in found[0][2]


def test_ecmp_needs_mh_and_warns_for_sh() -> None:
    found = _messages(BASE.replace("scheduler = mh", "scheduler = rr"))
    assert found == [(23, "scheduler", found[0][2])] and "mh" in found[0][2]
    sh = lvscf.parse(BASE.replace("scheduler = mh", "scheduler = sh"))
    assert problems(sh) == []
    assert [(w.line, w.key) for w in warnings(sh)] == [(23, "scheduler")]


def test_missing_as_and_peers_name_the_cluster_line() -> None:
    text = BASE.replace("bgp_local_as = 64512\n", "").replace("bgp_peer = 203.0.113.254 64500\n", "")
    text = text.replace("bgp_peer = 2001:db8::fe 64501\n", "")
    found = _messages(text)
    assert [(line, key) for line, key, _ in found] == [(3, "cluster"), (3, "cluster")]
    assert "bgp_local_as" in found[0][2] and "bgp_peer" in found[1][2]


@pytest.mark.parametrize("peer, words", [
    ("bgp_peer = router 64500", "peer address"),
    ("bgp_peer = 203.0.113.9 0", "AS number"),
    ("bgp_peer = 203.0.113.9 4294967296", "AS number"),
])
def test_bad_peers_name_their_line(peer: str, words: str) -> None:
    found = _messages(BASE.replace("bgp_peer = 2001:db8::fe 64501", peer))
    assert [(line, key) for line, key, _ in found] == [(7, "bgp_peer")] and words in found[0][2]


def test_a_peer_needs_two_tokens() -> None:
    with pytest.raises(lvscf.LvsCfError) as err:
        lvscf.parse(BASE.replace("bgp_peer = 2001:db8::fe 64501", "bgp_peer = 203.0.113.9"))
    assert err.value.line == 7


def test_duplicate_directors_and_bad_addresses() -> None:
    text = BASE.replace("address = 2001:db8::2", "address = 203.0.113.1")
    assert _messages(text) == [(17, "address", "duplicate director address 203.0.113.1")]
    text = BASE.replace("director d2", "director d1")
    assert _messages(text) == [(16, "director", "duplicate director 'd1'")]
    for bad in ("director-two.example", "203.0.113.300", "0.0.0.0"):
        found = _messages(BASE.replace("address = 2001:db8::2", f"address = {bad}"))
        assert [(line, key) for line, key, _ in found] == [(17, "address")], bad


def test_directors_without_ecmp_and_bad_cluster_values() -> None:
    found = _messages(BASE.replace("cluster = ecmp", "cluster = pair"))
    assert (13, "director", "director blocks need cluster = ecmp") in found
    found = _messages(BASE.replace("cluster = ecmp", "cluster = mesh"))
    assert found[0][:2] == (3, "cluster")


def test_director_blocks_do_not_nest() -> None:
    with pytest.raises(lvscf.LvsCfError) as err:
        lvscf.parse(BASE.replace("\tport = 80\n", "\tport = 80\n\tdirector d9 {\n\t}\n"))
    assert err.value.line == 23


def test_ecmp_vips_sit_on_lo() -> None:
    found = _messages(BASE.replace("203.0.113.10 lo", "203.0.113.10 eth0:1"))
    assert [(line, key) for line, key, _ in found] == [(21, "address")] and "lo" in found[0][2]
