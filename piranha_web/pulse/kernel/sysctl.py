"""The forwarding switches NAT depends on, read from /proc/sys.

A director forwarding by NAT routes every reply of its real servers; with
forwarding off for a family IPVS still schedules the connections of that
family's services but the replies are dropped, so clients just time out.
"""

from __future__ import annotations

from pathlib import Path

FORWARDING = {4: Path("/proc/sys/net/ipv4/ip_forward"),
              6: Path("/proc/sys/net/ipv6/conf/all/forwarding")}
SYSCTL_NAME = {4: "net.ipv4.ip_forward", 6: "net.ipv6.conf.all.forwarding"}


def forwarding(family: int) -> bool | None:
    """Is forwarding on for IP ``family`` (4 or 6) in this network namespace?  None: unreadable."""
    try:
        return FORWARDING[family].read_text(encoding="ascii").strip() == "1"
    except OSError:
        return None
