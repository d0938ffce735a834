"""VIRTUAL SERVER and MONITORING SCRIPTS forms (RH-VSA 4.6.1, 4.6.3)."""

from __future__ import annotations

from typing import ClassVar

from wtforms import BooleanField, RadioField, SelectField, StringField

from .. import formkit as fk
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


class VirtualServerForm(fk.ConsoleForm):
    """The VIRTUAL SERVER sub-panel; ``address`` problems land on the VIP field."""

    name = StringField("Name")
    port = StringField("Application port")
    protocol = SelectField("Protocol", choices=fk.options([(p, p) for p in PROTOCOLS]))
    address = StringField("Virtual IP Address")
    vip_nmask = SelectField("Virtual IP Network Mask", choices=fk.netmasks(16), validate_choice=False)
    sorry_server = StringField("Sorry Server")
    fwmark = StringField("Firewall Mark")
    device = StringField("Device")
    reentry = StringField("Re-entry Time (seconds)")
    timeout = StringField("Service Timeout (seconds)")
    quiesce_server = RadioField("Quiesce server", choices=fk.options(YES_NO), default="0")
    load_monitor = SelectField("Load monitoring tool", choices=LOAD_MONITOR_CHOICES, validate_choice=False)
    scheduler = SelectField("Scheduling", choices=SCHEDULER_CHOICES, validate_choice=False)
    persistent = StringField("Persistence")
    pmask = SelectField("Persistence Network Mask", choices=fk.netmasks(16), validate_choice=False)

    CONVERTERS: ClassVar[dict[str, fk.Converter]] = {
        "name": fk.required_text, "port": fk.integer, "protocol": fk.choice, "address": fk.text,
        "vip_nmask": fk.choice, "sorry_server": fk.text, "fwmark": fk.optional_integer, "device": fk.text,
        "reentry": fk.seconds, "timeout": fk.seconds, "quiesce_server": fk.boolean,
        "load_monitor": fk.choice, "scheduler": fk.choice, "persistent": fk.zero_if_blank,
        "pmask": fk.choice,
    }
    FIELD_FOR: ClassVar[dict[str, str]] = {"virtual": "name"}

    def fit_choices(self) -> None:
        """Keep values imported from a file selectable."""
        for name, base in (("vip_nmask", fk.netmasks(16)), ("pmask", fk.netmasks(16)),
                           ("load_monitor", LOAD_MONITOR_CHOICES), ("scheduler", SCHEDULER_CHOICES)):
            self[name].choices = fk.with_current(base, self[name].data)


class MonitoringScriptsForm(fk.ConsoleForm):
    """The MONITORING SCRIPTS sub-panel: send/expect or an external program."""

    send_program = StringField("Sending Program")
    send = StringField("Send")
    expect = StringField("Expect")
    use_regex = BooleanField("Treat expect string as a regular expression")

    CONVERTERS: ClassVar[dict[str, fk.Converter]] = {
        "send_program": fk.text, "send": fk.raw_text, "expect": fk.raw_text, "use_regex": fk.boolean,
    }


def virtual_form_data(row: object) -> dict[str, object]:
    """Form data for a row or a defaults dict (quiesce as the radio's "1"/"0")."""
    data = fk.row_data(row, list(VirtualServerForm.CONVERTERS))
    data["quiesce_server"] = "1" if data.get("quiesce_server") else "0"
    data["load_monitor"] = data.get("load_monitor") or "none"
    return data
