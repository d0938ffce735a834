"""Firewall marks for fwmark services, in pulse's OWN nftables table or iptables chain.

Piranha left ``iptables -t mangle -A PREROUTING -p tcp -d VIP --dport PORT -j
MARK --set-mark N`` to the administrator.  pulse installs the equivalent for
every active fwmark virtual server that names an address and port:

* nftables (preferred, when the kernel has the ``ip`` family): table
  ``ip piranha_pulse`` with one ``prerouting`` chain at mangle priority.  The
  whole table is rewritten in one ``nft -j -f -`` transaction (JSON on stdin).
* otherwise iptables: chain ``PIRANHA-PULSE`` in the mangle table, jumped to
  from PREROUTING; rewritten with ``iptables-restore --noflush`` (declaring
  the chain flushes only it).

Stop removes that table, or the jump and the chain; nothing pulse did not
create is ever touched.  Commands run with argument lists, never a shell.
The generators are pure so they are unit-tested without root.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Iterable

from ..reconcile import MarkRule

log = logging.getLogger("pulse.firewall")

NFT_TABLE = "piranha_pulse"
NFT_CHAIN = "prerouting"
IPT_CHAIN = "PIRANHA-PULSE"
MANGLE_PRIORITY = -150


def _nft_table() -> dict[str, str]:
    return {"family": "ip", "name": NFT_TABLE}


def nft_rule(rule: MarkRule) -> dict[str, object]:
    """One nft JSON rule: ip daddr VIP PROTO dport PORT meta mark set MARK."""
    return {"rule": {
        "family": "ip", "table": NFT_TABLE, "chain": NFT_CHAIN,
        "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}},
                       "right": rule.addr}},
            {"match": {"op": "==", "left": {"payload": {"protocol": rule.protocol, "field": "dport"}},
                       "right": rule.port}},
            {"mangle": {"key": {"meta": {"key": "mark"}}, "value": rule.mark}},
        ]}}


def nft_sync_document(rules: Iterable[MarkRule]) -> dict[str, object]:
    """One atomic transaction: create pulse's table if needed, flush it, re-add chain and rules."""
    cmds: list[dict[str, object]] = [
        {"add": {"table": _nft_table()}},
        {"flush": {"table": _nft_table()}},
        {"add": {"chain": {"family": "ip", "table": NFT_TABLE, "name": NFT_CHAIN, "type": "filter",
                           "hook": "prerouting", "prio": MANGLE_PRIORITY, "policy": "accept"}}},
    ]
    cmds.extend({"add": nft_rule(r)} for r in sorted(rules))
    return {"nftables": cmds}


def nft_delete_document() -> dict[str, object]:
    """Delete pulse's table (and so its chain and rules)."""
    return {"nftables": [{"delete": {"table": _nft_table()}}]}


def iptables_restore_input(rules: Iterable[MarkRule]) -> str:
    """iptables-restore --noflush input that (re)declares pulse's chain with ``rules``."""
    lines = ["*mangle", f":{IPT_CHAIN} - [0:0]"]
    for r in sorted(rules):
        lines.append(f"-A {IPT_CHAIN} -d {r.addr}/32 -p {r.protocol} -m {r.protocol} "
                     f"--dport {r.port} -j MARK --set-mark {r.mark}")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def _run(argv: list[str], stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command (argument list) with a bounded time; raise with its stderr when asked."""
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.returncode}")
    return proc


class NftFirewall:
    """Marks in table ``ip piranha_pulse``."""

    name = "nft"

    def __init__(self, nft: str = "nft") -> None:
        self.nft = nft

    def sync(self, rules: set[MarkRule]) -> None:
        """Rewrite pulse's table in one transaction."""
        _run([self.nft, "-j", "-f", "-"], json.dumps(nft_sync_document(rules)))

    def remove_all(self) -> None:
        """Delete pulse's table; missing is fine."""
        _run([self.nft, "-j", "-f", "-"], json.dumps(nft_delete_document()), check=False)


class IptablesFirewall:
    """Marks in mangle chain PIRANHA-PULSE, jumped to from PREROUTING."""

    name = "iptables"

    def __init__(self, iptables: str = "iptables", restore: str = "iptables-restore") -> None:
        self.iptables, self.restore = iptables, restore

    def sync(self, rules: set[MarkRule]) -> None:
        """Redeclare the chain with ``rules`` and make sure PREROUTING jumps to it once."""
        _run([self.restore, "-w", "--noflush"], iptables_restore_input(rules))
        jump = ["-t", "mangle", "PREROUTING", "-j", IPT_CHAIN]
        if _run([self.iptables, "-w", "-t", "mangle", "-C", *jump[2:]], check=False).returncode != 0:
            _run([self.iptables, "-w", "-t", "mangle", "-I", *jump[2:]])

    def remove_all(self) -> None:
        """Remove the jump(s), flush and delete the chain; missing pieces are fine."""
        for _ in range(10):   # bounded: one jump normally, a few if someone duplicated it
            if _run([self.iptables, "-w", "-t", "mangle", "-D", "PREROUTING", "-j", IPT_CHAIN],
                    check=False).returncode != 0:
                break
        _run([self.iptables, "-w", "-t", "mangle", "-F", IPT_CHAIN], check=False)
        _run([self.iptables, "-w", "-t", "mangle", "-X", IPT_CHAIN], check=False)


def nft_available(nft: str = "nft") -> bool:
    """Can this kernel hold an ``ip`` family table?  Probes by creating pulse's own table."""
    try:
        proc = _run([nft, "-j", "-f", "-"], json.dumps({"nftables": [{"add": {"table": _nft_table()}}]}),
                    check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def choose_firewall(kind: str | None = None) -> NftFirewall | IptablesFirewall:
    """``kind`` if given (what a previous run used), else nftables when the kernel has the ip family,
    else iptables (legacy or nft-backed)."""
    if kind == "iptables":
        return IptablesFirewall()
    if kind == "nft" or nft_available():
        return NftFirewall()
    log.info("nftables ip family unavailable; using iptables chain %s", IPT_CHAIN)
    return IptablesFirewall()
