"""Run pyroute2's synchronous API on a private thread.

pyroute2 0.9's sync classes drive their own asyncio loop with
``run_until_complete``, which raises "Cannot run the event loop while another
loop is running" when called from pulse's asyncio thread.  Each socket is
therefore created and used on one dedicated worker thread; callers block for
the (sub-millisecond) netlink round trip, which keeps reconcile simple and
strictly ordered.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class NetlinkThread:
    """One worker thread owning one pyroute2 socket."""

    def __init__(self, name: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def call(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run ``fn`` on the worker thread and return its result (exceptions propagate)."""
        return self._pool.submit(fn, *args, **kwargs).result()

    def shutdown(self) -> None:
        """Stop the worker thread."""
        self._pool.shutdown(wait=True)
