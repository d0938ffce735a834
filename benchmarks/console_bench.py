"""Console benchmark: 1,000 virtual x 10 real servers, real gunicorn, timed over HTTP.

Measures p50/p95 of the VIRTUAL SERVERS list, one VIRTUAL SERVER edit page,
a publish (ACCEPT that rewrites the whole lvs.cf) and, as a baseline from
the same run, a static file GET; prints each as milliseconds and as a ratio
to the baseline.  Targets: pages p95 < 100 ms, publish p95 < 500 ms.

    .venv/bin/python benchmarks/console_bench.py [--virtuals 1000] [--reals 10] [--requests 200]
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PASSWORD = "benchmark password"
TOKEN_RE = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def big_lvs_cf(virtuals: int, reals: int) -> str:
    """A valid lvs.cf with ``virtuals`` active virtual servers of ``reals`` real servers each."""
    out = ["serial_no = 1", "primary = 192.0.2.250", "service = lvs", "network = nat",
           "nat_router = 192.0.2.254 eth1:1", "nat_nmask = 255.255.255.0"]
    for i in range(virtuals):
        vip = f"203.0.113.{i % 250 + 1}"
        port = 80 + i // 250
        out += [f"virtual v{i:04d} {{", "\tactive = 1", f"\taddress = {vip} eth0:1", f"\tport = {port}",
                '\tsend = "GET / HTTP/1.0\\r\\n\\r\\n"', '\texpect = "HTTP"', "\tscheduler = wlc",
                "\ttimeout = 6", "\treentry = 15"]
        for j in range(reals):
            out += [f"\tserver r{j:02d} {{", f"\t\taddress = 192.0.2.{j + 1}", "\t\tactive = 1",
                    f"\t\tweight = {j + 1}", "\t}"]
        out.append("}")
    return "\n".join(out) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """A cookie-keeping HTTP client that does not follow redirects (we time single requests)."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return None

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), self._NoRedirect)

    def request(self, path: str, data: dict[str, str] | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(self.base + path, data=body, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def token(self, path: str) -> str:
        status, html = self.request(path)
        match = TOKEN_RE.search(html)
        assert match, f"no csrf token on {path} ({status})"
        return match.group(1)


def timed(fn: Callable[[], tuple[int, str]], n: int, expect: int) -> list[float]:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        status, body = fn()
        samples.append((time.perf_counter() - t0) * 1000)
        assert status == expect, (status, body[:300])
    return samples


def pct(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--virtuals", type=int, default=1000)
    parser.add_argument("--reals", type=int, default=10)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--publishes", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="console-bench-") as tmp:
        tmpdir = Path(tmp)
        lvs_cf = tmpdir / "lvs.cf"
        lvs_cf.write_text(big_lvs_cf(args.virtuals, args.reals))
        env = dict(os.environ, PIRANHA_INSTANCE=str(tmpdir / "instance"), PIRANHA_LVS_CF=str(lvs_cf))
        env.pop("PIRANHA_DATABASE_URL", None)
        t0 = time.perf_counter()
        subprocess.run([str(BIN / "piranha-passwd"), "--stdin"], input=PASSWORD + "\n", env=env, check=True,
                       capture_output=True, text=True)
        port = free_port()
        gui = subprocess.Popen([str(BIN / "piranha-gui"), "--bind", f"127.0.0.1:{port}",
                                "--workers", str(args.workers)], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            client = Client(f"http://127.0.0.1:{port}")
            deadline = time.monotonic() + 120
            while True:
                try:
                    if client.request("/login")[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("console did not start")
                time.sleep(0.2)
            print(f"setup (first-start import of {args.virtuals}x{args.reals} + gunicorn start): "
                  f"{time.perf_counter() - t0:.1f} s")
            status, _ = client.request("/login", {"csrf_token": client.token("/login"), "username": "piranha",
                                                  "password": PASSWORD})
            assert status == 302, status
            _, listing = client.request("/virtual/")
            vid = int(re.search(r'value="(\d+):\d+" id="select-', listing).group(1))
            edit = f"/virtual/{vid}/"
            for path in ("/static/css/piranha.css", "/virtual/", edit):  # warm both workers
                for _ in range(4):
                    client.request(path)
            n = args.requests
            results = {
                "static file (baseline)": timed(lambda: client.request("/static/css/piranha.css"), n, 200),
                "VIRTUAL SERVERS list": timed(lambda: client.request("/virtual/"), n, 200),
                "VIRTUAL SERVERS list, last page": timed(lambda: client.request("/virtual/?page=20"), n, 200),
                "VIRTUAL SERVER edit page": timed(lambda: client.request(edit), n, 200),
                "CONTROL/MONITORING": timed(lambda: client.request("/"), n, 200),
            }
            timed(lambda: _publish(client, edit), args.publishes, 302)
            results["publish (ACCEPT, whole lvs.cf)"] = _publish_times
            size = lvs_cf.stat().st_size
        finally:
            gui.terminate()
            gui.wait(30)
    base = statistics.median(results["static file (baseline)"])
    print(f"{args.virtuals} virtual x {args.reals} real servers, gunicorn {args.workers} workers, "
          f"lvs.cf {size / 1024:.0f} KiB")
    print(f"{'request':34} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'p50/baseline':>13}")
    for name, samples in results.items():
        print(f"{name:34} {len(samples):>4} {pct(samples, 50):8.1f} {pct(samples, 95):8.1f} "
              f"{pct(samples, 50) / base:12.1f}x")
    return 0


_flip = [0]


def _publish(client: Client, edit: str) -> tuple[int, str]:
    """Load the edit form (not timed separately) and ACCEPT a changed port: a full publish."""
    status, html = client.request(edit)
    fields = dict(re.findall(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"', html))
    selected = r'<select[^>]*name="(\w+)"[^>]*>.*?<option selected value="([^"]*)"'
    fields.update(re.findall(selected, html, re.S))
    _flip[0] += 1
    fields.update({"port": str(8000 + _flip[0]), "action": "accept", "quiesce_server": "0"})
    t0 = time.perf_counter()
    unescaped = {k: v.replace("&#34;", '"').replace("&amp;", "&") for k, v in fields.items()}
    result = client.request(edit, unescaped)
    _publish_times.append((time.perf_counter() - t0) * 1000)
    return result


_publish_times: list[float] = []

if __name__ == "__main__":
    sys.exit(main())
