"""pulse's firewall-mark rules as text, from whichever backend this kernel offers.

pulse puts its mark rules in its own nft table ``ip piranha_pulse`` when the
kernel has the nft ip family (Debian's stock kernel under qemu), and in the
iptables chain PIRANHA-PULSE otherwise (the UML kernel has nft for the bridge
family only).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

Run = Callable[[Sequence[str]], str]


def nft_in_use(run: Run, family: str = "ip") -> bool:
    """True when pulse's nft table of ``family`` (``ip`` or ``ip6``) exists in this namespace."""
    return f"table {family} piranha_pulse" in run(["nft", "list", "tables"])


def mark_rules(run: Run, family: str = "ip") -> str:
    """The mangle table's (ip6)iptables rules plus pulse's nft table of ``family``, when there is one."""
    text = run(["iptables-save" if family == "ip" else "ip6tables-save", "-t", "mangle"])
    if nft_in_use(run, family):
        text += run(["nft", "list", "table", family, "piranha_pulse"])
    return text


def has_mark_rule(text: str, vip: str, port: int, mark: int) -> bool:
    """Whether ``text`` (from :func:`mark_rules`) holds the TCP rule VIP:PORT -> MARK (either family)."""
    family, plen = ("ip6", 128) if ":" in vip else ("ip", 32)
    ipt = (f"-A PIRANHA-PULSE -d {re.escape(vip)}/{plen} -p tcp -m tcp --dport {port} "
           f"-j MARK --set-xmark {mark:#x}/0xffffffff")
    nft = rf"{family} daddr {re.escape(vip)} tcp dport {port} meta mark set 0x0*{mark:x}\b"
    return re.search(f"{ipt}|{nft}", text) is not None
