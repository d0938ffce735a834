"""GLOBAL SETTINGS form (RH-VSA 4.4): field names and ids are the lvs.cf keys."""

from __future__ import annotations

from typing import ClassVar

from wtforms import RadioField, SelectField

from .. import formkit as fk
from ..lvscf.keys import GLOBAL as G

NETWORK_CHOICES = [("nat", "NAT"), ("direct", "Direct Routing"), ("tunnel", "Tunneling")]
SERVICE_CHOICES = [("lvs", "LVS"), ("fos", "FOS (failover services)")]


class GlobalSettingsForm(fk.ConsoleForm):
    """Primary addresses, forwarding method and NAT router."""

    primary = fk.field(G, "primary")
    primary_private = fk.field(G, "primary_private")
    service = fk.field(G, "service", RadioField, choices=fk.options(SERVICE_CHOICES), default="lvs")
    network = fk.field(G, "network", RadioField, choices=fk.options(NETWORK_CHOICES), default="nat")
    nat_router = fk.field(G, "nat_router")
    nat_nmask = fk.field(G, "nat_nmask", SelectField, choices=fk.netmasks(16), validate_choice=False)
    nat_router_device = fk.field(G, "nat_router_device")
    nat_router6 = fk.field(G, "nat_router6")
    nat_nmask6 = fk.field(G, "nat_nmask6")
    nat_router6_device = fk.field(G, "nat_router6_device")

    FIELD_FOR: ClassVar[dict[str, str]] = {}
