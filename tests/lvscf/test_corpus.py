"""Every corpus file: good ones load and round-trip, broken ones fail where expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from piranha_web.lvscf import LvsCfError, dumps, load, parse

DATA = Path(__file__).resolve().parent.parent / "data" / "lvscf"
GOOD = sorted(DATA.glob("*.cf"))
BROKEN_DIR = DATA / "broken"


def _expectations() -> list[tuple[str, int, str]]:
    rows = []
    for raw in (BROKEN_DIR / "expected.txt").read_text().splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        name, line, fragment = raw.split(None, 2)
        rows.append((name, int(line), fragment))
    return rows


BROKEN = _expectations()


def test_corpus_is_complete() -> None:
    names = {p.name for p in GOOD}
    assert {"seed.cf", "sample-redundant.cf", "every-keyword.cf", "crlf-tabs.cf"} <= names
    assert len(BROKEN) >= 12
    assert {name for name, _, _ in BROKEN} == {p.name for p in BROKEN_DIR.glob("*.cf")}


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_good_file_loads(path: Path) -> None:
    load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_good_file_round_trips(path: Path) -> None:
    cfg = parse(path.read_text(encoding="utf-8"))
    text = dumps(cfg)
    again = parse(text)
    assert again == cfg
    load(text)
    assert dumps(again) == text          # canonical form is a fixed point


@pytest.mark.parametrize(("name", "line", "fragment"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_file_is_rejected_at_the_right_line(name: str, line: int, fragment: str) -> None:
    with pytest.raises(LvsCfError) as info:
        load((BROKEN_DIR / name).read_text(encoding="utf-8"))
    assert any(p.line == line and fragment in p.message for p in info.value.problems), \
        info.value.problems


def test_crlf_file_really_has_crlf_and_tabs() -> None:
    raw = (DATA / "crlf-tabs.cf").read_bytes()
    assert b"\r\n" in raw and b"\t" in raw
    cfg = parse(raw.decode())
    assert cfg.virtuals[0].send == "GET /\thealth HTTP/1.0\\r\\n\\r\\n"
    assert cfg.virtuals[0].device == "eth0:1"


def test_seed_file_matches_the_article() -> None:
    cfg = load((DATA / "seed.cf").read_text())
    vs = cfg.virtuals[0]
    assert (cfg.primary, cfg.nat_router, cfg.nat_router_device) == (
        "210.220.230.1", "192.168.1.10", "eth1:1")
    assert (vs.address, vs.device, vs.port, vs.scheduler) == ("210.220.230.10", "eth0:1", 80, "rr")
    assert [(s.address, vs.server_port(s)) for s in vs.servers] == [
        ("192.168.1.1", 80), ("192.168.1.2", 80)]


def test_every_keyword_file_exercises_the_corners() -> None:
    cfg = load((DATA / "every-keyword.cf").read_text())
    assert (cfg.serial_no, cfg.heartbeat_port, cfg.keepalive, cfg.syncd_id) == (16, 8, 1.5, 7)
    assert cfg.backup_active is True
    web = cfg.virtual("web")
    assert web is not None and web.port == 81 and web.scheduler == "sed"
    assert [s.port for s in web.servers] == [8080, 80, None]
    assert [s.weight for s in web.servers] == [16, 8, 1]
    assert cfg.virtual("dns").fwmark is None                      # type: ignore[union-attr]
    assert cfg.virtual("six").fwmark == 80                        # type: ignore[union-attr]
    assert cfg.failovers[0].port == 21 and cfg.failovers[0].reentry == 0.5
