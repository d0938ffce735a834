"""REAL SERVER edit form (RH-VSA 4.6.2)."""

from __future__ import annotations

from typing import ClassVar

from .. import formkit as fk
from ..lvscf import keys
from ..lvscf.keys import SERVER as S


class _RealServerFields(fk.ConsoleForm):
    """Name, Address, Weight (+ an optional port: blank = the virtual server's port)."""

    name = fk.field(S, "name")
    address = fk.field(S, "address")
    port = fk.field(S, "port")
    weight = fk.field(S, "weight")

    FIELD_FOR: ClassVar[dict[str, str]] = {"server": "name"}


# Every health-check key, as an override of the virtual server's (blank: inherit).
REAL_HEALTH = fk.panel_health_keys(S, keys.P_REAL)
RealServerForm = type("RealServerForm", (_RealServerFields,), fk.health_fields(S, REAL_HEALTH))
