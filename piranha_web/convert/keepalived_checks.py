"""One real server's keepalived checker as lvs.cf health-check keys.

keepalived puts a checker inside each ``real_server``; lvs.cf sets a check
on the virtual server and lets each real server override it.  This module
reads one real server's checker into a :class:`Probe` (what lvs.cf would
say for that server alone); :mod:`.keepalived_read` folds the probes of a
virtual server into its keys and the servers' overrides.

Counting follows keepalived's source (``check_tcp.c``, ``check_data.c``):
``retry N`` retries a failed check N more times before the server is taken
out, so N + 1 failures in a row remove it, which is lvs.cf's ``fall``.  A
checker without ``retry`` takes it from its real server, else keepalived's
default for its type: 1 for HTTP_GET, SSL_GET, TCP_CHECK and UDP_CHECK, 3 for
DNS_CHECK, 0 for MISC_CHECK.  ``delay_loop`` is the check interval and
``connect_timeout`` (``misc_timeout``) the time one check may take.

Whatever a checker says that lvs.cf cannot (a second checker or url, a
source address, ``warmup``, a retry delay other than the interval...) is a
note naming its line; nothing is dropped silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from piranha_web.lvscf import keys
from piranha_web.lvscf.health import parse_status

from .keepalived_tree import Node, Notes, args_of, fail, find, hint, number, whole

CHECKERS = ("HTTP_GET", "SSL_GET", "TCP_CHECK", "UDP_CHECK", "DNS_CHECK", "MISC_CHECK")
OTHER_CHECKERS = ("SMTP_CHECK", "PING_CHECK", "FILE_CHECK", "BFD_CHECK")
DEFAULT_RETRY = {"HTTP_GET": 1, "SSL_GET": 1, "TCP_CHECK": 1, "UDP_CHECK": 1, "DNS_CHECK": 3, "MISC_CHECK": 0}
# keepalived's pause between retries when delay_before_retry is not given (None: delay_loop).
DEFAULT_RETRY_DELAY: dict[str, float | None] = {
    "HTTP_GET": 3.0, "SSL_GET": 3.0, "TCP_CHECK": 1.0, "UDP_CHECK": 1.0, "DNS_CHECK": None, "MISC_CHECK": 1.0}
DEFAULT_DELAY_LOOP = 60.0
DEFAULT_CONNECT_TIMEOUT = 5.0
# Timing keywords a virtual_server or real_server passes down to its checkers.
INHERITED = frozenset({"retry", "delay_before_retry", "connect_timeout", "delay_loop", "virtualhost"})
DERIVED = "derived"     # "! piranha: derived": the exporter made this checker from Piranha's keys
KEEP = "keep"           # "! piranha: keep {JSON}": lvs.cf keys keepalived cannot carry

_COMMON = frozenset({"connect_port", "connect_timeout", "retry", "delay_before_retry", "delay_loop", "alpha"})
_KNOWN = {
    "HTTP_GET": _COMMON | {"url", "virtualhost", "nb_get_retry", "enable_sni", "http_protocol"},
    "TCP_CHECK": _COMMON,
    "UDP_CHECK": _COMMON,
    "DNS_CHECK": _COMMON | {"type", "name"},
    "MISC_CHECK": frozenset({"misc_path", "misc_timeout", "misc_dynamic", "retry", "delay_before_retry",
                             "delay_loop", "alpha", "user"}),
}
_KNOWN["SSL_GET"] = _KNOWN["HTTP_GET"]
_URL_KNOWN = frozenset({"path", "status_code", "digest", "virtualhost", "regex"})
# lvs.cf keys an export keeps in "! piranha: keep" because no keepalived checker says them.
KEEP_KEYS = ("rise", "slowstart", "check", "check_body", "check_verify", "check_ca_file", "agent_port",
             "send", "expect", "use_regex", "load_monitor", "fall", "check_interval", "check_timeout")


@dataclass
class Probe:
    """What one real server's checker says in lvs.cf terms.

    ``health``: health-check keys (None: lvs.cf's default).  ``interval`` and
    ``timeout``: the resolved delay_loop and connect timeout.  ``line``: the
    checker's line.  ``program``: MISC_CHECK's command line, which lvs.cf
    holds once per virtual server (``send_program``).
    """

    health: dict[str, Any]
    interval: float
    timeout: float
    line: int
    program: str | None = None


def keep_hint(hints: list[str], line: int) -> dict[str, Any]:
    """The ``! piranha: keep {JSON}`` values of a block, each checked against its lvs.cf key's kind."""
    text = hint(hints, KEEP)
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        raise fail(line, "'! piranha: keep' is not a JSON object", KEEP) from None
    if not isinstance(data, dict):
        raise fail(line, "'! piranha: keep' is not a JSON object", KEEP)
    for name, value in data.items():
        if name not in KEEP_KEYS or not _fits(name, value):
            raise fail(line, f"'! piranha: keep': {name!r} = {value!r} is not an lvs.cf value", KEEP)
    return data


def _fits(name: str, value: Any) -> bool:
    kind = keys.key(keys.VIRTUAL, name).kind
    if kind == keys.INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == keys.BOOL:
        return isinstance(value, bool)
    if kind == keys.SECONDS:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


def _pick(body: list[Node], scope: dict[str, Node], word: str) -> Node | None:
    """``word`` in the checker, else inherited from its real server or virtual server."""
    return find(body, word) or scope.get(word)


def _timing(check: Node, scope: dict[str, Node], notes: Notes) -> tuple[float, float, int]:
    """(interval, timeout, fall) of one checker, keepalived's defaults spelled out."""
    body = check.children or []
    loop = _pick(body, scope, "delay_loop")
    interval = number(loop) if loop else DEFAULT_DELAY_LOOP
    if check.keyword == "MISC_CHECK":
        limit = find(body, "misc_timeout")
        exact = hint(check.hints, "misc_timeout")      # the exporter's fraction of a second
        timeout = number(Node("misc_timeout", [exact], check.line)) if exact else (
            number(limit) if limit else interval)
    else:
        limit = _pick(body, scope, "connect_timeout")
        timeout = number(limit) if limit else DEFAULT_CONNECT_TIMEOUT
    if limit is not None and timeout > interval:
        notes.warn(limit, f"{timeout:g} s is longer than the check interval ({interval:g} s), which "
                          "lvs.cf does not allow: imported as the interval")
    timeout = min(timeout, interval)
    tries = find(body, "retry") or find(body, "nb_get_retry") or scope.get("retry")
    retry = whole(tries) if tries else DEFAULT_RETRY[check.keyword]
    pause = _pick(body, scope, "delay_before_retry")
    if pause is not None and retry and number(pause) != interval:
        notes.warn(pause, f"lvs.cf retries at the check interval ({interval:g} s): a pause of "
                          f"{number(pause):g} s before each retry is not imported")
    return interval, timeout, retry + 1


def _http(check: Node, scope: dict[str, Node], notes: Notes) -> dict[str, Any]:
    body = check.children or []
    urls = [n for n in body if n.keyword == "url"]
    for extra in urls[1:]:
        notes.warn(extra, f"lvs.cf checks one URL per real server: only the url at line {urls[0].line} "
                          "is imported")
    url = urls[0].children or [] if urls else []
    notes.others(url, _URL_KNOWN, "url")
    out: dict[str, Any] = {"check": "https" if check.keyword == "SSL_GET" else "http"}
    path = find(url, "path")
    if path is not None and args_of(path)[0] != "/":
        out["check_path"] = path.args[0]
    status = find(url, "status_code")
    if status is not None:
        text = ",".join(args_of(status))
        try:
            parse_status(text)
        except ValueError as exc:
            raise fail(status.line, str(exc), "status_code") from None
        out["check_status"] = None if text == "200-299" else text
    digest = find(url, "digest")
    if digest is not None:
        out["check_digest"] = args_of(digest)[0].lower()
    regex = find(url, "regex")
    if regex is not None:
        out["check_body"] = args_of(regex)[0]
    host = find(url, "virtualhost") or _pick(body, scope, "virtualhost")
    if host is not None:
        out["check_host"] = args_of(host)[0]
        if check.keyword == "SSL_GET" and find(body, "enable_sni") is None:
            notes.warn(host, "pulse sends check_host as the TLS SNI name too; keepalived sent none "
                             "without enable_sni")
    protocol = find(body, "http_protocol")
    if protocol is not None and args_of(protocol)[0] != "1.0":
        notes.warn(protocol, "pulse asks in HTTP/1.0 with a Host header and Connection: close; "
                             f"http_protocol {protocol.args[0]} is not imported")
    return out


def _dns(check: Node) -> dict[str, Any]:
    body = check.children or []
    qtype = find(body, "type")
    name = find(body, "name")
    return {"check": "dns", "check_qtype": args_of(qtype)[0].upper() if qtype else "SOA",
            "check_query": (args_of(name)[0] or ".") if name else "."}


def _program(check: Node, address: str, port: int, notes: Notes) -> tuple[dict[str, Any], str]:
    """MISC_CHECK: its command line with the server's address and port as ``%h``/``%p``."""
    body = check.children or []
    path = find(body, "misc_path")
    if path is None or not path.args:
        raise fail(check.line, "MISC_CHECK without misc_path", "misc_path")
    words = " ".join(path.args).split(" ")
    program = " ".join("%h" if w == address else "%p" if w == str(port) else w for w in words)
    health: dict[str, Any] = {"check": None}
    if find(body, "misc_dynamic") is not None:
        health["check_dynamic"] = True
    user = find(body, "user")
    if user is not None and user.args[:1] != ["root"]:
        notes.warn(user, "pulse runs send_program as root, its own user: the user is not imported")
    return health, program


def read_probe(rs_node: Node, address: str, port: int, scope: dict[str, Node], notes: Notes) -> Probe:
    """The lvs.cf view of ``rs_node``'s checker (``check = none`` when it has none).

    ``port``: the port the server is reached on (a ``connect_port`` equal to it
    is no override); ``scope``: the timing keywords its real_server and
    virtual_server set.
    """
    found = [n for n in rs_node.children or [] if n.keyword in CHECKERS + OTHER_CHECKERS]
    for other in (n for n in found if n.keyword in OTHER_CHECKERS):
        notes.warn(other, "lvs.cf has no such check: not imported")
    usable = [n for n in found if n.keyword in CHECKERS]
    for extra in usable[1:]:
        notes.warn(extra, f"lvs.cf runs one check per real server: only the checker at line "
                          f"{usable[0].line} is imported")
    if not usable:
        loop = scope.get("delay_loop")
        interval = number(loop) if loop else DEFAULT_DELAY_LOOP
        return Probe({"check": "none"}, interval, interval, rs_node.line)
    check = usable[0]
    body = check.children or []
    notes.others(body, _KNOWN[check.keyword], check.keyword)
    interval, timeout, fall = _timing(check, scope, notes)
    program = None
    if check.keyword in ("HTTP_GET", "SSL_GET"):
        health = _http(check, scope, notes)
    elif check.keyword == "DNS_CHECK":
        health = _dns(check)
    elif check.keyword == "MISC_CHECK":
        health, program = _program(check, address, port, notes)
    elif check.keyword == "UDP_CHECK":
        health = {"check": None}
    else:
        health = {"check": "tcp"}
    probe_port = find(body, "connect_port")
    if probe_port is not None and whole(probe_port) != port:
        health["check_port"] = whole(probe_port)
    health["fall"] = fall if fall > 1 else None
    if DERIVED in check.hints:
        health = {k: v for k, v in health.items() if k in ("fall", "check_port", "check_dynamic")}
    return Probe(health, interval, timeout, check.line, program)
