"""Self-test of the namespace lab used by the end-to-end tests.

Proves the wiring without IPVS: the real servers answer from the director,
and once the NAT router address exists, the client reaches a real server
routed through the director (the return path via the real servers' default
gateway works).  Also checks teardown leaves nothing behind.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.client import HeldConnection, fetch, fetch_many
from tests.support.ipvs_runner import require_ipvs
from tests.support.netns import ip_batch, list_netns
from tests.support.topology import NAT_ROUTER_IP, REAL_SERVERS, SeedTopology, seed_topology

pytestmark = pytest.mark.ipvs


def test_real_servers_answer_from_director(seed: SeedTopology) -> None:
    for role, (addr, text) in REAL_SERVERS.items():
        assert fetch_many(seed.ns("director"), f"http://{addr}/", 2) == [text, text]


def test_client_reaches_real_server_through_director(seed: SeedTopology) -> None:
    director, client = seed.ns("director"), seed.ns("client")
    # what pulse does for NAT (eth1:1) plus a client route, both undone below
    ip_batch([["addr", "add", f"{NAT_ROUTER_IP}/24", "dev", "eth1", "label", "eth1:1"]], director)
    ip_batch([["route", "add", "192.0.2.0/24", "via", seed.director_public_ip]], client)
    try:
        for role, (addr, text) in REAL_SERVERS.items():
            assert text in fetch(client, f"http://{addr}/", timeout=5)
    finally:
        ip_batch([["route", "del", "192.0.2.0/24"]], client, force=True)
        ip_batch([["addr", "del", f"{NAT_ROUTER_IP}/24", "dev", "eth1"]], director, force=True)


def test_held_connection_survives_requests(seed: SeedTopology) -> None:
    addr, text = REAL_SERVERS["rs1"]
    with HeldConnection(seed.ns("director"), addr) as conn:
        assert [conn.request(), conn.request()] == [text, text]


def test_teardown_removes_namespaces(tmp_path: Path) -> None:
    require_ipvs()
    with seed_topology(tmp_path, serve=False) as topo:
        names = [topo.switch] + [h.netns for h in topo.hosts.values()]
        assert set(names) <= set(list_netns())
    assert not set(names) & set(list_netns())
