"""Protocol checks beyond connect and send/expect: HTTP(S) as keepalived's, DNS, HAProxy's agent.

* http/https: one ``GET path HTTP/1.0`` with a ``Host`` header (keepalived's
  request, so the answer is never chunked); healthy when the status is in
  ``check_status``, the body matches ``check_body`` (a regex) and its MD5 is
  ``check_digest`` (keepalived's digest: MD5 of the bytes after the header).
  https sends ``check_host`` as SNI and verifies the certificate only with
  ``check_verify = 1`` (keepalived's default is off), against
  ``check_ca_file`` when given, else the system's CAs.
* dns: one query over UDP; healthy on a NOERROR answer with at least one record.
* agent: connect to ``agent_port``, read one line, close; the reply's words
  (comma or blank separated) are ``N%``, ``drain``, ``maint``/``down``
  (taken out), ``ready``/``up`` (clear drain and maintenance).  A reply with
  none of them is a failure, as is a failed connection.

Each coroutine returns ``(ok, detail, extra)``; the caller bounds it in time.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

BODY_LIMIT = 1 << 20        # bytes of an HTTP answer read at most
_LINGER_RST = struct.pack("ii", 1, 0)
T = TypeVar("T")
AGENT_LIMIT = 1024
_STATUS_LINE = re.compile(rb"HTTP/\d(?:\.\d)? (\d{3})")


@dataclass(frozen=True)
class HttpSpec:
    """What an http/https check asks and accepts."""

    tls: bool
    path: str = "/"
    host: str | None = None
    status: tuple[tuple[int, int], ...] = ((200, 299),)
    body: "re.Pattern[bytes] | None" = None
    digest: str | None = None
    verify: bool = False
    ca_file: str | None = None


@dataclass(frozen=True)
class AgentReply:
    """What one agent line said (None / False: the word did not appear)."""

    pct: int | None = None
    drain: bool = False
    maint: bool = False
    ready: bool = False


def tls_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    """A client context: verifying (against ``ca_file`` or the system) or accepting any certificate."""
    if verify:
        return ssl.create_default_context(cafile=ca_file)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def http_request(spec: HttpSpec, host: str, port: int) -> bytes:
    """keepalived's request: HTTP/1.0, a Host header, nothing kept alive."""
    name = spec.host or (f"[{host}]" if ":" in host else host)
    default = 443 if spec.tls else 80
    authority = name if port == default or spec.host else f"{name}:{port}"
    return (f"GET {spec.path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: pulse-health\r\n"
            "Connection: close\r\n\r\n").encode("latin-1")


def judge_http(spec: HttpSpec, answer: bytes) -> tuple[bool, str]:
    """Decide an HTTP answer against the status ranges, body regex and digest."""
    m = _STATUS_LINE.match(answer)
    if m is None:
        return False, "not an HTTP answer"
    code = int(m.group(1))
    if not any(lo <= code <= hi for lo, hi in spec.status):
        return False, f"status {code}"
    head_end = answer.find(b"\r\n\r\n")
    body = answer[head_end + 4:] if head_end >= 0 else b""
    if spec.body is not None and spec.body.search(body) is None:
        return False, f"status {code}, body does not match"
    if spec.digest is not None:
        got = hashlib.md5(body, usedforsecurity=False).hexdigest()
        if got != spec.digest:
            return False, f"status {code}, digest {got}"
    return True, f"status {code}"


async def http_check(spec: HttpSpec, host: str, port: int, ctx: ssl.SSLContext | None) -> tuple[bool, str]:
    """One HTTP(S) GET; reads the answer to EOF (at most BODY_LIMIT bytes).

    On a bare non-blocking socket, TLS through :class:`ssl.SSLSocket` driven
    by readiness callbacks: asyncio's streams and its TLS protocol (memory
    BIOs, transports, a buffered reader) cost several times the CPU of the
    request itself, and checks at 10,000 servers are nothing but that.
    """
    loop = asyncio.get_running_loop()
    conn: socket.socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                                        socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)   # no TIME_WAIT pile-up
        await loop.sock_connect(conn, (host, port))
        request = http_request(spec, host, port)
        if not spec.tls:
            await loop.sock_sendall(conn, request)
            return judge_http(spec, await _read_all(lambda: loop.sock_recv(conn, 65536)))
        assert ctx is not None
        conn = ctx.wrap_socket(conn, server_hostname=spec.host or host, do_handshake_on_connect=False)
        tls = conn
        await _tls_io(loop, tls, tls.do_handshake)
        await _tls_io(loop, tls, tls.sendall, request)
        return judge_http(spec, await _read_all(lambda: _tls_io(loop, tls, tls.recv, 65536)))
    finally:
        conn.close()


