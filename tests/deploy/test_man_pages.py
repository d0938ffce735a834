"""Every man page renders with ``man -l`` and no warnings (groff's -ww warnings included)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

MAN = Path(__file__).resolve().parents[2] / "man"
PAGES = ("pulse.8", "piranha-gui.8", "piranha-passwd.8", "piranha-config.8", "lvs.cf.5")


@pytest.mark.parametrize("page", PAGES)
def test_renders_without_warnings(page: str) -> None:
    assert shutil.which("man"), "man-db is not installed (scripts/test.sh installs it)"
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    shown = subprocess.run(["man", "--warnings=all", "-l", str(MAN / page)], env=env, capture_output=True,
                           text=True, timeout=60, check=False)
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    text = re.sub(".\b", "", shown.stdout)  # without the overstrike that makes bold
    assert page.rsplit(".", 1)[0].upper() in text and "SEE ALSO" in text


def test_every_program_has_a_page() -> None:
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(MAN.parent / "setup.cfg")
    lines = cfg["options.entry_points"]["console_scripts"].splitlines()
    scripts = [line.split("=")[0].strip() for line in lines if line.strip()]
    assert sorted(f"{s}.8" for s in scripts) == sorted(p for p in PAGES if p.endswith(".8"))
