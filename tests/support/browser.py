"""Debian's chromium, driven by Playwright, running inside a network namespace.

Playwright launches ``executable_path`` with its own arguments and talks to
it over inherited pipes; a two-line wrapper that ``exec``s
``ip netns exec NS chromium "$@"`` therefore puts the browser (and all its
child processes) in the namespace while the test process stays outside.
Two browsers in two namespaces can be driven from the same test.

Measured in the scripts/ipvs-kernel UML guest (one slow CPU): driver start
~3-5 s, launch ~4 s, first page ~4-8 s, later pages ~1.5 s with
``--single-process`` (multi-process chromium forks a renderer per site and
pays 3-7 s per navigation there).  The Debian ``/usr/bin/chromium`` shell
launcher is bypassed because each of its helper forks costs ~40 ms.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from .netns import IP

REAL_CHROMIUM = Path("/usr/lib/chromium/chromium")
LAUNCH_TIMEOUT_MS = 180_000

BASE_ARGS = [
    "--no-sandbox",  # root in the guest; the sandbox needs user namespaces we do not want
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--mute-audio",
    "--disable-features=Translate,MediaRouter,OptimizationHints,DialMediaRouteProvider",
]
SINGLE_PROCESS_ARGS = ["--single-process", "--no-zygote"]


def chromium_binary() -> str:
    """The chromium ELF binary (skipping Debian's shell launcher when possible)."""
    if REAL_CHROMIUM.exists():
        return str(REAL_CHROMIUM)
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise FileNotFoundError("chromium not installed (apt-get install chromium)")
    return found


def netns_wrapper(netns: str, workdir: Path) -> Path:
    """Write an executable that runs chromium inside *netns* with the given args."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", netns):
        raise ValueError(f"refusing odd namespace name {netns!r} in a shell wrapper")
    wrapper = workdir / f"chromium-{netns}"
    wrapper.write_text(f'#!/bin/sh\nexec {IP} netns exec {netns} {chromium_binary()} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def single_process_default() -> bool:
    """Single-process mode under the UML guest (much faster there), else normal."""
    env = os.environ.get("PIRANHA_E2E_CHROMIUM_SINGLE_PROCESS")
    if env is not None:
        return env == "1"
    return os.environ.get("PIRANHA_IPVS_BACKEND") in ("uml", "qemu")


def launch_in_netns(playwright: Any, netns: str, workdir: Path, *,
                    single_process: bool | None = None) -> Any:
    """Launch headless chromium inside *netns*; returns a Playwright Browser."""
    if single_process is None:
        single_process = single_process_default()
    args = BASE_ARGS + (SINGLE_PROCESS_ARGS if single_process else [])
    return playwright.chromium.launch(executable_path=str(netns_wrapper(netns, workdir)),
                                      args=args, headless=True, timeout=LAUNCH_TIMEOUT_MS)
