"""One contract: any configuration ``validate()`` accepts, pulse can load, plan and health-check.

Hypothesis builds valid configurations, then overwrites some keys with hostile
values (broken regexes and quotes, subnormal and huge numbers, integers beyond
every kernel range); whatever validation still accepts goes through pulse's
loader, planner and check builder, none of which may raise.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from piranha_web.lvscf import LvsCfError, LvsConfig, RealServer, VirtualServer, dumps, validate
from piranha_web.pulse.configfile import read_config
from piranha_web.pulse.ha import redundancy
from piranha_web.pulse.health.checks import make_spec
from piranha_web.pulse.health.monitor import Target
from piranha_web.pulse.health.state import rise_count
from piranha_web.pulse.reconcile import (all_up, desired_addresses, desired_marks, desired_table, plan,
                                         plan_addresses, plan_marks)
from tests.lvscf.test_properties import configs

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e-320, 5e-324, 1e-300, 1e300, 1e308, 0.0, -0.0, 0.0005, 604800, 604801]),
    st.integers(-(2 ** 70), 2 ** 70),
    st.sampled_from([0, 1, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 63]),
)
nasty_text = st.text(st.sampled_from("()[]{}*+?|\\.^$'\" a/%hp"), max_size=12)
programs = st.builds(lambda rest: "/bin/x " + rest, nasty_text)
VIRTUAL_NUMBERS = ("timeout", "reentry", "persistent", "fwmark", "port")
GLOBAL_NUMBERS = ("keepalive", "deadtime", "heartbeat_port", "tcp_timeout", "udp_timeout", "syncd_id")


@st.composite
def hostile_configs(draw: st.DrawFn) -> LvsConfig:
    cfg = draw(configs())
    for key in draw(st.lists(st.sampled_from(GLOBAL_NUMBERS), max_size=2)):
        setattr(cfg, key, draw(numbers))
    if draw(st.booleans()):
        cfg.active_cmd = draw(programs)
    for vs in cfg.virtuals:
        for key in draw(st.lists(st.sampled_from(VIRTUAL_NUMBERS), max_size=3)):
            setattr(vs, key, draw(numbers))
        if draw(st.booleans()):
            vs.use_regex, vs.expect = True, draw(nasty_text)
        if draw(st.booleans()):
            vs.send_program = draw(programs)
        for rs in vs.servers:
            if draw(st.booleans()):
                rs.weight = draw(numbers)
    return cfg


def _run_through_pulse(cfg: LvsConfig) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lvs.cf"
        path.write_text(dumps(cfg), encoding="utf-8")
        loaded = read_config(path).cfg                         # the loader
    for health in (all_up(loaded), {}):                         # the planner
        desired = desired_table(loaded, health)
        plan(desired, {})
        plan({}, desired)
    plan_addresses(desired_addresses(loaded), set())
    plan_marks(desired_marks(loaded), set())
    for vs in loaded.active_virtuals():                         # the check builder
        for rs in vs.servers:
            if rs.active:
                spec = make_spec(rs.address, vs.server_port(rs), float(vs.timeout), vs.protocol,
                                 vs.send, vs.expect, vs.use_regex, vs.send_program)
                Target((vs.name, rs.name), spec, float(vs.timeout), float(vs.reentry))
                rise_count(float(vs.reentry), float(vs.timeout))
    redundancy.links_for(loaded, True)
    redundancy.enabled(loaded)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.data_too_large])
@given(hostile_configs())
def test_every_accepted_configuration_runs_in_pulse(cfg: LvsConfig) -> None:
    try:
        validate(cfg)
    except LvsCfError:
        assume(False)
    _run_through_pulse(cfg)


def test_the_reported_crashes_are_refused() -> None:
    """The values that once passed validation and crashed pulse on reload."""
    for key, value in (("expect", "HTTP/1.[01] (200"), ("send_program", '/bin/echo "unbalanced'),
                       ("timeout", 1e-320), ("reentry", 1e300)):
        vs = VirtualServer("web", active=True, address="192.0.2.10", use_regex=True,
                           servers=[RealServer("a", "192.0.2.20", active=True)])
        setattr(vs, key, value)
        cfg = LvsConfig(network="direct", virtuals=[vs])
        try:
            validate(cfg)
        except LvsCfError as err:
            assert [p.key for p in err.problems] == [key]
        else:
            raise AssertionError(f"{key} = {value!r} was accepted")
