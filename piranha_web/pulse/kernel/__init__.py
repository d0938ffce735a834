"""Pick the kernel backends: real IPVS/addresses/firewall, or the in-memory dry run.

``auto`` means real IPVS when running as root and ``/proc/net/ip_vs`` exists
(after trying ``modprobe ip_vs``); otherwise dry-run, with a warning, so an
unprivileged ``pulse -n`` still shows what it would do.  The firewall backend
is chosen lazily (nft probing creates pulse's own table), only when a mark
rule is actually needed.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .dryrun import (
    AddressBackend, DryRunAddresses, DryRunFirewall, DryRunIpvs, FirewallBackend, IpvsBackend,
)

log = logging.getLogger("pulse")

PROC_IPVS = Path("/proc/net/ip_vs")


@dataclass
class Backends:
    """The three kernel interfaces the daemon uses, plus a firewall factory."""

    ipvs: IpvsBackend
    addresses: AddressBackend
    firewall_factory: Callable[[str | None], FirewallBackend]   # arg: Firewall.name of a previous run
    name: str
    forwarding: Callable[[int], bool | None] = lambda _family: None   # IP version -> on? (None: unknown)
    sysctls: Callable[[dict[str, str]], dict[str, str]] = lambda _wanted: {}   # set; {name: error}

    def close(self) -> None:
        """Close the IPVS and address sockets (the firewall backend holds none)."""
        self.ipvs.close()
        self.addresses.close()


def ipvs_available() -> bool:
    """Root and an IPVS-capable kernel (loading ip_vs if it is a module)."""
    if os.geteuid() != 0:
        return False
    if not PROC_IPVS.exists():
        try:
            subprocess.run(["modprobe", "ip_vs"], capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            pass
    return PROC_IPVS.exists()


def dry_run_backends() -> Backends:
    """Everything in memory."""
    return Backends(DryRunIpvs(), DryRunAddresses(), lambda _kind: DryRunFirewall(), "dry-run")


def real_backends() -> Backends:
    """Raw-netlink IPVS and addresses, nft/iptables (pyroute2 is imported only in this package)."""
    from .firewall import choose_firewall
    from .ipvs import NetlinkIpvs
    from .addresses import NetlinkAddresses
    from .sysctl import forwarding, set_sysctls
    return Backends(NetlinkIpvs(), NetlinkAddresses(), choose_firewall, "ipvs", forwarding, set_sysctls)


def resolve_mode(mode: str) -> str:
    """``auto``/``ipvs``/``dry-run`` to ``ipvs`` or ``dry-run``; ``ipvs`` without IPVS raises RuntimeError."""
    if mode == "dry-run":
        return "dry-run"
    if ipvs_available():
        return "ipvs"
    if mode == "ipvs":
        raise RuntimeError("IPVS is not available (need root and a kernel with ip_vs)")
    log.warning("no IPVS (not root or no ip_vs in this kernel): running with the dry-run backend")
    return "dry-run"


def make_backends(mode: str) -> Backends:
    """Backends for a mode already resolved by :func:`resolve_mode` (or resolve it now)."""
    if mode not in ("ipvs", "dry-run"):
        mode = resolve_mode(mode)
    return real_backends() if mode == "ipvs" else dry_run_backends()
