"""The Debian package: its contents, lintian, and a real install into a throwaway root.

The throwaway root is an overlay of this host's / (writes land in a
temporary upper directory, the host is untouched): ``dpkg --root`` installs
the package there, its postinst runs chrooted (user piranha, /var/lib/piranha),
and then, inside that root, ``pulse --check`` validates the example lvs.cf
and ``piranha-config doctor`` runs.  Needs root (mounts, chroot); the
package's Debian dependencies must be installed on the host (scripts/test.sh
installs them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

pytestmark = pytest.mark.slow
PREFIX = "/opt/piranha-web"
PROGRAMS = ("pulse", "piranha-gui", "piranha-passwd", "piranha-config")
MAN_PAGES = ("man8/pulse.8.gz", "man8/piranha-gui.8.gz", "man8/piranha-passwd.8.gz",
             "man8/piranha-config.8.gz", "man5/lvs.cf.5.gz")


def dpkg_deb(*argv: str) -> str:
    return subprocess.run(["dpkg-deb", *argv], capture_output=True, text=True, check=True, timeout=120).stdout


def test_name_and_control_fields(deb_file: Path) -> None:
    assert deb_file.name.startswith("piranha-web_") and deb_file.name.endswith("_all.deb")
    info = dpkg_deb("-I", str(deb_file))
    for field in ("Package: piranha-web", "Architecture: all", "python3-argon2", "python3-markupsafe",
                  "python3-cryptography"):
        assert field in info, field
    for script in ("postinst", "prerm", "postrm"):
        assert f" {script} " in info


def test_contents(deb_file: Path) -> None:
    names = {line.split()[5].lstrip(".") for line in dpkg_deb("-c", str(deb_file)).splitlines()}
    expected = {f"{PREFIX}/bin/{p}" for p in PROGRAMS} | {f"/usr/sbin/{p}" for p in PROGRAMS}
    expected |= {"/lib/systemd/system/pulse.service", "/lib/systemd/system/piranha-gui.service",
                 "/etc/sysconfig/ha/", "/usr/share/doc/piranha-web/copyright",
                 "/usr/share/doc/piranha-web/examples/lvs.cf"}
    expected |= {f"/usr/share/man/{page}" for page in MAN_PAGES}
    assert expected <= names, sorted(expected - names)
    assert not [n for n in names if n.endswith(".so") or ".so." in n], "compiled code in an _all package"
    data = [n for n in names if "/piranha_web/_data/" in n]
    for part in ("templates/", "static/", "migrations/", "deploy/systemd/"):
        assert any(f"/_data/{part}" in n for n in data), part


def test_lintian_is_clean(deb_file: Path) -> None:
    assert shutil.which("lintian"), "lintian is not installed (scripts/test.sh installs it)"
    result = subprocess.run(["lintian", "--fail-on", "error,warning", str(deb_file)],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def throwaway_root(tmp_path: Path) -> Iterator[Path]:
    """An overlay of / with /proc and /dev: writes go to tmp_path/upper only."""
    assert os.geteuid() == 0, "installing the package needs root (mounts, chroot)"
    upper, work, root = tmp_path / "upper", tmp_path / "work", tmp_path / "root"
    for d in (upper, work, root):
        d.mkdir()
    mounted: list[Path] = []
    try:
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir=/,upperdir={upper},workdir={work}", str(root)], check=True, timeout=30)
        mounted.append(root)
        for fs in ("proc", "dev"):
            subprocess.run(["mount", "--bind", f"/{fs}", str(root / fs)], check=True, timeout=30)
            mounted.append(root / fs)
        yield root
    finally:
        for path in reversed(mounted):
            subprocess.run(["umount", "-l", str(path)], check=False, timeout=30)


def chroot(root: Path, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    return subprocess.run(["chroot", str(root), *argv], env=env, input=stdin, capture_output=True, text=True,
                          timeout=300, check=False)


def test_installs_and_runs_in_a_throwaway_root(deb_file: Path, throwaway_root: Path) -> None:
    root = throwaway_root
    assert not (root / PREFIX.lstrip("/")).exists(), "the host already has piranha-web installed"
    install = subprocess.run(["dpkg", "--root", str(root), "-i", str(deb_file)], capture_output=True,
                             text=True, timeout=600, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    assert "piranha-passwd" in install.stdout, "postinst does not say how to set the password"

    passwd = (root / "etc/passwd").read_text()
    assert any(line.startswith("piranha:") for line in passwd.splitlines())
    assert (root / "var/lib/piranha").is_dir() and (root / "etc/sysconfig/ha").is_dir()

    shutil.copy(root / "usr/share/doc/piranha-web/examples/lvs.cf", root / "etc/sysconfig/ha/lvs.cf")
    check = chroot(root, "pulse", "--check", "-c", "/etc/sysconfig/ha/lvs.cf")
    assert check.returncode == 0 and ": ok" in check.stdout, check.stdout + check.stderr

    doctor = chroot(root, "piranha-config", "doctor")
    # The host kernel decides ipvs/ip_forward; the report itself must come out whole.
    assert doctor.returncode in (0, 1), doctor.stdout + doctor.stderr
    assert "[ OK ] lvs.cf: /etc/sysconfig/ha/lvs.cf is valid" in doctor.stdout, doctor.stdout

    gui = chroot(root, "piranha-gui", "--prepare-only", stdin="")
    assert gui.returncode == 1 and "refusing to start" in gui.stderr, "the console started without a password"
    assert chroot(root, "piranha-passwd", "--stdin", stdin="deb-test-password\n").returncode == 0
    assert chroot(root, "piranha-gui", "--prepare-only", stdin="").returncode == 0

    for page in MAN_PAGES:
        shown = chroot(root, "man", "--warnings", "-l", f"/usr/share/man/{page}")
        assert shown.returncode == 0 and not shown.stderr, f"{page}: {shown.stderr}"
