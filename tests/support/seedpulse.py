"""pulse in the seed lab: the article's lvs.cf on TEST-NET addresses (either family) and pulse's command line.

Shared by the real-IPVS tests that start their own pulse in the director
namespace (tests/ipvs/test_pulse_ipvs.py, test_metrics_ipvs.py), so the
lab's configuration is written once.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Sequence

from .emulation import scaled
from .processes import NsProcess
from .topology import PLAN4, AddressPlan, Lab


def read_status(rundir: Path) -> dict[str, Any]:
    """pulse's status document in ``rundir`` (an empty dict until pulse has written one)."""
    try:
        return dict(json.loads((rundir / "pulse-status.json").read_text()))
    except (OSError, ValueError):
        return {}


def dest_weights(status: dict[str, Any], service: str) -> dict[str, int]:
    """addr -> weight of ``service`` (as the status names it, e.g. ``FWM 80``) in a status document."""
    for svc in status.get("table", []):
        if svc["service"] == service:
            return {d["addr"]: d["weight"] for d in svc["dests"]}
    return {}


def seed_lvs_cf(serial: int = 1, *, rs2_weight: int = 1, scheduler: str = "rr", fwmark: int | None = None,
                send: str | None = None, expect: str | None = None, timeout: float = 0.5,
                reentry: float = 1, plans: Sequence[AddressPlan] = (PLAN4,), network: str = "nat") -> str:
    """The seed article's lvs.cf: per plan (family) a virtual on its VIP with real servers ``real``/``real1``.

    The IPv4 virtual is ``www`` (the article's), an IPv6 one ``www6`` (``www``
    when it is the only one).  ``send``/``expect`` are written as given
    (already lvs.cf-quoted); ``timeout`` and ``reentry`` are native seconds,
    written stretched by the emulation factor.
    """
    head = f"serial_no = {serial}\nprimary = {plans[0].director_public}\nservice = lvs\nbackup_active = 0\n"
    head += f"network = {network}\n"
    for plan in plans if network == "nat" else ():
        suffix = "6" if plan.version == 6 else ""
        mask = plan.plen if plan.version == 6 else "255.255.255.0"
        head += f"nat_router{suffix} = {plan.nat_router} eth1{':1' if plan.version == 4 else ''}\n"
        head += f"nat_nmask{suffix} = {mask}\n"
    probe = f"    send = {send}\n" if send is not None else ""
    probe += f"    expect = {expect}\n" if expect is not None else ""
    virtuals = ""
    for plan in plans:
        name = "www6" if plan.version == 6 and len(plans) > 1 else "www"
        mark = f"    fwmark = {fwmark}\n" if fwmark is not None else ""
        weights = {"rs1": 1, "rs2": rs2_weight}
        servers = "".join(f"""    server {'real' if role == 'rs1' else 'real1'} {{
        address = {addr}
        active = 1
        weight = {weights[role]}
    }}
""" for role, addr in plan.real_servers.items())
        virtuals += f"""virtual {name} {{
    active = 1
    address = {plan.vip} eth0{':1' if plan.version == 4 else ''}
    vip_nmask = {'255.255.255.0' if plan.version == 4 else plan.plen}
{mark}    port = 80
{probe}    scheduler = {scheduler}
    protocol = tcp
    timeout = {scaled(timeout)}
    reentry = {scaled(reentry)}
{servers}}}
"""
    return head + virtuals


def pulse_argv(lvs_cf: Path, rundir: Path, *extra: str) -> list[str]:
    """pulse in the foreground on the ipvs backend (the installed script, else ``-m``)."""
    exe = Path(sys.executable).with_name("pulse")
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "piranha_web.pulse.main"]
    return argv + ["-n", "-c", str(lvs_cf), "--backend", "ipvs", "--runtime-dir", str(rundir), *extra]


class Pulse:
    """The pulse process in a lab's director namespace and its files."""

    def __init__(self, lab: Lab, workdir: Path) -> None:
        self.lab, self.cf, self.rundir = lab, workdir / "lvs.cf", workdir / "run"
        self.proc: NsProcess | None = None

    def write(self, text: str) -> None:
        tmp = self.cf.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(self.cf)

    def start(self) -> None:
        argv = pulse_argv(self.cf, self.rundir, "--drain-seconds", "1")
        self.proc = self.lab.start("director", "pulse", argv)

    def status(self) -> dict[str, Any]:
        return read_status(self.rundir)

    def dests(self, service: str = "FWM 80") -> dict[str, int]:
        """addr -> weight of ``service`` (as the status names it), from pulse's status."""
        return dest_weights(self.status(), service)

    def run(self, *argv: str) -> str:
        return self.lab.run("director", list(argv), timeout=scaled(30)).stdout

    def ipvsadm(self) -> str:
        return self.run("ipvsadm", "-Ln")
