"""The traffic sampler's cost: pulse's CPU per second with sampling on versus off, as a ratio.

    scripts/ipvs-kernel -- .venv/bin/python benchmarks/sampler_bench.py [--services 1000] [--dests 10]
                                                                         [--seconds 20] [--interval 2]

Needs root and a kernel with IPVS (the dry-run backend has no kernel dump to
pay for).  In a network namespace of its own (lo up, nothing else), pulse runs
twice on a ``--services`` x ``--dests`` table (``check = none``: every real
server stays in, no probe traffic, so the sampler is what differs): once with
``--sample-interval 0`` (off) and once with ``--interval``.  After the table is
programmed and pulse has settled, the CPU time of the pulse process
(utime + stime from /proc) is measured over ``--seconds``.  Printed: CPU
seconds per second in each run, their ratio, and how often samples were taken.

No traffic is sent anywhere; the namespace and both pulse runs are removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from pulse_bench import big_config  # noqa: E402

NETNS = f"psampler{os.getpid()}"
TICK = os.sysconf("SC_CLK_TCK")


def config(services: int, dests: int) -> str:
    """pulse_bench's table without VIP devices (no addresses to bring up) and with ``check = none``."""
    text = re.sub(r"(address = 203\.0\.113\.\d+) eth0:\d+", r"\1", big_config(services, dests))
    return text.replace("    scheduler = wlc\n", "    scheduler = wlc\n    check = none\n")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def sample_period(first: dict, last: dict) -> float:
    """Seconds between samples, from two status documents (0 when none was taken between them)."""
    def samples(doc: dict) -> int:
        return int((doc.get("runtime") or {}).get("samples") or 0)
    taken = samples(last) - samples(first)
    return (last["updated"] - first["updated"]) / taken if taken > 0 else 0.0


def run(cf: Path, rundir: Path, interval: float, seconds: float, services: int,
        dests: int) -> dict[str, float]:
    """One pulse run; CPU/s over ``seconds`` once every destination is in and pulse has settled."""
    argv = ["ip", "netns", "exec", NETNS, sys.executable, "-m", "piranha_web.pulse.main", "-n",
            "--backend", "ipvs", "-c", str(cf), "--runtime-dir", str(rundir),
            "--sample-interval", str(interval)]
    log = (rundir.parent / f"pulse-{interval}.log").open("w")
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        status = rundir / "pulse-status.json"
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            try:
                doc = json.loads(status.read_text())
                table = doc.get("table") or []
                complete = sum(len(svc["dests"]) for svc in table) >= services * dests
                if complete and doc.get("state") == "running":
                    break
            except (OSError, ValueError):
                pass
            if proc.poll() is not None:
                text = (rundir.parent / f"pulse-{interval}.log").read_text()
                raise RuntimeError(f"pulse exited: {text[-2000:]}")
            time.sleep(1)
        time.sleep(max(4.0, 3 * interval))          # settle: start-up garbage, first samples
        first = json.loads(status.read_text())
        c0, w0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds)
        c1, w1 = cpu_seconds(proc.pid), time.monotonic()
        last = json.loads(status.read_text())
        return {"cpu_per_s": (c1 - c0) / (w1 - w0), "sample_every": sample_period(first, last)}
    finally:
        proc.terminate()
        try:
            proc.wait(600)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(60)
        log.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--dests", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--interval", type=float, default=2.0)
    args = ap.parse_args()
    if os.geteuid() != 0 or not Path("/proc/net/ip_vs").exists():
        subprocess.run(["modprobe", "ip_vs"], capture_output=True, check=False)
    if os.geteuid() != 0 or not Path("/proc/net/ip_vs").exists():
        sys.exit("sampler_bench: needs root and IPVS (run it under scripts/ipvs-kernel)")
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    try:
        subprocess.run(["ip", "-n", NETNS, "link", "set", "lo", "up"], check=True)
        with tempfile.TemporaryDirectory(prefix="sampler-bench-") as tmp:
            cf = Path(tmp) / "lvs.cf"
            cf.write_text(config(args.services, args.dests))
            results = {}
            for interval in (0.0, args.interval):
                rundir = Path(tmp) / f"run-{interval}"
                rundir.mkdir()
                results[interval] = run(cf, rundir, interval, args.seconds, args.services, args.dests)
    finally:
        subprocess.run(["ip", "netns", "del", NETNS], check=False)
    off, on = results[0.0], results[args.interval]
    print(f"table: {args.services} services x {args.dests} real servers (real IPVS), "
          f"{args.seconds:.0f} s each")
    print(f"sampling off: pulse CPU {off['cpu_per_s']:.4f} s/s")
    every = (f"a sample every {on['sample_every']:.1f} s" if on["sample_every"]
             else "the status file was not rewritten during the window, so no sample period")
    print(f"sampling on ({args.interval:g} s): pulse CPU {on['cpu_per_s']:.4f} s/s, {every}")
    ratio = on["cpu_per_s"] / off["cpu_per_s"] if off["cpu_per_s"] else float("inf")
    print(f"ratio on/off: {ratio:.2f}  (extra {on['cpu_per_s'] - off['cpu_per_s']:.4f} CPU s per s)")


if __name__ == "__main__":
    main()
