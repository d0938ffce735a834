"""pulse's signals: each handler only sets a flag for the main loop.

SIGHUP reloads, SIGTERM and SIGINT stop (cleanly: drain, then remove what
pulse built), SIGUSR1 logs the state.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

SIGNALS = {signal.SIGHUP: "reload", signal.SIGTERM: "stop", signal.SIGINT: "stop", signal.SIGUSR1: "dump"}


def install(request: Callable[[str], None]) -> None:
    """Route every pulse signal to ``request(flag)`` on the running loop."""
    loop = asyncio.get_running_loop()
    for sig, flag in SIGNALS.items():
        loop.add_signal_handler(sig, request, flag)


def ignore_during_teardown() -> None:
    """Once stopping: a publish's SIGHUP (or a USR1) must not end a teardown; a second TERM/INT may."""
    loop = asyncio.get_running_loop()
    for sig in SIGNALS:
        loop.remove_signal_handler(sig)
        signal.signal(sig, signal.SIG_IGN if sig in (signal.SIGHUP, signal.SIGUSR1) else signal.SIG_DFL)
