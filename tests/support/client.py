"""Client-side traffic from inside a namespace: fetches and held connections.

All sockets are opened by a thread that joined the namespace (see
netns.in_netns), so no python process is spawned per request.
"""
from __future__ import annotations

import re
import socket
import time
import urllib.request

from .netns import in_netns

_SERVER_RE = re.compile(r'<h1 id="server">([^<]*)</h1>')


def page_name(body: str) -> str:
    """The real server's name from its page (or the raw body if unknown)."""
    match = _SERVER_RE.search(body)
    return match.group(1) if match else body.strip()[:80]


def _fetch_once(url: str, timeout: float) -> str:
    request = urllib.request.Request(url, headers={"Connection": "close"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read().decode("utf-8", "replace")


def fetch(netns: str, url: str, *, timeout: float = 5) -> str:
    """GET *url* once from inside *netns*; return the body."""
    return in_netns(netns, _fetch_once, url, timeout, timeout=timeout + 5)


def fetch_many(netns: str, url: str, count: int, *, timeout: float = 5,
               pause: float = 0.0) -> list[str]:
    """GET *url* *count* times, a new TCP connection each; return page names."""

    def run() -> list[str]:
        names = []
        for _ in range(count):
            names.append(page_name(_fetch_once(url, timeout)))
            if pause:
                time.sleep(pause)
        return names

    return in_netns(netns, run, timeout=count * (timeout + pause) + 5)


class HeldConnection:
    """One TCP connection kept open; sends HTTP/1.1 keep-alive requests on it.

    Used to prove that an IPVS reload does not break established connections.
    The real servers keep the connection open only for ``/keepalive``.
    """

    def __init__(self, netns: str, host: str, port: int = 80, *, timeout: float = 5) -> None:
        self.host = host
        self.timeout = timeout
        self.sock: socket.socket = in_netns(
            netns, socket.create_connection, (host, port), timeout)
        self.sock.settimeout(timeout)
        self.local = self.sock.getsockname()

    def request(self, path: str = "/keepalive") -> str:
        """Send one GET on the held connection and return the page name."""
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = b""
        deadline = time.monotonic() + self.timeout
        while b"\r\n\r\n" not in head:
            if time.monotonic() > deadline:
                raise TimeoutError("no response header on held connection")
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("held connection closed by peer")
            head += chunk
        header, _, body = head.partition(b"\r\n\r\n")
        length_match = re.search(rb"(?im)^content-length:\s*(\d+)", header)
        if not length_match:
            raise ConnectionError(f"no Content-Length in {header!r}")
        length = int(length_match.group(1))
        while len(body) < length:
            if time.monotonic() > deadline:
                raise TimeoutError("short body on held connection")
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("held connection closed mid-body")
            body += chunk
        return page_name(body[:length].decode("utf-8", "replace"))

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def __enter__(self) -> "HeldConnection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
