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

IPv6 rules go to the same places of the other family: table ``ip6
piranha_pulse``, or the ip6tables chain when the kernel has no nft ``ip6``
family (nft for IPv4 and ip6tables for IPv6 is a valid mix).  Each family's
backend is chosen on its first rule; :class:`Firewall` routes rules by family.

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


IP, IP6 = "ip", "ip6"     # nft family names; also the keys of a Firewall's backends


def _nft_table(family: str = IP) -> dict[str, str]:
    return {"family": family, "name": NFT_TABLE}


def family_of(rule: MarkRule) -> str:
    """``ip6`` for an IPv6 rule, else ``ip``."""
    return IP6 if rule.ipv6 else IP


def nft_rule(rule: MarkRule) -> dict[str, object]:
    """One nft JSON rule: ip[6] daddr VIP PROTO dport PORT meta mark set MARK."""
    family = family_of(rule)
    return {"rule": {
        "family": family, "table": NFT_TABLE, "chain": NFT_CHAIN,
        "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": family, "field": "daddr"}},
                       "right": rule.addr}},
            {"match": {"op": "==", "left": {"payload": {"protocol": rule.protocol, "field": "dport"}},
                       "right": rule.port}},
            {"mangle": {"key": {"meta": {"key": "mark"}}, "value": rule.mark}},
        ]}}


def nft_sync_document(rules: Iterable[MarkRule], family: str = IP) -> dict[str, object]:
    """One atomic transaction: create pulse's table if needed, flush it, re-add chain and rules."""
    cmds: list[dict[str, object]] = [
        {"add": {"table": _nft_table(family)}},
        {"flush": {"table": _nft_table(family)}},
        {"add": {"chain": {"family": family, "table": NFT_TABLE, "name": NFT_CHAIN, "type": "filter",
                           "hook": "prerouting", "prio": MANGLE_PRIORITY, "policy": "accept"}}},
    ]
    cmds.extend({"add": nft_rule(r)} for r in sorted(rules) if family_of(r) == family)
    return {"nftables": cmds}


def nft_delete_document(family: str = IP) -> dict[str, object]:
    """Delete pulse's table (and so its chain and rules)."""
    return {"nftables": [{"delete": {"table": _nft_table(family)}}]}


def iptables_restore_input(rules: Iterable[MarkRule], family: str = IP) -> str:
    """(ip6)iptables-restore --noflush input that (re)declares pulse's chain with ``rules``."""
    host = "/128" if family == IP6 else "/32"
    lines = ["*mangle", f":{IPT_CHAIN} - [0:0]"]
    for r in sorted(rules):
        if family_of(r) != family:
            continue
        lines.append(f"-A {IPT_CHAIN} -d {r.addr}{host} -p {r.protocol} -m {r.protocol} "
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
    """Marks of one family in table ``ip piranha_pulse`` (or ``ip6 piranha_pulse``)."""

    name = "nft"

    def __init__(self, nft: str = "nft", family: str = IP) -> None:
        self.nft, self.family = nft, family

    def sync(self, rules: set[MarkRule]) -> None:
        """Rewrite pulse's table in one transaction."""
        _run([self.nft, "-j", "-f", "-"], json.dumps(nft_sync_document(rules, self.family)))

    def remove_all(self) -> None:
        """Delete pulse's table; missing is fine."""
        _run([self.nft, "-j", "-f", "-"], json.dumps(nft_delete_document(self.family)), check=False)


class IptablesFirewall:
    """Marks of one family in mangle chain PIRANHA-PULSE, jumped to from PREROUTING."""

    name = "iptables"

    def __init__(self, iptables: str = "iptables", restore: str = "iptables-restore",
                 family: str = IP) -> None:
        self.iptables, self.restore, self.family = iptables, restore, family

    def sync(self, rules: set[MarkRule]) -> None:
        """Redeclare the chain with ``rules`` and make sure PREROUTING jumps to it once."""
        _run([self.restore, "-w", "--noflush"], iptables_restore_input(rules, self.family))
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


def nft_available(nft: str = "nft", family: str = IP) -> bool:
    """Can this kernel hold a table of ``family``?  Probes by creating pulse's own table."""
    try:
        proc = _run([nft, "-j", "-f", "-"],
                    json.dumps({"nftables": [{"add": {"table": _nft_table(family)}}]}), check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


FamilyBackend = NftFirewall | IptablesFirewall
LEGACY = {IP: ("iptables", "iptables-restore"), IP6: ("ip6tables", "ip6tables-restore")}


def choose_family(family: str, kind: str | None = None) -> FamilyBackend:
    """``kind`` if given (what a previous run used), else nftables when the kernel has ``family``,
    else (ip6)iptables (legacy or nft-backed)."""
    if kind == "iptables":
        return IptablesFirewall(*LEGACY[family], family=family)
    if kind == "nft" or nft_available(family=family):
        return NftFirewall(family=family)
    log.info("nftables %s family unavailable; using %s chain %s", family, LEGACY[family][0], IPT_CHAIN)
    return IptablesFirewall(*LEGACY[family], family=family)


class Firewall:
    """Both families' mark rules, each in the backend its kernel supports.

    ``name`` records the choice for the next run: ``nft`` or ``iptables`` (IPv4
    only, as before IPv6 marks), or ``IPV4KIND/IPV6KIND`` once IPv6 rules exist.
    """

    def __init__(self, kind: str | None = None) -> None:
        known = (kind or "").split("/")
        self.kinds = {IP: known[0] or None, IP6: known[1] if len(known) > 1 else None}
        self.backends: dict[str, FamilyBackend] = {}
        self.name = self._name()

    def _name(self) -> str:
        """What was chosen, per family (``nft``, ``iptables``, ``nft/iptables``...)."""
        kinds = [self.backends[f].name if f in self.backends else self.kinds[f] or "" for f in (IP, IP6)]
        return kinds[0] if not kinds[1] else "/".join(kinds)

    def _backend(self, family: str) -> FamilyBackend:
        if family not in self.backends:
            self.backends[family] = choose_family(family, self.kinds[family])
            self.name = self._name()
        return self.backends[family]

    def sync(self, rules: set[MarkRule]) -> None:
        """Each family's table/chain holds exactly that family's ``rules``; an unused family's
        table is created only if it was used before (then it is emptied)."""
        for family in (IP, IP6):
            mine = {r for r in rules if family_of(r) == family}
            if mine or family in self.backends or self.kinds[family]:
                self._backend(family).sync(mine)

    def remove_all(self) -> None:
        """Remove pulse's table/chain of every family it used."""
        for family in (IP, IP6):
            if family in self.backends or self.kinds[family]:
                self._backend(family).remove_all()


def choose_firewall(kind: str | None = None) -> Firewall:
    """pulse's firewall; ``kind`` is what a previous run used (:attr:`Firewall.name`)."""
    return Firewall(kind)
