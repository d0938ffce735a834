"""VIRTUAL SERVER and MONITORING SCRIPTS forms (RH-VSA 4.6.1, 4.6.3)."""

from __future__ import annotations

from typing import ClassVar

from wtforms import BooleanField, RadioField, SelectField

from .. import formkit as fk
from ..lvscf import keys
from ..lvscf.keys import VIRTUAL as V
from ..lvscf.model import LOAD_MONITORS, PROTOCOLS, SCHEDULERS

SCHEDULER_LABELS = {
    "rr": "Round robin", "wrr": "Weighted round robin", "lc": "Least-connection",
    "wlc": "Weighted least-connections", "lblc": "Locality-Based Least-Connection Scheduling",
    "lblcr": "Locality-Based Least-Connection Scheduling (R)", "dh": "Destination Hash Scheduling",
    "sh": "Source Hash Scheduling", "sed": "Shortest Expected Delay", "nq": "Never Queue",
    "mh": "Maglev Hashing",
}
SCHEDULER_CHOICES = fk.options([(s, SCHEDULER_LABELS.get(s, s)) for s in SCHEDULERS])
LOAD_MONITOR_CHOICES = fk.options([(m, m) for m in LOAD_MONITORS])
YES_NO = [("1", "Yes"), ("0", "No")]


class _VirtualServerFields(fk.ConsoleForm):
    """The VIRTUAL SERVER sub-panel; ``address`` problems land on the VIP field."""

    name = fk.field(V, "name")
    port = fk.field(V, "port")
    protocol = fk.field(V, "protocol", SelectField, choices=fk.options([(p, p) for p in PROTOCOLS]))
    address = fk.field(V, "address")
    vip_nmask = fk.field(V, "vip_nmask", SelectField, choices=fk.netmasks(16), validate_choice=False)
    sorry_server = fk.field(V, "sorry_server")
    fwmark = fk.field(V, "fwmark")
    device = fk.field(V, "device")
    reentry = fk.field(V, "reentry")
    timeout = fk.field(V, "timeout")
    quiesce_server = fk.field(V, "quiesce_server", RadioField, choices=fk.options(YES_NO), default="0")
    load_monitor = fk.field(V, "load_monitor", SelectField, choices=LOAD_MONITOR_CHOICES,
                            validate_choice=False)
    scheduler = fk.field(V, "scheduler", SelectField, choices=SCHEDULER_CHOICES, validate_choice=False)
    persistent = fk.field(V, "persistent")
    pmask = fk.field(V, "pmask", SelectField, choices=fk.netmasks(16), validate_choice=False)

    FIELD_FOR: ClassVar[dict[str, str]] = {"virtual": "name"}

    def fit_choices(self) -> None:
        """Keep values imported from a file selectable."""
        for name, base in (("vip_nmask", fk.netmasks(16)), ("pmask", fk.netmasks(16)),
                           ("load_monitor", LOAD_MONITOR_CHOICES), ("scheduler", SCHEDULER_CHOICES)):
            self[name].choices = fk.with_current(base, self[name].data)


class _MonitoringScriptsFields(fk.ConsoleForm):
    """The MONITORING SCRIPTS sub-panel: send/expect or an external program, and the check keys."""

    send_program = fk.field(V, "send_program")
    send = fk.field(V, "send")
    expect = fk.field(V, "expect")
    use_regex = fk.field(V, "use_regex", BooleanField)


# The health-check keys each panel edits (labels, help and converters from the key table).
VIRTUAL_HEALTH = fk.panel_health_keys(V, keys.P_VIRTUAL)
SCRIPTS_HEALTH = fk.panel_health_keys(V, keys.P_SCRIPTS)
VirtualServerForm = type("VirtualServerForm", (_VirtualServerFields,), fk.health_fields(V, VIRTUAL_HEALTH))
MonitoringScriptsForm = type("MonitoringScriptsForm", (_MonitoringScriptsFields,),
                             fk.health_fields(V, SCRIPTS_HEALTH))


def virtual_form_data(row: object) -> dict[str, object]:
    """Form data for a row or a defaults dict (quiesce as the radio's "1"/"0")."""
    data = fk.row_data(row, list(VirtualServerForm.CONVERTERS))
    data["quiesce_server"] = "1" if data.get("quiesce_server") else "0"
    data["load_monitor"] = data.get("load_monitor") or "none"
    return data
