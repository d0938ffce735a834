"""pulse in the seed lab: the article's lvs.cf on TEST-NET addresses and pulse's command line.

Shared by the real-IPVS tests that start their own pulse in the director
namespace (tests/ipvs/test_pulse_ipvs.py, test_metrics_ipvs.py), so the
lab's configuration is written once.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .emulation import scaled
from .topology import VIP


def seed_lvs_cf(serial: int = 1, *, rs2_weight: int = 1, scheduler: str = "rr", fwmark: int | None = None,
                send: str | None = None, expect: str | None = None, timeout: float = 0.5,
                reentry: float = 1) -> str:
    """The seed article's NAT lvs.cf: virtual ``www`` on the VIP, real servers ``real``/``real1``.

    ``send``/``expect`` are written as given (already lvs.cf-quoted); ``timeout``
    and ``reentry`` are native seconds, written stretched by the emulation factor.
    """
    mark = f"    fwmark = {fwmark}\n" if fwmark is not None else ""
    probe = f"    send = {send}\n" if send is not None else ""
    probe += f"    expect = {expect}\n" if expect is not None else ""
    return f"""serial_no = {serial}
primary = 203.0.113.1
service = lvs
backup_active = 0
network = nat
nat_router = 192.0.2.254 eth1:1
nat_nmask = 255.255.255.0
virtual www {{
    active = 1
    address = {VIP} eth0:1
    vip_nmask = 255.255.255.0
{mark}    port = 80
{probe}    scheduler = {scheduler}
    protocol = tcp
    timeout = {scaled(timeout)}
    reentry = {scaled(reentry)}
    server real {{
        address = 192.0.2.1
        active = 1
        weight = 1
    }}
    server real1 {{
        address = 192.0.2.2
        active = 1
        weight = {rs2_weight}
    }}
}}
"""


def pulse_argv(lvs_cf: Path, rundir: Path, *extra: str) -> list[str]:
    """pulse in the foreground on the ipvs backend (the installed script, else ``-m``)."""
    exe = Path(sys.executable).with_name("pulse")
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "piranha_web.pulse.main"]
    return argv + ["-n", "-c", str(lvs_cf), "--backend", "ipvs", "--runtime-dir", str(rundir), *extra]
