"""The file of what pulse created survives restarts and upgrades."""

from __future__ import annotations

from pathlib import Path

from piranha_web.pulse.managed import Managed, load_managed, save_managed
from piranha_web.pulse.reconcile import Address, ServiceKey


def test_round_trip_with_ipv6_keys(tmp_path: Path) -> None:
    path = tmp_path / "managed.json"
    managed = Managed({ServiceKey.mark(6, ipv6=True), ServiceKey.tcp("2001:db8:10::10", 80)},
                      {Address("2001:db8:10::10", 64, "eth0", "eth0")}, set(), "nft/iptables")
    save_managed(path, managed)
    assert load_managed(path) == managed


def test_an_ipv6_address_remembered_with_an_alias_label_loses_it(tmp_path: Path) -> None:
    # an older pulse recorded IPv6 VIPs with the lvs.cf alias as label; IPv6 has no labels
    path = tmp_path / "managed.json"
    save_managed(path, Managed(addresses={Address("2001:db8:10::10", 64, "eth0", "eth0:1"),
                                          Address("203.0.113.10", 24, "eth0", "eth0:1")}))
    assert load_managed(path).addresses == {Address("2001:db8:10::10", 64, "eth0", "eth0"),
                                            Address("203.0.113.10", 24, "eth0", "eth0:1")}
