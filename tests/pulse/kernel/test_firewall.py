"""Firewall-mark rules: pure generators, and both backends in a private network namespace.

The namespace tests run ``unshare -n`` (root, as everywhere on these machines
and in CI) so nothing touches the host's own tables.  nftables needs the
``ip`` family, which the host kernel has (the UML guest does not; there the
ipvs tests exercise the iptables backend).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from piranha_web.pulse.kernel.firewall import (
    IPT_CHAIN, NFT_CHAIN, NFT_TABLE, Firewall, iptables_restore_input, nft_delete_document,
    nft_sync_document,
)
from piranha_web.pulse.reconcile import MarkRule

ROOT = Path(__file__).resolve().parents[3]
WEB = MarkRule("tcp", "203.0.113.10", 80, 80)
TLS = MarkRule("tcp", "203.0.113.10", 443, 80)
DNS = MarkRule("udp", "203.0.113.11", 53, 7)


def test_nft_document_rewrites_only_pulses_table() -> None:
    doc = nft_sync_document({TLS, WEB})
    cmds = doc["nftables"]
    assert cmds[0] == {"add": {"table": {"family": "ip", "name": NFT_TABLE}}}
    assert cmds[1] == {"flush": {"table": {"family": "ip", "name": NFT_TABLE}}}
    chain = cmds[2]["add"]["chain"]
    assert (chain["hook"], chain["prio"], chain["type"]) == ("prerouting", -150, "filter")
    assert chain["name"] == NFT_CHAIN
    rules = [c["add"]["rule"] for c in cmds[3:]]
    assert [r["expr"][1]["match"]["right"] for r in rules] == [80, 443]          # sorted, deterministic
    assert rules[0]["expr"][0]["match"]["right"] == "203.0.113.10"
    assert rules[0]["expr"][2] == {"mangle": {"key": {"meta": {"key": "mark"}}, "value": 80}}
    assert all(r["table"] == NFT_TABLE for r in rules)
    assert nft_delete_document() == {"nftables": [{"delete": {"table": {"family": "ip", "name": NFT_TABLE}}}]}


def test_iptables_restore_input_declares_own_chain() -> None:
    text = iptables_restore_input({DNS, WEB})
    assert text.splitlines() == [
        "*mangle",
        f":{IPT_CHAIN} - [0:0]",
        f"-A {IPT_CHAIN} -d 203.0.113.10/32 -p tcp -m tcp --dport 80 -j MARK --set-mark 80",
        f"-A {IPT_CHAIN} -d 203.0.113.11/32 -p udp -m udp --dport 53 -j MARK --set-mark 7",
        "COMMIT",
    ]
    assert "PREROUTING" not in text            # the jump is added once, separately


SCRIPT = textwrap.dedent("""
    import json, subprocess, sys
    sys.path.insert(0, sys.argv[2])
    from piranha_web.pulse.kernel.firewall import IptablesFirewall, NftFirewall, nft_available
    from piranha_web.pulse.reconcile import MarkRule
    web, tls = MarkRule("tcp", "203.0.113.10", 80, 80), MarkRule("tcp", "203.0.113.10", 443, 80)
    out = {}
    def sh(*argv):
        return subprocess.run(argv, capture_output=True, text=True).stdout
    if sys.argv[1] == "nft":
        subprocess.run(["nft", "add", "table", "ip", "other"], check=True)   # someone else's table
        out["available"] = nft_available()
        fw = NftFirewall()
        fw.sync({web, tls}); fw.sync({web})
        out["after_sync"] = sh("nft", "list", "table", "ip", "piranha_pulse")
        fw.remove_all(); fw.remove_all()
        out["after_remove"] = sh("nft", "list", "tables")
    else:
        subprocess.run(["iptables", "-t", "mangle", "-A", "PREROUTING", "-p", "udp", "-j", "ACCEPT"],
                       check=True)
        fw = IptablesFirewall()
        fw.sync({web, tls}); fw.sync({web})
        out["after_sync"] = sh("iptables-save", "-t", "mangle")
        fw.remove_all(); fw.remove_all()
        out["after_remove"] = sh("iptables-save", "-t", "mangle")
    print(json.dumps(out))
