"""Setting the ECMP sysctls: only values that differ are written; failures are returned by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from piranha_web.pulse.kernel import sysctl


def test_set_sysctls_writes_what_differs_and_names_failures(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sysctl, "PROC_SYS", tmp_path)
    vs = tmp_path / "net" / "ipv4" / "vs"
    vs.mkdir(parents=True)
    (vs / "sloppy_tcp").write_text("0\n")
    (vs / "conntrack").write_text("0\n")
    errors = sysctl.set_sysctls({"net.ipv4.vs.sloppy_tcp": "1", "net.ipv4.vs.conntrack": "0",
                                 "net.ipv4.vs.sloppy_sctp": "1"})
    assert (vs / "sloppy_tcp").read_text() == "1\n"
    assert (vs / "conntrack").read_text() == "0\n"
    assert list(errors) == ["net.ipv4.vs.sloppy_sctp"]


def test_the_ecmp_settings() -> None:
    assert sysctl.ECMP_SYSCTLS["net.ipv4.vs.sloppy_tcp"] == "1"
    assert sysctl.ECMP_SYSCTLS["net.ipv4.vs.conntrack"] == "0"
    assert sysctl.ECMP_SYSCTLS["net.ipv4.conf.all.arp_ignore"] == "1"
    assert sysctl.ECMP_SYSCTLS["net.ipv4.conf.all.arp_announce"] == "2"
