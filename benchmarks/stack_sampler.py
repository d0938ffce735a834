"""Run a Python module under a CPU-time stack sampler; collapsed stacks at exit.

    python benchmarks/stack_sampler.py OUT [--interval S] [--bucket S] -m MODULE [ARGS...]

Where a process's CPU goes, where py-spy cannot attach (it finds no
interpreter in the qemu guest) and cProfile would distort it (it doubles the
cost of every Python call).  ``setitimer(ITIMER_PROF)`` sends SIGPROF after
every ``--interval`` (default 0.05 s) of the process's CPU time, user and
system; the handler runs in the main thread at its next bytecode and records
that thread's stack, so a sample falls where CPU was spent, system calls
included (a thread that samples by wall clock instead lands mostly where
the main thread releases the GIL, i.e. on system calls, and idles with it).
CPU of other threads is charged to the main thread's stack at that moment
(e.g. waiting for the netlink thread).  At exit (pulse returns from ``main``
after SIGTERM) OUT gets one line per distinct stack with its count, as
``t=SECONDS;outer;...;inner N`` (SECONDS: the start of the ``--bucket``,
default 10 s of wall time, the sample fell in): py-spy's raw format, which
flamegraph.pl reads.
"""

from __future__ import annotations

import atexit
import collections
import os
import runpy
import signal
import sys
import time
from pathlib import Path
from types import CodeType, FrameType


_NAMES: dict[CodeType, str] = {}


def stack_of(frame: FrameType | None) -> str:
    """``outer;...;inner`` as ``function (file:line)`` (the file without its directory)."""
    names = []
    while frame is not None:
        code = frame.f_code
        name = _NAMES.get(code)
        if name is None:
            name = _NAMES[code] = f"{code.co_name} ({os.path.basename(code.co_filename)}"
        names.append(f"{name}:{frame.f_lineno})")
        frame = frame.f_back
    return ";".join(reversed(names))


def main() -> int:
    out = Path(sys.argv[1])
    rest = sys.argv[2:]
    opts = {"--interval": 0.05, "--bucket": 10.0}
    while rest[:1] and rest[0] in opts:
        opts[rest[0]], rest = float(rest[1]), rest[2:]
    interval, bucket = opts["--interval"], opts["--bucket"]
    if rest[:1] != ["-m"] or len(rest) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    counts: collections.Counter[str] = collections.Counter()
    t0 = time.monotonic()

    busy = []

    def sample(_signum: int, frame: FrameType | None) -> None:
        if busy:                       # a slow machine: the next signal came while recording this one
            return
        busy.append(True)
        when = int((time.monotonic() - t0) // bucket * bucket)
        counts[f"t={when:04d}s;{stack_of(frame)}"] += 1
        busy.clear()

    def dump() -> None:
        signal.setitimer(signal.ITIMER_PROF, 0)
        out.write_text("".join(f"{stack} {n}\n" for stack, n in counts.most_common()))

    atexit.register(dump)
    signal.signal(signal.SIGPROF, sample)
    signal.setitimer(signal.ITIMER_PROF, interval, interval)
    sys.argv = [rest[1], *rest[2:]]
    runpy.run_module(rest[1], run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