""")


def in_private_netns(kind: str, script: str = SCRIPT) -> dict[str, str]:
    proc = subprocess.run(["unshare", "-n", sys.executable, "-c", script, kind, str(ROOT)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_nft_backend_in_private_netns() -> None:
    out = in_private_netns("nft")
    assert out["available"] is True
    listing = out["after_sync"]
    assert "ip daddr 203.0.113.10 tcp dport 80 meta mark set 0x00000050" in listing
    assert "dport 443" not in listing                       # stale rule gone after the second sync
    assert "hook prerouting priority mangle" in listing
    assert "piranha_pulse" not in out["after_remove"] and "table ip other" in out["after_remove"]


def test_iptables_backend_in_private_netns() -> None:
    out = in_private_netns("iptables")
    saved = out["after_sync"]
    assert saved.count(f"-A PREROUTING -j {IPT_CHAIN}") == 1          # jump added once
    rule = f"-A {IPT_CHAIN} -d 203.0.113.10/32 -p tcp -m tcp --dport 80 -j MARK --set-xmark 0x50/0xffffffff"
    assert rule in saved
    assert "--dport 443" not in saved
    assert IPT_CHAIN not in out["after_remove"]
    assert "-A PREROUTING -p udp -j ACCEPT" in out["after_remove"]       # not ours: untouched


WEB6 = MarkRule("tcp", "2001:db8:10::10", 80, 80)


def test_ipv6_rules_go_to_the_ip6_family_only() -> None:
    doc = nft_sync_document({WEB, WEB6}, "ip6")
    assert doc["nftables"][0] == {"add": {"table": {"family": "ip6", "name": NFT_TABLE}}}
    rules = [c["add"]["rule"] for c in doc["nftables"][3:]]
    assert len(rules) == 1 and rules[0]["family"] == "ip6"
    assert rules[0]["expr"][0]["match"]["left"] == {"payload": {"protocol": "ip6", "field": "daddr"}}
    v4_rules = nft_sync_document({WEB, WEB6})["nftables"][3:]
    assert [c["add"]["rule"]["expr"][0]["match"]["right"] for c in v4_rules] == ["203.0.113.10"]
    assert iptables_restore_input({WEB, WEB6}, "ip6").splitlines()[2] == (
        f"-A {IPT_CHAIN} -d 2001:db8:10::10/128 -p tcp -m tcp --dport 80 -j MARK --set-mark 80")


def test_firewall_remembers_each_familys_backend() -> None:
    fw = Firewall("nft/iptables")
    assert fw.kinds == {"ip": "nft", "ip6": "iptables"} and fw.name == "nft/iptables"
    assert Firewall("iptables").name == "iptables" and Firewall(None).name == ""


FAMILIES_SCRIPT = textwrap.dedent("""
    import json, subprocess, sys
    sys.path.insert(0, sys.argv[2])
    from piranha_web.pulse.kernel.firewall import Firewall
    from piranha_web.pulse.reconcile import MarkRule
    web, web6 = MarkRule("tcp", "203.0.113.10", 80, 80), MarkRule("tcp", "2001:db8:10::10", 80, 80)
    def sh(*argv):
        return subprocess.run(argv, capture_output=True, text=True).stdout
    fw = Firewall(sys.argv[1] or None)
    fw.sync({web, web6})
    out = {"name": fw.name, "nft": sh("nft", "list", "ruleset"),
           "ip6tables": sh("ip6tables-save", "-t", "mangle")}
    fw.sync({web})
    out["after_v4_only"] = sh("nft", "list", "ruleset") + sh("ip6tables-save", "-t", "mangle")
    fw.remove_all()
    out["after_remove"] = sh("nft", "list", "ruleset") + sh("ip6tables-save", "-t", "mangle")
    print(json.dumps(out))
""")


def test_both_families_in_nft() -> None:
    out = in_private_netns("", FAMILIES_SCRIPT)
    assert out["name"] == "nft/nft"
    assert "table ip6 piranha_pulse" in out["nft"]
    assert "ip6 daddr 2001:db8:10::10 tcp dport 80 meta mark set 0x00000050" in out["nft"]
    assert "2001:db8:10::10" not in out["after_v4_only"]
    assert "piranha_pulse" not in out["after_remove"]


def test_ipv4_in_nft_ipv6_in_an_ip6tables_chain() -> None:
    # a kernel without nft's ip6 family (UML guest): the IPv6 marks go to a legacy ip6tables chain
    out = in_private_netns("nft/iptables", FAMILIES_SCRIPT)
    assert out["name"] == "nft/iptables"
    assert "table ip piranha_pulse" in out["nft"] and "table ip6 piranha_pulse" not in out["nft"]
    assert f"-A {IPT_CHAIN} -d 2001:db8:10::10/128 -p tcp -m tcp --dport 80" in out["ip6tables"]
    assert f"-A PREROUTING -j {IPT_CHAIN}" in out["ip6tables"]
    assert "2001:db8:10::10" not in out["after_v4_only"]
    assert IPT_CHAIN not in out["after_remove"] and "piranha_pulse" not in out["after_remove"]
