"""``piranha-config doctor``: does this host have what pulse needs?

Each check prints ``[ OK ]`` or ``[FAIL]``, what it found and, when it
fails, the command that fixes it; the exit status is 1 when anything
failed, so the doctor can gate a deployment script.  It only reads: no
module is loaded, no sysctl written.  Everything it looks at goes through
:class:`Host`, so the tests run it against a fake /proc and /sys.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from ..config import DEFAULT_LVS_CF, lvs_cf_path


@dataclass
class Check:
    """One line of the report."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


class Host:
    """The parts of the machine the checks read (overridable for tests)."""

    def __init__(self, root: Path = Path("/"), which: Callable[[str], str | None] = shutil.which,
                 addresses: dict[str, str] | None = None, modprobe_ok: bool | None = None) -> None:
        self.root = root
        self.which = which
        self._addresses = addresses
        self._modprobe_ok = modprobe_ok

    def path(self, *parts: str) -> Path:
        """A path below the host's root (``/`` unless testing)."""
        return self.root.joinpath(*parts)

    def read(self, *parts: str) -> str | None:
        try:
            return self.path(*parts).read_text().strip()
        except OSError:
            return None

    def has_device(self, name: str) -> bool:
        return self.path("sys", "class", "net", name).exists()

    def modprobe_ok(self, module: str) -> bool:
        """Whether ``modprobe`` could load ``module`` (dry run: loads nothing)."""
        if self._modprobe_ok is not None:
            return self._modprobe_ok
        modprobe = self.which("modprobe") or "/sbin/modprobe"
        try:
            return subprocess.run([modprobe, "-n", "-q", module], capture_output=True,
                                  timeout=10).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False

    def addresses(self) -> dict[str, str]:
        """Every IP address on this host -> the device carrying it (``ip -j addr``)."""
        if self._addresses is None:
            self._addresses = _ip_addresses(self.which("ip"))
        return self._addresses


def _ip_addresses(ip: str | None) -> dict[str, str]:
    if not ip:
        return {}
    try:
        out = subprocess.run([ip, "-j", "addr", "show"], capture_output=True, text=True, timeout=10)
        links = json.loads(out.stdout or "[]")
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}
    found: dict[str, str] = {}
    for link in links:
        for info in link.get("addr_info", []):
            if "local" in info:
                found[info["local"]] = info.get("label") or link.get("ifname", "?")
    return found


# --------------------------------------------------------------------------- the checks

def check_config(path: str) -> tuple[Check, Any]:
    """lvs.cf parses and validates; the config is returned for the other checks."""
    from piranha_web.lvscf import LvsCfError, load

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        return Check("lvs.cf", False, f"{path}: cannot read: {exc.strerror or exc}",
                     "create it with the console (piranha-gui) or `piranha-config import FILE`"), None
    try:
        cfg = load(text)
    except LvsCfError as err:
        first = err.problems[0]
        more = f" (and {len(err.problems) - 1} more)" if len(err.problems) > 1 else ""
        return Check("lvs.cf", False, f"{path}:{first.line}: {first.message}{more}",
                     f"see every problem with `piranha-config check {path}`"), None
    servers = sum(len(v.servers) for v in cfg.virtuals)
    return Check("lvs.cf", True, f"{path} is valid ({len(cfg.virtuals)} virtual, "
                                 f"{servers} real servers)"), cfg


def check_ipvs(host: Host) -> Check:
    """IPVS in the kernel, or loadable."""
    if host.path("proc", "net", "ip_vs").exists():
        return Check("ipvs", True, "IPVS is loaded (/proc/net/ip_vs)")
    if host.modprobe_ok("ip_vs"):
        return Check("ipvs", True, "IPVS is not loaded but modprobe can load ip_vs (pulse.service does)")
    return Check("ipvs", False, "no /proc/net/ip_vs and `modprobe -n ip_vs` fails: this kernel has no IPVS",
                 "install your distribution's kernel modules package (IPVS is CONFIG_IP_VS), then "
                 "`modprobe ip_vs && echo ip_vs > /etc/modules-load.d/ipvs.conf`")


def check_forwarding(host: Host, cfg: Any) -> list[Check]:
    """NAT needs the director to route: ip_forward=1 (and IPv6 forwarding for IPv6 VIPs)."""
    if cfg is None:
        return []
    if cfg.network != "nat":
        return [Check("ip_forward", True, f"not needed (network = {cfg.network})")]
    out = []
    families = cfg.nat_families() or {4}
    for family, name, path in ((4, "ip_forward", ("ipv4", "ip_forward")),
                               (6, "ipv6 forwarding", ("ipv6", "conf", "all", "forwarding"))):
        if family not in families:
            continue
        value = host.read("proc", "sys", "net", *path)
        sysctl = "net." + ".".join(path)
        out.append(Check(name, value == "1", f"{sysctl} = {value or '?'} (network = nat routes the "
                                             f"IPv{family} real servers' replies)",
                         "" if value == "1" else f"sysctl -w {sysctl}=1 && echo "
                         f"'{sysctl} = 1' > /etc/sysctl.d/90-piranha.conf"))
    return out


