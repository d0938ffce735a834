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


def nft_in_use(run: Run) -> bool:
    """True when pulse's nft table exists in this namespace."""
    return "table ip piranha_pulse" in run(["nft", "list", "tables"])


def mark_rules(run: Run) -> str:
    """The mangle table's iptables rules plus pulse's nft table, when there is one."""
    text = run(["iptables-save", "-t", "mangle"])
    if nft_in_use(run):
        text += run(["nft", "list", "table", "ip", "piranha_pulse"])
    return text


def has_mark_rule(text: str, vip: str, port: int, mark: int) -> bool:
    """Whether ``text`` (from :func:`mark_rules`) holds the TCP rule VIP:PORT -> MARK."""
    ipt = (f"-A PIRANHA-PULSE -d {re.escape(vip)}/32 -p tcp -m tcp --dport {port} "
           f"-j MARK --set-xmark {mark:#x}/0xffffffff")
    nft = rf"ip daddr {re.escape(vip)} tcp dport {port} meta mark set 0x0*{mark:x}\b"
    return re.search(f"{ipt}|{nft}", text) is not None
