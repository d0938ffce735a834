"""``load_monitor``: a real server's weight follows its 1-minute load average, as nanny's did.

Commands (argument lists, never a shell):

* ``uptime``: ``rsh_command HOST uptime``.  ``rsh_command`` is split with
  shlex and may name any program; when it is unset, ssh is used in batch mode
  with strict host-key checking (rsh is kept for lvs.cf's ``rsh_command = rsh``).
* ``rup``: ``rup HOST``; ``ruptime``: ``ruptime`` (the host's line is picked).
  When the tool is not installed this is logged once, clearly, and weights
  stay as configured.

The text after ``load average:`` (uptime, rup) or ``load`` (ruptime) gives
the 1-minute load.  nanny's formula, applied every ``LOAD_PERIOD`` seconds
(nanny: every 20 s of checks) to the current weight ``w`` of a server whose
configured weight is ``W``:

* load < 1: ``w + (W / 2) * cbrt(1 - load)``, at most ``SCALE * W``;
* load > 1: ``w - (W / 2) * cbrt(load - 1)``, at least ``W``;
* the new weight is taken only if it differs from ``w`` by at least ``W / 4``.
"""

from __future__ import annotations

import asyncio
import re
import shutil

from ...lvscf.health import split_program

SCALE = 10          # nanny's -S default: weight may grow to 10 x the configured one
LOAD_PERIOD = 20.0  # seconds between two load samples of one server
SSH = ("ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes")

_LOAD = re.compile(r"load(?: average)?s?:?\s*([0-9]+(?:[.,][0-9]+)?)")


def nanny_weight(current: int, configured: int, load: float, scale: int = SCALE) -> int:
    """The weight after one adjustment for a 1-minute ``load`` (nanny's adjustWeight)."""
    if configured <= 0:
        return current
    half = configured / 2
    if load < 1:
        wanted = min(scale * configured, current + half * (1 - load) ** (1 / 3))
    elif load > 1:
        wanted = max(configured, current - half * (load - 1) ** (1 / 3))
    else:
        return current
    new = int(round(wanted))
    return new if abs(new - current) >= configured / 4 else current


def parse_load(text: str, host: str | None = None) -> float | None:
    """The 1-minute load in ``text`` (the line naming ``host`` when there are several)."""
    lines = text.splitlines()
    if host is not None and len(lines) > 1:
        lines = [ln for ln in lines if ln.split()[:1] and host.startswith(ln.split()[0])] or lines
    for line in lines:
        m = _LOAD.search(line)
        if m:
            return float(m.group(1).replace(",", "."))
    return None


def load_argv(kind: str, host: str, rsh_command: str | None) -> list[str]:
    """The command that reads ``host``'s load for ``load_monitor = kind``."""
    if kind == "uptime":
        base = split_program(rsh_command) if rsh_command else list(SSH)
        return [*base, host, "uptime"]
    if kind == "rup":
        return ["rup", host]
    return ["ruptime"]


def missing_tool(argv: list[str]) -> str | None:
    """A clear message when the program ``argv`` runs is not installed (None when it is)."""
    if shutil.which(argv[0]) is None:
        return f"{argv[0]} is not installed: load_monitor cannot read loads (weights stay as configured)"
    return None


async def read_load(argv: list[str], host: str, timeout: float) -> float | None:
    """Run ``argv`` (no shell, killed after ``timeout``) and parse the load; None when it fails."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    try:
        async with asyncio.timeout(timeout):
            out, _ = await proc.communicate()
    except TimeoutError:
        return None
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        return None
    return parse_load(out.decode(errors="replace"), host)