def check_firewall(host: Host) -> Check:
    """nft or iptables: pulse installs firewall marks (fwmark services) with one of them."""
    found = [tool for tool in ("nft", "iptables") if host.which(tool)]
    if found:
        return Check("firewall tool", True, f"{' and '.join(found)} present")
    return Check("firewall tool", False, "neither nft nor iptables is installed (fwmark services need one)",
                 "apt-get install nftables   (or: dnf install nftables)")


def _devices(cfg: Any) -> list[tuple[str, str]]:
    """(physical device, what uses it) for every device lvs.cf names."""
    wanted: list[tuple[str, str]] = []
    for vs in cfg.active_virtuals():
        if vs.device:
            wanted.append((vs.device.split(":")[0], f"virtual {vs.name} (line {vs.key_line('address')})"))
    if cfg.network == "nat" and cfg.nat_router_device:
        wanted.append((cfg.nat_router_device.split(":")[0],
                       f"nat_router (line {cfg.key_line('nat_router')})"))
    if cfg.syncdaemon and cfg.syncd_iface:
        wanted.append((cfg.syncd_iface, f"syncd_iface (line {cfg.key_line('syncd_iface')})"))
    seen: dict[str, str] = {}
    for dev, user in wanted:
        seen[dev] = f"{seen[dev]}, {user}" if dev in seen else user
    return list(seen.items())


def check_devices(host: Host, cfg: Any) -> list[Check]:
    """Every device lvs.cf puts an address on exists here."""
    if cfg is None:
        return []
    out = []
    for dev, users in _devices(cfg):
        ok = host.has_device(dev)
        out.append(Check(f"device {dev}", ok, f"{'exists' if ok else 'does not exist'}; used by {users}",
                         "" if ok else "fix the device in lvs.cf or create it (`ip -br link` lists "
                         "this host's devices)"))
    return out


def check_addresses(host: Host, cfg: Any) -> list[Check]:
    """This host is the primary or the backup (pulse decides its role by its addresses)."""
    if cfg is None or not (cfg.primary or cfg.backup):
        return [] if cfg is None else [Check("role address", True, "no primary set: single director")]
    local = host.addresses()
    roles = [("primary", cfg.primary), ("backup", cfg.backup if cfg.backup_active else None)]
    mine = [(role, addr) for role, addr in roles if addr and addr in local]
    if not mine:
        named = [f"{role} {addr}" for role, addr in roles if addr]
        what = f"neither {' nor '.join(named)} is" if len(named) > 1 else f"{named[0]} is not"
        return [Check("role address", False, f"{what} configured on this host",
                      f"add the address to this host's network configuration (e.g. "
                      f"`ip addr add {cfg.primary}/24 dev eth0`) or correct lvs.cf")]
    role, addr = mine[0]
    out = [Check("role address", True, f"this host is the {role} ({addr} on {local[addr]})")]
    private = cfg.primary_private if role == "primary" else cfg.backup_private
    if private and private != addr:
        ok = private in local
        out.append(Check("heartbeat address", ok, f"{role}_private {private} "
                                                  f"{'is' if ok else 'is not'} configured here",
                         "" if ok else f"add {private} to the heartbeat link or correct lvs.cf"))
    return out


def run_checks(path: str, host: Host | None = None) -> list[Check]:
    """Every check, in the order a person would fix them."""
    host = host or Host()
    config_check, cfg = check_config(path)
    checks = [config_check, check_ipvs(host)]
    checks += check_forwarding(host, cfg)
    checks.append(check_firewall(host))
    checks += check_devices(host, cfg)
    checks += check_addresses(host, cfg)
    return checks


def format_report(checks: list[Check]) -> str:
    """Human report: one line per check, the fix indented below a failure."""
    lines = []
    for c in checks:
        lines.append(f"[{' OK ' if c.ok else 'FAIL'}] {c.name}: {c.detail}")
        if not c.ok and c.fix:
            lines.append(f"       fix: {c.fix}")
    failed = sum(not c.ok for c in checks)
    lines.append(f"{len(checks) - failed} ok, {failed} failed")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- command line

def register(parser: argparse.ArgumentParser) -> None:
    """``doctor [FILE] [--json]``."""
    parser.add_argument("file", nargs="?", default=None, metavar="FILE",
                        help=f"lvs.cf to check against (default: $PIRANHA_LVS_CF or {DEFAULT_LVS_CF})")
    parser.add_argument("--json", action="store_true", help="print the checks as a JSON array")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the report; exit 1 if any check failed."""
    path = args.file or lvs_cf_path()
    checks = run_checks(path)
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        sys.stdout.write(format_report(checks))
    return 0 if all(c.ok for c in checks) else 1
