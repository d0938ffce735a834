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
    IPT_CHAIN, NFT_CHAIN, NFT_TABLE, iptables_restore_input, nft_delete_document, nft_sync_document,
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


def in_private_netns(kind: str) -> dict[str, str]:
    proc = subprocess.run(["unshare", "-n", sys.executable, "-c", SCRIPT, kind, str(ROOT)],
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
