"""What pulse created in the kernel, persisted in the runtime dir across restarts.

pulse must never remove services, addresses or firewall rules it did not
create.  A service matching an lvs.cf entry is pulse's; beyond that, this
file remembers keys pulse added earlier (so a virtual server deleted from
lvs.cf while pulse was down is still cleaned up) and exactly which addresses
and mark rules pulse brought up.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..lvscf.files import write_atomic
from .reconcile import Address, MarkRule, ServiceKey

log = logging.getLogger("pulse")


@dataclass
class Managed:
    """Services, addresses and mark rules pulse owns."""

    services: set[ServiceKey] = field(default_factory=set)
    addresses: set[Address] = field(default_factory=set)
    marks: set[MarkRule] = field(default_factory=set)
    firewall: str | None = None      # "nft" / "iptables" once rules were installed

    def to_json(self) -> str:
        """Stable JSON text."""
        return json.dumps({
            "services": [k._asdict() for k in sorted(self.services)],
            "addresses": [a._asdict() for a in sorted(self.addresses)],
            "marks": [m._asdict() for m in sorted(self.marks)],
            "firewall": self.firewall,
        }, indent=1) + "\n"


def load_managed(path: Path) -> Managed:
    """Read the file; a missing or corrupt one means "nothing known" (logged)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Managed(
            {ServiceKey(**d) for d in data.get("services", [])},
            {_address(d) for d in data.get("addresses", [])},
            {MarkRule(**d) for d in data.get("marks", [])},
            data.get("firewall"))
    except FileNotFoundError:
        return Managed()
    except (OSError, ValueError, TypeError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return Managed()


def _address(data: dict[str, object]) -> Address:
    """A remembered address; an IPv6 one recorded with an alias label by an older pulse gets
    the label it has now (none), so the upgrade does not delete and re-add a VIP in use."""
    address = Address(**data)  # type: ignore[arg-type]
    return address._replace(label=address.device) if ":" in address.ip else address


def save_managed(path: Path, managed: Managed) -> None:
    """Atomically persist (only called when something changed)."""
    write_atomic(path, managed.to_json(), mode=0o600)
