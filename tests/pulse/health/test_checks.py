"""Health checks against real listeners on 127.0.0.1 (tcp, send/expect, regex, program, udp)."""

from __future__ import annotations

import asyncio
import functools
import socket
import sys
import time
from collections.abc import Awaitable, Callable


from piranha_web.pulse.health.checks import (
    HTTP_EXPECT, HTTP_SEND, decode_escapes, make_spec, program_argv, run_check,
)
from piranha_web.pulse.health.state import DOWN, UNKNOWN, UP, HealthState, rise_count
from piranha_web.pulse.health.monitor import Monitor, Target
from tests.support.ports import free_port


def aio(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test in a fresh event loop (no pytest plugin needed)."""
    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 30))
    return wrapper


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve(handler: Handler) -> tuple[asyncio.AbstractServer, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def reply(data: bytes, *, read_first: bool = True, chunks: int = 1, gap: float = 0.0) -> Handler:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            if read_first:
                await asyncio.wait_for(r.read(100), 1)
            step = max(1, len(data) // chunks)
            for i in range(0, len(data), step):
                w.write(data[i:i + step])
                await w.drain()
                await asyncio.sleep(gap)
        finally:
            w.close()
    return handle


def test_escapes_are_decoded() -> None:
    assert decode_escapes(r"GET / HTTP/1.0\r\n\r\n") == "GET / HTTP/1.0\r\n\r\n"
    assert decode_escapes(r"a\tb\\c\'d\"e") == "a\tb\\c'd\"e"
    assert decode_escapes(r"keep \x as is\\") == "keep \\x as is\\"


def test_port_80_defaults_to_http_probe() -> None:
    spec = make_spec("127.0.0.1", 80, 1.0)
    assert spec.send == HTTP_SEND.encode() and spec.expect == HTTP_EXPECT.encode()
    assert make_spec("127.0.0.1", 81, 1.0).send is None
    assert make_spec("127.0.0.1", 80, 1.0, send_program="/bin/true").send is None


@aio
async def test_tcp_connect_up_and_refused_down() -> None:
    server, port = await serve(await reply(b"", read_first=False))
    async with server:
        ok = await run_check(make_spec("127.0.0.1", port, 1.0))
    assert ok.ok, ok
    bad = await run_check(make_spec("127.0.0.1", free_port(), 1.0))
    assert not bad.ok and bad.duration < 1.0


@aio
async def test_send_expect_prefix_across_segments() -> None:
    got: list[bytes] = []

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        got.append(await r.readuntil(b"\r\n\r\n"))
        for part in (b"HT", b"TP/1.0 ", b"200 OK\r\n\r\n"):
            w.write(part)
            await w.drain()
            await asyncio.sleep(0.02)
        w.close()

    server, port = await serve(handle)
    async with server:
        res = await run_check(make_spec("127.0.0.1", port, 2.0, send=r"GET / HTTP/1.0\r\n\r\n",
                                        expect="HTTP/1.0 200"))
    assert res.ok, res
    assert got == [b"GET / HTTP/1.0\r\n\r\n"]


@aio
async def test_expect_mismatch_and_short_answer_are_down() -> None:
    server, port = await serve(await reply(b"SSH-2.0"))
    async with server:
        res = await run_check(make_spec("127.0.0.1", port, 1.0, send="x", expect="HTTP"))
        short = await run_check(make_spec("127.0.0.1", port, 1.0, send="x", expect="SSH-2.0-OpenSSH"))
    assert not res.ok and "unexpected" in res.detail
    assert not short.ok


@aio
async def test_regex_expect_and_star() -> None:
    server, port = await serve(await reply(b"HTTP/1.1 503 Busy\r\nServer: x\r\n\r\n", chunks=3, gap=0.01))
    async with server:
        up = await run_check(make_spec("127.0.0.1", port, 1.0, send="x", expect=r"Server: \w",
                                       use_regex=True))
        down = await run_check(make_spec("127.0.0.1", port, 1.0, send="x", expect="^HTTP/1.. 2",
                                         use_regex=True))
        star = await run_check(make_spec("127.0.0.1", port, 1.0, send="x", expect="*"))
    assert up.ok and not down.ok and star.ok


@aio
async def test_silent_server_times_out() -> None:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3)
        w.close()

    server, port = await serve(handle)
    async with server:
        t0 = time.monotonic()
        res = await run_check(make_spec("127.0.0.1", port, 0.3, send="x", expect="OK"))
    assert not res.ok and res.detail == "timeout"
    assert time.monotonic() - t0 < 1.0


PROG = [sys.executable, "-c"]


def prog(code: str, *args: str) -> str:
    import shlex
    return shlex.join([*PROG, code, *args])


@aio
async def test_send_program_substitutes_whole_arguments() -> None:
    spec = make_spec("127.0.0.9", 8080, 2.0, send_program=prog("import sys; print(sys.argv[1:])",
                                                               "%h", "%p", "x%h"), expect=None)
    assert program_argv(spec)[-3:] == ["127.0.0.9", "8080", "x%h"]
    res = await run_check(spec)
    assert res.ok and res.detail == "exit 0"


@aio
async def test_send_program_output_must_equal_expect() -> None:
    code = "import sys; print('up ' + sys.argv[1])"
    up = await run_check(make_spec("127.0.0.1", 1, 2.0, send_program=prog(code, "%h"), expect="up 127.0.0.1"))
    down = await run_check(make_spec("127.0.0.1", 1, 2.0, send_program=prog(code, "%h"), expect="up"))
    assert up.ok and not down.ok


@aio
async def test_failing_or_hung_program_is_down_even_with_expect() -> None:
    failing = prog("print('OK'); raise SystemExit(3)")
    failed = await run_check(make_spec("127.0.0.1", 1, 2.0, send_program=failing,
                                       expect="OK"))
    assert not failed.ok and failed.detail == "exit 3"
    t0 = time.monotonic()
    hung = await run_check(make_spec("127.0.0.1", 1, 0.5, send_program=prog("import time; time.sleep(30)"),
                                     expect="OK"))
    assert not hung.ok and hung.detail == "timeout"
    assert time.monotonic() - t0 < 3


class Echo(asyncio.DatagramProtocol):
    def __init__(self, answer: bytes | None) -> None:
        self.answer = answer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        answer = self.answer if self.answer is not None else data
        self.transport.sendto(answer, addr)  # type: ignore[attr-defined]


async def udp_server(answer: bytes | None) -> tuple[asyncio.DatagramTransport, int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: Echo(answer), local_addr=("127.0.0.1", 0))
    return transport, transport.get_extra_info("sockname")[1]  # type: ignore[return-value]


@aio
async def test_udp_reply_expect_and_unreachable() -> None:
    transport, port = await udp_server(b"PONG ok")
    try:
        any_reply = await run_check(make_spec("127.0.0.1", port, 1.0, protocol="udp", send="ping"))
        matched = await run_check(make_spec("127.0.0.1", port, 1.0, protocol="udp", send="ping",
                                            expect="PONG"))
        wrong = await run_check(make_spec("127.0.0.1", port, 0.3, protocol="udp", send="ping", expect="NOPE"))
    finally:
        transport.close()
    assert any_reply.ok and matched.ok and not wrong.ok
    closed = await run_check(make_spec("127.0.0.1", free_port(), 1.0, protocol="udp", send="ping"))
    assert not closed.ok and closed.duration < 0.9     # ICMP port unreachable, not a timeout


def test_health_state_machine() -> None:
    assert rise_count(1, 0.5) == 2 and rise_count(0, 1) == 1 and rise_count(15, 6) == 3
    h = HealthState(rise=2)
    assert h.state == UNKNOWN
    assert h.record(True, 1.0) and h.state == UP            # first pass: in at once
    assert h.record(False, 2.0) and h.state == DOWN         # one failure: out
    assert not h.record(True, 3.0) and h.state == DOWN      # 1 of 2
    assert not h.record(False, 4.0)                         # streak broken
    assert not h.record(True, 5.0)
    assert h.record(True, 6.0) and h.state == UP
    assert HealthState().record(False, 1.0)                 # UNKNOWN -> DOWN is a change


@aio
async def test_hung_server_does_not_delay_others() -> None:
    async def hang(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        w.close()

    fast, fast_port = await serve(await reply(b"OK"))
    slow, slow_port = await serve(hang)
    changes: list[tuple[tuple[str, str], str]] = []
    mon = Monitor(lambda k, s: changes.append((k, s)))
    async with fast, slow:
        mon.update([
            Target(("v", "slow"), make_spec("127.0.0.1", slow_port, 2.0, send="x", expect="OK"), 2.0, 0),
            Target(("v", "fast"), make_spec("127.0.0.1", fast_port, 0.2, send="x", expect="OK"), 0.2, 0),
        ])
        await asyncio.sleep(1.0)
        fast_checks = mon.states[("v", "fast")].last_check
        await mon.stop()
    assert (("v", "fast"), UP) in changes
    assert mon.states[("v", "slow")].state == UNKNOWN       # still inside its first 2 s check
    assert fast_checks is not None and time.time() - fast_checks < 0.6
    assert mon.checks_done >= 4


@aio
async def test_connect_that_does_not_complete_times_out() -> None:
    """A listener whose accept queue is full drops SYNs: the slow (event-loop) connect path waits."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    try:
        for _ in range(3):          # fill the (tiny) accept queue; later SYNs are dropped
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            fillers.append(c)
        await asyncio.sleep(0.05)
        t0 = time.monotonic()
        res = await run_check(make_spec("127.0.0.1", port, 0.4))
        assert not res.ok and res.detail == "timeout"
        assert 0.3 < time.monotonic() - t0 < 1.5
    finally:
        for c in fillers:
            c.close()
        srv.close()


@aio
async def test_every_check_type_over_ipv6_loopback() -> None:
    """tcp connect, send/expect, udp and a program given %h: the same checks against ::1."""
    server = await asyncio.start_server(await reply(b"HTTP/1.0 200 OK\r\n"), "::1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        connect = await run_check(make_spec("::1", port, 1.0, send=None))
        http = await run_check(make_spec("::1", port, 1.0, send="GET / HTTP/1.0\\r\\n\\r\\n", expect="HTTP"))
    assert connect.ok and http.ok, (connect, http)
    assert not (await run_check(make_spec("::1", free_port(), 1.0))).ok
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: Echo(b"PONG"), local_addr=("::1", 0))
    try:
        udp_port = transport.get_extra_info("sockname")[1]
        udp = await run_check(make_spec("::1", udp_port, 1.0, protocol="udp", send="ping", expect="PONG"))
    finally:
        transport.close()
    assert udp.ok, udp
    spec = make_spec("2001:db8:1::1", 80, 2.0, send_program=prog("import sys; print(sys.argv[1])", "%h"),
                     expect="2001:db8:1::1")
    assert program_argv(spec)[-1] == "2001:db8:1::1"
    assert (await run_check(spec)).ok
