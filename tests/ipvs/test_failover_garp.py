"""Gratuitous ARP and unsolicited NA really move a neighbour's cache entry (marker ``ipvs``).

Two namespaces on one bridge; the observer holds a stale entry for the address
pointing at a made-up MAC; one announcement from the owner must replace it.
"""
from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.netns import in_netns, ip_batch  # noqa: E402
from tests.support.topology import Lab, reap_stale_namespaces  # noqa: E402

pytestmark = pytest.mark.ipvs

BOGUS = "02:00:5e:00:53:99"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    from tests.support.ipvs_runner import require_ipvs
    require_ipvs()
    reap_stale_namespaces()
    lab = Lab(tmp_path_factory.mktemp("garp"), segments=("seg",))
    lab.add_host("owner", [("eth0", "seg", "192.0.2.1/24")])
    lab.add_host("observer", [("eth0", "seg", "192.0.2.2/24")])
    try:
        lab.build()
        for name in ("owner", "observer"):
            ip_batch([["addr", "add", "2001:db8::%d/64" % (1 if name == "owner" else 2),
                       "dev", "eth0", "nodad"]], lab.ns(name))
        yield lab
    finally:
        lab.teardown()


def _mac(lab: Lab, name: str) -> str:
    return lab.run(name, ["cat", "/sys/class/net/eth0/address"]).stdout.strip()


def _neigh(lab: Lab, ip: str) -> str:
    return lab.run("observer", ["ip", "neigh", "show", ip, "dev", "eth0"]).stdout


@pytest.mark.parametrize("ip", ["192.0.2.10", "2001:db8::10"])
def test_announcement_overrides_stale_entry(pair: Lab, ip: str) -> None:
    from piranha_web.pulse.kernel import garp
    plen = "24" if ":" not in ip else "64"
    ip_batch([["addr", "add", f"{ip}/{plen}", "dev", "eth0", "nodad"]], pair.ns("owner"))
    ip_batch([["neigh", "replace", ip, "lladdr", BOGUS, "dev", "eth0", "nud", "stale"]],
             pair.ns("observer"))
    assert BOGUS in _neigh(pair, ip)
    sent = in_netns(pair.ns("owner"), lambda: asyncio.run(garp.announce([("eth0:1", ip)], 2, 0.1)))
    assert sent is None
    owner_mac = _mac(pair, "owner")
    for _ in range(50):
        if owner_mac in _neigh(pair, ip):
            break
        time.sleep(0.05)
    assert owner_mac in _neigh(pair, ip), _neigh(pair, ip)
