"""Helpers shared by the root-only tests (tests/ipvs, tests/e2e).

They build throw-away network namespaces, run processes inside them and talk
to them, so that tests exercise the real kernel IPVS without touching the
host network.  Nothing here imports the product: tests drive it only through
its own entry points.
"""
