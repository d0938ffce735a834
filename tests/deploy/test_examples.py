"""The examples shipped with the package are valid and agree with each other."""

from __future__ import annotations

from pathlib import Path

from piranha_web.convert import dumps_as
from piranha_web.lvscf import dumps, load
from piranha_web.resources import data_dir

EXAMPLES = data_dir("deploy") / "examples"


def test_example_lvs_cf_is_valid_and_canonical() -> None:
    text = (EXAMPLES / "lvs.cf").read_text()
    assert dumps(load(text)) == text


def test_example_keepalived_conf_is_the_export_of_the_example_lvs_cf() -> None:
    """Regenerate with: piranha-config export -f keepalived --from deploy/examples/lvs.cf"""
    expected = dumps_as(load((EXAMPLES / "lvs.cf").read_text()), "keepalived")
    assert (EXAMPLES / "keepalived.conf").read_text() == expected


def test_example_uses_documentation_addresses_only() -> None:
    cfg = load((EXAMPLES / "lvs.cf").read_text())
    addresses = [cfg.primary, cfg.backup] + [v.address for v in cfg.virtuals]
    addresses += [s.address for v in cfg.virtuals for s in v.servers]
    assert all(str(a).startswith(("192.0.2.", "198.51.100.", "203.0.113.")) for a in addresses), addresses


def test_resources_fall_back_to_the_checkout() -> None:
    """Editable installs have no piranha_web/_data: the checkout's directories are used."""
    root = Path(__file__).resolve().parents[2]
    assert data_dir("templates") == root / "templates"
