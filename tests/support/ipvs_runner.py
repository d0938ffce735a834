"""Tell whether this process can run the ``ipvs``-marked tests.

Those tests need root (network namespaces, netlink) and a kernel with IPVS:
either the ``scripts/ipvs-kernel`` guest or a real IPVS host.  They are
*deselected* on ordinary hosts with ``-m "not ipvs"``; if someone selects
them anyway they must fail loudly, never skip (CI treats skips as failures).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

IPVS_PROC = Path("/proc/net/ip_vs")
RUN_HINT = (
    "the ipvs tests need root and a kernel with IPVS; run them with\n"
    "  scripts/ipvs-kernel --timeout 1800 --mem 2G -- "
    ".venv/bin/python -m pytest -m ipvs tests/ipvs tests/e2e\n"
    "and deselect them elsewhere with -m 'not ipvs'"
)


def in_guest() -> bool:
    """True inside the ``scripts/ipvs-kernel`` guest (it exports this variable)."""
    return os.environ.get("PIRANHA_IPVS_GUEST") == "1"


def _load_ip_vs() -> None:
    """Load the ip_vs module once; /proc/net/ip_vs only appears after that."""
    modprobe = shutil.which("modprobe") or "/usr/sbin/modprobe"
    try:
        subprocess.run([modprobe, "-q", "ip_vs"], timeout=20, check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        pass


def ipvs_available() -> bool:
    """True when we are root and the kernel offers IPVS (loading it if needed)."""
    if os.geteuid() != 0:
        return False
    if not IPVS_PROC.exists():
        _load_ip_vs()
    return IPVS_PROC.exists()


def require_ipvs() -> None:
    """Fail (not skip) the calling test when IPVS is unavailable."""
    if not ipvs_available():
        import pytest

        pytest.fail(RUN_HINT, pytrace=False)
