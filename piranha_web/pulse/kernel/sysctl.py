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


# Behind ECMP every director is active: a director that sees the middle of a flow (a nexthop
# came or went) must forward it to the same real server (sloppy_*, with mh choosing alike
# everywhere), connection tracking adds nothing to direct routing, and no director may answer
# ARP for the VIPs it carries on lo (arp_ignore/arp_announce).  All are per network namespace.
ECMP_SYSCTLS = {
    "net.ipv4.vs.sloppy_tcp": "1",
    "net.ipv4.vs.sloppy_sctp": "1",
    "net.ipv4.vs.conntrack": "0",
    # a client reusing a source port whose old connection points at a server now at weight 0
    # (down) is scheduled again instead of being sent to the dead server
    "net.ipv4.vs.expire_nodest_conn": "1",
    "net.ipv4.conf.all.arp_ignore": "1",
    "net.ipv4.conf.all.arp_announce": "2",
}
PROC_SYS = Path("/proc/sys")


def sysctl_path(name: str) -> Path:
    """/proc/sys path of a dotted sysctl name."""
    return PROC_SYS.joinpath(*name.split("."))


def set_sysctls(wanted: dict[str, str]) -> dict[str, str]:
    """Write each sysctl that differs; returns {name: error} for those that could not be set."""
    errors: dict[str, str] = {}
    for name, value in wanted.items():
        path = sysctl_path(name)
        try:
            if path.read_text(encoding="ascii").strip() != value:
                path.write_text(value + "\n", encoding="ascii")
        except OSError as exc:
            errors[name] = exc.strerror or str(exc)
    return errors
