"""Run a command that sees a scratch directory AS /etc/sysconfig/ha, without touching the host's /etc.

Screenshots for docs/ must show the product's real default path
(``/etc/sysconfig/ha/lvs.cf``), not a test's temporary directory, and the
product must not be told to display a path it does not use.  So the console
(and pulse) run with their defaults, in a private mount namespace where
``/etc`` is an overlay (writes land in a per-process scratch upper
directory) and ``/etc/sysconfig/ha`` is a bind mount of the test's
directory.  The test reads what the console wrote from that directory; the
host's /etc is never written (this machine has no /etc/sysconfig at all).

Standalone on purpose (stdlib only, run by path): it enters its own mount
namespace first (``unshare(CLONE_NEWNS)``, then every mount made private), so
nothing it mounts can reach the caller's namespace, and it ``exec``s the
command in place so the caller's pid is the command's pid.

Usage: ``python3 sysconfig_ns.py HA_DIR -- CMD [ARG...]`` as root
(``command()`` builds that argument list).
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SYSCONFIG_HA = Path("/etc/sysconfig/ha")
CLONE_NEWNS = 0x00020000


def command(ha_dir: Path, argv: list[str]) -> list[str]:
    """The argument list that runs ``argv`` with ``ha_dir`` mounted on /etc/sysconfig/ha."""
    return [sys.executable, str(Path(__file__).resolve()), str(ha_dir), "--", *argv]


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def enter_private_namespace() -> None:
    """A mount namespace of our own whose mounts never propagate back; refuse to go on otherwise."""
    before = os.readlink("/proc/self/ns/mnt")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise SystemExit(f"unshare(CLONE_NEWNS): {os.strerror(ctypes.get_errno())} (needs root)")
    if os.readlink("/proc/self/ns/mnt") == before:
        raise SystemExit("still in the caller's mount namespace; refusing to mount")
    _mount("--make-rprivate", "/")


def _submounts(top: Path) -> list[Path]:
    """Mount points strictly below ``top`` (container-provided /etc/hosts and the like)."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = Path(line.split()[4].encode().decode("unicode_escape"))
        if top in point.parents:
            found.append(point)
    return sorted(set(found), key=lambda p: len(p.parts))


def private_etc(ha_dir: Path, scratch: Path) -> None:
    """Overlay /etc (upper in ``scratch``), keep its submounts, bind ``ha_dir`` on /etc/sysconfig/ha."""
    upper, work, keep = scratch / "upper", scratch / "work", scratch / "keep"
    for d in (upper, work, keep):
        d.mkdir()
    kept = []
    for n, point in enumerate(_submounts(Path("/etc"))):  # an overlay of /etc would hide them
        holder = keep / str(n)
        holder.mkdir() if point.is_dir() else holder.touch()
        _mount("--bind", str(point), str(holder))
        kept.append((point, holder))
    _mount("-t", "overlay", "overlay", "-o", f"lowerdir=/etc,upperdir={upper},workdir={work}", "/etc")
    for point, holder in kept:
        _mount("--bind", str(holder), str(point))
    SYSCONFIG_HA.mkdir(parents=True, exist_ok=True)
    _mount("--bind", str(ha_dir), str(SYSCONFIG_HA))


def main(argv: list[str]) -> None:
    """``HA_DIR -- CMD...``: set up the view, then exec CMD (same pid)."""
    if len(argv) < 3 or argv[1] != "--":
        raise SystemExit("usage: sysconfig_ns.py HA_DIR -- CMD [ARG...]")
    ha_dir = Path(argv[0]).resolve()
    ha_dir.mkdir(parents=True, exist_ok=True)
    enter_private_namespace()
    private_etc(ha_dir, Path(tempfile.mkdtemp(prefix="etc-", dir=ha_dir.parent)))
    os.execvp(argv[2], argv[2:])


if __name__ == "__main__":
    main(sys.argv[1:])
