"""Shared corpus for the converter tests: the lvs.cf samples of tests/data/lvscf."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "lvscf"
CORPUS = sorted(p for p in DATA.glob("*.cf"))


@pytest.fixture(params=CORPUS, ids=[p.stem for p in CORPUS])
def corpus_file(request: pytest.FixtureRequest) -> Path:
    return request.param


@pytest.fixture
def seed_file() -> Path:
    return DATA / "seed.cf"