async def _read_all(read: Callable[[], Awaitable[bytes]]) -> bytes:
    """Chunks from ``read`` until EOF or BODY_LIMIT."""
    answer = b""
    while len(answer) < BODY_LIMIT:
        chunk = await read()
        if not chunk:
            break
        answer += chunk
    return answer


async def _tls_io(loop: asyncio.AbstractEventLoop, sock: ssl.SSLSocket, step: Callable[..., T],
                  *args: object) -> T:
    """Run one non-blocking TLS operation, waiting for the socket whenever OpenSSL asks to."""
    while True:
        try:
            return step(*args)
        except ssl.SSLWantReadError:
            await _ready(loop, sock.fileno(), loop.add_reader, loop.remove_reader)
        except ssl.SSLWantWriteError:
            await _ready(loop, sock.fileno(), loop.add_writer, loop.remove_writer)


async def _ready(loop: asyncio.AbstractEventLoop, fd: int, add: Callable[..., None],
                 remove: Callable[[int], object]) -> None:
    """Wait until ``fd`` is readable (or writable): one epoll registration, removed again."""
    done = loop.create_future()
    add(fd, _resolve, done)
    try:
        await done
    finally:
        remove(fd)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


# ----------------------------------------------------------------------------- DNS

def dns_query(name: str, qtype: int, ident: int) -> bytes:
    """A recursive query for ``name``/``qtype`` class IN."""
    labels = [p for p in name.rstrip(".").split(".") if p]
    qname = b"".join(bytes([len(p.encode())]) + p.encode() for p in labels) + b"\0"
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", qtype, 1)


def judge_dns(reply: bytes, ident: int) -> tuple[bool, str] | None:
    """NOERROR with >= 1 answer record; None when ``reply`` is not the answer to our query."""
    if len(reply) < 12:
        return None
    rid, flags, _, ancount = struct.unpack("!HHHH", reply[:8])
    if rid != ident or not flags & 0x8000:
        return None
    rcode = flags & 0xF
    if rcode != 0:
        return False, f"rcode {rcode}"
    if ancount < 1:
        return False, "no records"
    return True, f"{ancount} record(s)"


async def dns_check(host: str, port: int, name: str, qtype: int) -> tuple[bool, str]:
    """Ask ``host`` over UDP; wait for the matching answer."""
    loop = asyncio.get_running_loop()
    ident = int.from_bytes(os.urandom(2), "big")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, (host, port))
        await loop.sock_sendall(sock, dns_query(name, qtype, ident))
        while True:
            verdict = judge_dns(await loop.sock_recv(sock, 4096), ident)
            if verdict is not None:
                return verdict
    finally:
        sock.close()


# ----------------------------------------------------------------------------- agent

def parse_agent(line: str) -> AgentReply | None:
    """The words of one agent line; None when it says nothing pulse understands."""
    pct: int | None = None
    drain = maint = ready = False
    known = False
    for word in re.split(r"[\s,]+", line.strip().lower()):
        if re.fullmatch(r"\d{1,3}%", word):
            pct, known = min(100, int(word[:-1])), True
        elif word == "drain":
            drain = known = True
        elif word in ("maint", "down", "stopped", "fail"):
            maint = known = True
        elif word in ("ready", "up"):
            ready = known = True
    return AgentReply(pct, drain, maint, ready) if known else None


async def agent_check(host: str, port: int) -> tuple[bool, str, AgentReply | None]:
    """Connect, read one line, close (the agent is the check)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        line = await reader.readline()
    finally:
        writer.transport.abort()
    text = line[:AGENT_LIMIT].decode("ascii", errors="replace").strip()
    reply = parse_agent(text)
    if reply is None:
        return False, f"unreadable agent reply {text[:40]!r}", None
    return True, f"agent {text[:40]!r}", reply
