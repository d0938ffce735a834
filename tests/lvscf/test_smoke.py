"""Smoke test: the seed article's file loads and round-trips."""

from pathlib import Path

from piranha_web.lvscf import dumps, load, parse

DATA = Path(__file__).resolve().parent.parent / "data" / "lvscf"


def test_seed_loads_and_round_trips() -> None:
    cfg = load((DATA / "seed.cf").read_text())
    assert cfg.virtuals[0].scheduler == "rr"
    assert parse(dumps(cfg)) == cfg
