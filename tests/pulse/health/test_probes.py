"""http, https, dns, agent and dynamic program checks against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from piranha_web.lvscf.health import check_settings
from piranha_web.lvscf.model import VirtualServer
from piranha_web.pulse.health.checks import CheckResult, CheckSpec, run_check, spec_for
from piranha_web.pulse.health.probes import AgentReply, dns_query, parse_agent
from tests.pulse.health.test_checks import aio
from tests.support.ports import free_port


def spec(kind: str, port: int, **keys: Any) -> CheckSpec:
    vs = VirtualServer("v", port=port, timeout=2, check=kind, **keys)
    return spec_for("127.0.0.1", port, check_settings(vs), "tcp", vs.send, vs.expect, False,
                    vs.send_program, explicit=True)


class Web:
    """A tiny HTTP server whose answer the test changes; it records Host headers (and SNI)."""

    def __init__(self) -> None:
        self.status, self.body = 200, b"all good\n"
        self.hosts: list[str] = []
        self.sni: list[str | None] = []

    async def handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 2)
            for line in head.decode().split("\r\n"):
                if line.lower().startswith("host:"):
                    self.hosts.append(line.split(":", 1)[1].strip())
            head = b"HTTP/1.0 %d X\r\nContent-Length: %d\r\n\r\n" % (self.status, len(self.body))
            w.write(head + self.body)
            await w.drain()
        finally:
            w.close()

    async def start(self, ctx: ssl.SSLContext | None = None) -> tuple[asyncio.AbstractServer, int]:
        server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=ctx)
        return server, server.sockets[0].getsockname()[1]


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for www.example.test and 127.0.0.1, made now."""
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=www.example.test", "-addext",
                    "subjectAltName=DNS:www.example.test,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
    return crt, key


@aio
async def test_http_status_body_and_digest() -> None:
    web = Web()
    server, port = await web.start()
    async with server:
        assert (await run_check(spec("http", port))).ok
        assert (await run_check(spec("http", port, check_host="www.example.test", check_path="/h"))).ok
        assert web.hosts[-1] == "www.example.test"
        web.status = 500
        res = await run_check(spec("http", port))
        assert not res.ok and res.detail == "status 500"
        assert (await run_check(spec("http", port, check_status="200,500-503"))).ok
        web.status = 200
        assert (await run_check(spec("http", port, check_body="good$"))).ok
        assert not (await run_check(spec("http", port, check_body="^bad"))).ok
        digest = hashlib.md5(web.body).hexdigest()
        assert (await run_check(spec("http", port, check_digest=digest.upper()))).ok
        assert not (await run_check(spec("http", port, check_digest="0" * 32))).ok
        other = await run_check(spec("http", free_port(), check_port=port))
        assert other.ok, other
    assert not (await run_check(spec("http", port))).ok      # closed: connection refused


@aio
async def test_https_self_signed_verify_off_and_on(cert: tuple[Path, Path]) -> None:
    crt, key = cert
    web = Web()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    ctx.sni_callback = lambda sock, name, _ctx: web.sni.append(name)  # type: ignore[func-returns-value]
    server, port = await web.start(ctx)
    async with server:
        res = await run_check(spec("https", port, check_host="www.example.test"))
        assert res.ok, res
        assert web.sni[-1] == "www.example.test" and web.hosts[-1] == "www.example.test"
        refused = await run_check(spec("https", port, check_verify=True))       # system CAs: unknown
        assert not refused.ok
        trusted = await run_check(spec("https", port, check_verify=True, check_ca_file=str(crt),
                                       check_host="www.example.test"))
        assert trusted.ok, trusted
        wrong = await run_check(spec("https", port, check_verify=True, check_ca_file=str(crt),
                                     check_host="other.example.test"))
        assert not wrong.ok
        web.status = 503
        assert not (await run_check(spec("https", port))).ok


class Dns(asyncio.DatagramProtocol):
    """Answers ok.example.test with one A record, empty.example.test with none, others NXDOMAIN."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        ident = struct.unpack("!H", data[:2])[0]
        qend = data.index(b"\0", 12) + 5
        question = data[12:qend]
        name = data[13:qend - 5].decode(errors="replace")
        if name.startswith("ok"):
            answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1])
            head = struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0)
        else:
            answer = b""
            head = struct.pack("!HHHHHH", ident, 0x8180 if name.startswith("empty") else 0x8183, 1, 0, 0, 0)
        self.transport.sendto(head + question + answer, addr)  # type: ignore[attr-defined]


@aio
async def test_dns_noerror_with_a_record() -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Dns, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        ok = await run_check(spec("dns", port, check_port=port, check_query="ok.example.test"))
        assert ok.ok, ok
        empty = await run_check(spec("dns", port, check_port=port, check_query="empty.example.test"))
        assert not empty.ok and empty.detail == "no records"
        nx = await run_check(spec("dns", port, check_port=port, check_query="nx.example.test",
                                  check_qtype="AAAA"))
        assert not nx.ok and nx.detail == "rcode 3"
    finally:
        transport.close()
    assert dns_query("a.b", 28, 7)[-4:] == struct.pack("!HH", 28, 1)


def test_agent_words() -> None:
    assert parse_agent("50%\n") == AgentReply(pct=50)
    assert parse_agent("drain") == AgentReply(drain=True)
    assert parse_agent("up, 75%") == AgentReply(pct=75, ready=True)
    assert parse_agent("MAINT") == AgentReply(maint=True)
    assert parse_agent("down #comment") == AgentReply(maint=True)
    assert parse_agent("what?") is None and parse_agent("") is None


async def serve_agent(said: list[bytes]) -> tuple[asyncio.AbstractServer, int]:
    """An HAProxy-style agent on 127.0.0.1 replying ``said[0]`` (the test changes it)."""
    async def agent(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(said[0])
        await w.drain()
        w.close()
    server = await asyncio.start_server(agent, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@aio
async def test_agent_reply_is_read_and_judged() -> None:
    said = [b"50%\n"]
    server, port = await serve_agent(said)
    async with server:
        res = await run_check(spec("agent", 80, agent_port=port))
        assert res.ok and res.agent == AgentReply(pct=50), res
        said[0] = b"garbage\n"
        assert not (await run_check(spec("agent", 80, agent_port=port))).ok
    assert not (await run_check(spec("agent", 80, agent_port=port))).ok   # refused


@aio
async def test_program_dynamic_weight() -> None:
    def run(code: int, dynamic: bool) -> CheckSpec:
        return spec("program", 80, send_program=f"/bin/sh -c 'exit {code}'", check_dynamic=dynamic)
    res: CheckResult = await run_check(run(7, True))
    assert res.ok and res.weight == 5
    assert (await run_check(run(0, True))).weight == -1     # back to the configured weight
    assert not (await run_check(run(1, True))).ok
    assert not (await run_check(run(7, False))).ok


@aio
async def test_none_is_always_up() -> None:
    assert (await run_check(spec("none", free_port()))).ok
