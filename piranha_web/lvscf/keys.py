"""Every lvs.cf key, declared once: what the parser, writer, validator, forms and API derive from.

One :class:`Key` per model attribute says which block it lives in, how its
value is read (``kind``), whether and where the writer puts it, Piranha's
default (what an absent key means), the GUI's default for a new object, the
numeric bounds the validator enforces, the console panel and label that edit
it, and whether the API exposes it.  Order inside a block is the writer's
order (Piranha GUI's ``write_config``), so the table is also the file layout.

Bounds are what pulse, IPVS and SQLite can all hold: a value ``validate``
accepts can always be loaded, planned and health-checked.  Times are
fractional seconds between a millisecond and a week; IPVS timeouts in seconds
are at most ``INT_MAX / HZ`` (the kernel multiplies them by HZ, up to 1000).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Value kinds.  The parser converts, the writer renders and the validator checks by kind.
INT = "int"              # C strtol integer
BOOL = "bool"            # 0 or 1
SECONDS = "seconds"      # integer, or (extension) a decimal fraction
PORT = "port"            # integer or a TCP service name
FWMARK = "fwmark"        # integer; 0 means "no fwmark"
STR = "str"              # one token, stored as written
QUOTED = "quoted"        # one token, written in quotes (send/expect/commands)
LIST = "list"            # "[ a b ]" (legacy dirs)
ADDRESS = "address"      # "IP [DEVICE]": sets the attribute and its device twin
DEVICE = "device"        # second token of an ADDRESS key; no line of its own
NAME = "name"            # the block's name, on its opening line

ALWAYS, IF_SET, NEVER = "always", "if_set", "never"

MAX_SECONDS = 604800           # a week: longer than any sane check, heartbeat or re-entry
MIN_SECONDS = 0.001            # a millisecond: shorter makes pulse spin
IPVS_SECONDS = (2 ** 31 - 1) // 1000   # kernel stores seconds * HZ (up to 1000) in an int
U32 = 2 ** 32 - 1
INT64 = 2 ** 63 - 1

GLOBAL, VIRTUAL, SERVER, FAILOVER = "global", "virtual", "server", "failover"
BLOCKS = (GLOBAL, VIRTUAL, SERVER, FAILOVER)

# Console panels (titles as the GUI shows them).
P_GLOBAL = "GLOBAL SETTINGS"
P_REDUNDANCY = "REDUNDANCY"
P_VIRTUAL = "VIRTUAL SERVER"
P_SCRIPTS = "MONITORING SCRIPTS"
P_REAL = "REAL SERVER"
P_FAILOVER = "FAILOVER"


@dataclass(frozen=True)
class Key:
    """One lvs.cf key (or model attribute) of one block.

    ``attr`` None: a legacy key Piranha parsed and never used; its syntax is
    checked and the value dropped.  ``write``: ALWAYS, IF_SET (when set and not
    the Piranha default) or NEVER (legacy keys, names, device twins).
    ``form``: the console converter's name in ``formkit`` (None: not a form
    field).  ``api``: the API lists and accepts it (read-only keys say "ro").
    """

    name: str
    block: str
    kind: str
    attr: str | None = ""
    write: str = IF_SET
    default: Any = None
    gui_default: Any = None
    low: float | None = None
    high: float | None = None
    panel: str | None = None
    label: str | None = None
    form: str | None = None
    api: str = "rw"
    doc: str = ""

    @property
    def device_field(self) -> str:
        """Model attribute holding the DEVICE token of an ADDRESS key (``nat_router`` ->
        ``nat_router_device``; a block's ``address`` -> ``device``)."""
        return "device" if self.name == "address" else f"{self.field}_device"

    @property
    def field(self) -> str | None:
        """Model attribute set by this key (None for discarded legacy keys)."""
        return None if self.attr is None else (self.attr or self.name)


def _k(name: str, block: str, kind: str, **kw: Any) -> Key:
    return Key(name, block, kind, **kw)


def _secs(name: str, block: str, default: float, gui: float, low: float = MIN_SECONDS, **kw: Any) -> Key:
    return Key(name, block, SECONDS, default=default, gui_default=gui, low=low, high=MAX_SECONDS,
               write=ALWAYS, form="seconds", **kw)


# Health-check keys: set on a virtual server, each one overridable per real server.
# None everywhere means "Piranha's behaviour" (lvscf/health.py resolves the effective values).
HEALTH_DOC = {
    "fall": "consecutive failures before a server is removed or quiesced (default 1)",
    "rise": "consecutive successes before it comes back (default: reentry / interval)",
    "check_interval": "seconds between checks (default: timeout)",
    "check_timeout": "seconds one check may take (default: check_interval, else timeout)",
    "check": "tcp, send-expect, http, https, dns, program, agent or none (default from send/expect)",
    "check_path": "http(s): path requested (default /)",
    "check_host": "http(s): Host header and TLS SNI name",
    "check_status": "http(s): accepted status codes, e.g. 200-299,301 (default 200-299)",
    "check_body": "http(s): regular expression the body must match",
    "check_digest": "http(s): MD5 of the body as 32 hex digits (keepalived's digest)",
    "check_port": "port probed instead of the real server's",
    "check_verify": "https: verify the certificate (default 0)",
    "check_ca_file": "https: CA bundle for check_verify",
    "check_query": "dns: name asked for",
    "check_qtype": "dns: record type asked for (default A)",
    "check_dynamic": "program: exit status 2..255 sets the weight to status - 2",
    "agent_port": "agent: TCP port of the HAProxy-style agent",
    "slowstart": "seconds a returning server takes to climb to its weight",
}
HEALTH_KEYS = tuple(HEALTH_DOC)


def _health_keys(block: str, panel: str, scripts_panel: str) -> tuple[Key, ...]:
    """The health-check keys of ``block`` (virtual or server), optional and unset by default."""
    forms = {INT: "optional_integer", SECONDS: "optional_seconds", BOOL: "optional_boolean",
             STR: "text", QUOTED: "raw_text"}

    def one(name: str, kind: str, label: str, low: float | None = None, high: float | None = None,
            on: str = scripts_panel) -> Key:
        form = "choice" if name in ("check", "check_qtype") else forms[kind]
        return Key(name, block, kind, low=low, high=high, panel=on, label=label, form=form,
                   doc=HEALTH_DOC[name])
    return (
        one("fall", INT, "Fall (failures)", 1, 1000, panel),
        one("rise", INT, "Rise (successes)", 1, 1000, panel),
        one("check_interval", SECONDS, "Check interval (seconds)", MIN_SECONDS, MAX_SECONDS, panel),
        one("check_timeout", SECONDS, "Check timeout (seconds)", MIN_SECONDS, MAX_SECONDS, panel),
        one("check", STR, "Check type"),
        one("check_path", QUOTED, "HTTP path"),
        one("check_host", STR, "HTTP Host / TLS SNI"),
        one("check_status", STR, "HTTP status codes"),
        one("check_body", QUOTED, "Body regular expression"),
        one("check_digest", STR, "Body MD5 digest"),
        one("check_port", INT, "Check port", 1, 65535),
        one("check_verify", BOOL, "Verify TLS certificate"),
        one("check_ca_file", QUOTED, "CA file"),
        one("check_query", STR, "DNS query name"),
        one("check_qtype", STR, "DNS query type"),
        one("check_dynamic", BOOL, "Dynamic weight from exit status"),
        one("agent_port", INT, "Agent port", 1, 65535),
        one("slowstart", SECONDS, "Slow start (seconds)", 0, MAX_SECONDS, panel),
    )


G, V, S, F = GLOBAL, VIRTUAL, SERVER, FAILOVER

KEYS: tuple[Key, ...] = (
    # ------------------------------------------------------------------ global, GUI write order
    _k("serial_no", G, INT, write=ALWAYS, default=0, gui_default=0, low=0, high=INT64, api="ro"),
    _k("primary", G, STR, panel=P_GLOBAL, label="Primary server public IP", form="text"),
    _k("primary_private", G, STR, panel=P_GLOBAL, label="Primary server private IP", form="text"),
    _k("primary_shared", G, STR),
    _k("service", G, STR, write=ALWAYS, default="lvs", gui_default="lvs", panel=P_GLOBAL,
       label="Service type", form="choice"),
    _k("rsh_command", G, STR),
    _k("backup_active", G, BOOL, write=ALWAYS, default=False, gui_default=False, panel=P_REDUNDANCY),
    _k("backup", G, STR, panel=P_REDUNDANCY, label="Redundant server public IP", form="text"),
    _k("backup_private", G, STR, panel=P_REDUNDANCY, label="Redundant server private IP", form="text"),
    _k("backup_shared", G, STR),
    _k("heartbeat", G, BOOL, write=ALWAYS, default=False, gui_default=True, panel=P_REDUNDANCY),
    _k("heartbeat_port", G, PORT, write=ALWAYS, default=539, gui_default=539, low=1, high=65534,
       panel=P_REDUNDANCY, label="Heartbeat runs on port", form="integer_or_default",
       doc="config sync listens on the next port"),
    _secs("keepalive", G, 2, 6, panel=P_REDUNDANCY, label="Heartbeat Interval (seconds)"),
    _secs("deadtime", G, 5, 18, panel=P_REDUNDANCY, label="Assume dead after (seconds)"),
    _k("network", G, STR, write=ALWAYS, default="nat", gui_default="nat", panel=P_GLOBAL,
       label="Use network type", form="choice"),
    _k("nat_router", G, ADDRESS, panel=P_GLOBAL, label="NAT Router IP", form="text"),
    _k("nat_router_device", G, DEVICE, write=NEVER, panel=P_GLOBAL, label="NAT Router device",
       form="text"),
    _k("nat_nmask", G, STR, panel=P_GLOBAL, label="NAT Router netmask", form="choice"),
    _k("nat_router6", G, ADDRESS, panel=P_GLOBAL, label="NAT Router IPv6 address", form="text",
       doc="extension: the real servers' IPv6 gateway, managed like nat_router"),
    _k("nat_router6_device", G, DEVICE, write=NEVER, panel=P_GLOBAL, label="NAT Router IPv6 device",
       form="text"),
    _k("nat_nmask6", G, STR, panel=P_GLOBAL, label="NAT Router IPv6 prefix length", form="text",
       doc="extension: prefix length of nat_router6 (unset: 128)"),
    _k("reservation_conflict_action", G, STR),
    _k("debug_level", G, STR, write=ALWAYS, default="NONE", gui_default="NONE"),
    _k("active_cmd", G, STR),
    _k("inactive_cmd", G, STR),
    _k("monitor_links", G, INT, default=0, gui_default=0, low=0, high=1, panel=P_REDUNDANCY,
       label="Monitor NIC links for failures", form="int_boolean"),
    _k("syncdaemon", G, BOOL, default=False, gui_default=False, panel=P_REDUNDANCY, label="Syncdaemon",
       form="boolean"),
    # Not written by the GUI (0.8.6 additions and extensions): after its keys.
    _k("syncd_iface", G, STR, panel=P_REDUNDANCY, label="Sync daemon interface", form="text"),
    _k("syncd_id", G, INT, low=0, high=255, panel=P_REDUNDANCY, label="Sync daemon id",
       form="optional_integer"),
    _k("heartbeat_key_file", G, STR, panel=P_REDUNDANCY, label="Heartbeat key file", form="text",
       doc="extension: HMAC secret for heartbeats and config sync"),
    _k("tcp_timeout", G, INT, default=0, gui_default=0, low=0, high=IPVS_SECONDS),
    _k("tcpfin_timeout", G, INT, default=0, gui_default=0, low=0, high=IPVS_SECONDS),
    _k("udp_timeout", G, INT, default=0, gui_default=0, low=0, high=IPVS_SECONDS),
    _k("hard_shutdown", G, BOOL, default=True, gui_default=True),
    _k("ipvsadm", G, STR),
    _k("sync", G, BOOL, default=False, gui_default=False),
    _k("master", G, STR, attr=None, write=NEVER, api=""),
    _k("dirs", G, LIST, attr=None, write=NEVER, api=""),
    # ------------------------------------------------------------------ virtual NAME { }
    _k("virtual", V, NAME, attr="name", write=NEVER, gui_default="", panel=P_VIRTUAL, label="Name",
       form="required_text"),
    _k("active", V, BOOL, write=ALWAYS, default=False, gui_default=False),
    _k("address", V, ADDRESS, gui_default="", panel=P_VIRTUAL, label="Virtual IP Address", form="text"),
    _k("device", V, DEVICE, write=NEVER, gui_default="eth0:1", panel=P_VIRTUAL, label="Device", form="text"),
    _k("sorry_server", V, STR, panel=P_VIRTUAL, label="Sorry Server", form="text"),
    _k("vip_nmask", V, STR, panel=P_VIRTUAL, label="Virtual IP Network Mask", form="choice"),
    _k("fwmark", V, FWMARK, low=1, high=U32, panel=P_VIRTUAL, label="Firewall Mark",
       form="optional_integer"),
    _k("port", V, PORT, write=ALWAYS, default=80, gui_default=80, low=0, high=65535, panel=P_VIRTUAL,
       label="Application port", form="integer"),
    _k("persistent", V, INT, default=0, gui_default=0, low=0, high=IPVS_SECONDS, panel=P_VIRTUAL,
       label="Persistence", form="zero_if_blank"),
    _k("pmask", V, STR, panel=P_VIRTUAL, label="Persistence Network Mask", form="choice"),
    _k("send", V, QUOTED, gui_default="GET / HTTP/1.0\\r\\n\\r\\n", panel=P_SCRIPTS, label="Send",
       form="raw_text"),
    _k("expect", V, QUOTED, gui_default="HTTP", panel=P_SCRIPTS, label="Expect", form="raw_text"),
    _k("use_regex", V, BOOL, write=ALWAYS, default=False, gui_default=False, panel=P_SCRIPTS,
       label="Treat expect string as a regular expression", form="boolean"),
    _k("send_program", V, QUOTED, panel=P_SCRIPTS, label="Sending Program", form="text"),
    _k("load_monitor", V, STR, gui_default="none", panel=P_VIRTUAL, label="Load monitoring tool",
       form="choice"),
    _k("scheduler", V, STR, write=ALWAYS, default="wlc", gui_default="wlc", panel=P_VIRTUAL,
       label="Scheduling", form="choice"),
    _k("protocol", V, STR, write=ALWAYS, default="tcp", gui_default="tcp", panel=P_VIRTUAL,
       label="Protocol", form="choice"),
    _secs("timeout", V, 10, 6, panel=P_VIRTUAL, label="Service Timeout (seconds)"),
    _secs("reentry", V, 180, 15, low=0, panel=P_VIRTUAL, label="Re-entry Time (seconds)"),
    _k("quiesce_server", V, BOOL, write=ALWAYS, default=False, gui_default=False, panel=P_VIRTUAL,
       label="Quiesce server", form="boolean"),
    _k("client_monitor", V, STR),
    *_health_keys(V, P_VIRTUAL, P_SCRIPTS),
    _k("master", V, STR, attr=None, write=NEVER, api=""),
    _k("dirs", V, LIST, attr=None, write=NEVER, api=""),
    # ------------------------------------------------------------------ server NAME { }
    _k("server", S, NAME, attr="name", write=NEVER, gui_default="", panel=P_REAL, label="Name",
       form="required_text"),
    _k("address", S, STR, write=ALWAYS, default="0.0.0.0", gui_default="", panel=P_REAL,
       label="Address", form="text"),
    _k("active", S, BOOL, write=ALWAYS, default=False, gui_default=False),
    _k("port", S, INT, low=0, high=65535, panel=P_REAL, label="Port", form="optional_integer",
       doc="unset: the virtual server's port"),
    _k("weight", S, INT, write=ALWAYS, default=1, gui_default=1, low=0, high=65535, panel=P_REAL,
       label="Weight", form="integer"),
    *_health_keys(S, P_REAL, P_REAL),
    # ------------------------------------------------------------------ failover NAME { }
    _k("failover", F, NAME, attr="name", write=NEVER, gui_default="", panel=P_FAILOVER, label="Name",
       form="required_text"),
    _k("active", F, BOOL, write=ALWAYS, default=False, gui_default=False),
    _k("address", F, ADDRESS, gui_default="", panel=P_FAILOVER, label="Address", form="text"),
    _k("device", F, DEVICE, write=NEVER, gui_default="eth0:1", panel=P_FAILOVER, label="Device", form="text"),
    _k("vip_nmask", F, STR, panel=P_FAILOVER, label="Netmask", form="choice"),
    _k("port", F, PORT, write=ALWAYS, default=80, gui_default=80, low=1, high=65535, panel=P_FAILOVER,
       label="Port", form="integer"),
    _k("send", F, QUOTED, panel=P_FAILOVER, label="Send", form="raw_text"),
    _k("expect", F, QUOTED, panel=P_FAILOVER, label="Expect", form="raw_text"),
    _secs("timeout", F, 10, 10, panel=P_FAILOVER, label="Timeout (seconds)"),
    _secs("reentry", F, 180, 180, low=0, panel=P_FAILOVER, label="Re-entry Time (seconds)"),
    _k("start_cmd", F, QUOTED, panel=P_FAILOVER, label="Start command", form="text"),
    _k("stop_cmd", F, QUOTED, panel=P_FAILOVER, label="Stop command", form="text"),
)


def of(block: str) -> tuple[Key, ...]:
    """The keys of ``block`` in writer order."""
    return _BY_BLOCK[block]


def key(block: str, name: str) -> Key:
    """The key (or model attribute) ``name`` of ``block``."""
    return _BY_FIELD[block][name]


def default(block: str, name: str) -> Any:
    """Piranha's default of a model attribute: what an absent key means."""
    return _BY_FIELD[block][name].default


def fields(block: str) -> tuple[str, ...]:
    """Model attributes of ``block`` that carry lvs.cf meaning, in writer order."""
    return tuple(k.field for k in _BY_BLOCK[block] if k.field)


def panel_keys(panel: str) -> tuple[Key, ...]:
    """Keys a console panel edits, in table order."""
    return tuple(k for k in KEYS if k.panel == panel)


def api_fields(block: str, writable: bool = False, panel: str | None = None) -> tuple[str, ...]:
    """Attributes the API shows (or, ``writable``, accepts) for ``block`` [limited to ``panel``]."""
    wanted = ("rw",) if writable else ("rw", "ro")
    return tuple(k.field for k in _BY_BLOCK[block]
                 if k.field and k.api in wanted and (panel is None or k.panel == panel))


def gui_defaults(block: str) -> dict[str, Any]:
    """Values a new object gets in the console (Piranha GUI's add_virtual / add_server)."""
    return {k.field: k.gui_default for k in _BY_BLOCK[block] if k.field}


_BY_BLOCK: dict[str, tuple[Key, ...]] = {b: tuple(k for k in KEYS if k.block == b) for b in BLOCKS}
_BY_FIELD: dict[str, dict[str, Key]] = {b: {k.field: k for k in ks if k.field} for b, ks in _BY_BLOCK.items()}
