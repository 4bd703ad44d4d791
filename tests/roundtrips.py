"""A delaying proxy that logs every request, to count round trips (not to time anything).

A round trip is a request that had to wait for an earlier one: the number of round trips
an operation needs is the longest chain of requests each started after the previous one
had been answered. With a delay per request, requests issued together overlap and count
as one round trip whatever the machine's speed.
"""

from __future__ import annotations

import time

from aiohttp import web

from tests.faultproxy import FaultProxy


class LoggingProxy(FaultProxy):
    """A FaultProxy that records ``(method, path, started, answered)`` of each request."""

    def __init__(self, upstream: str, *, delay: float = 0.2) -> None:
        super().__init__(upstream, delay=delay)
        self.log: list[tuple[str, str, float, float]] = []

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        response = await super()._handle(request)
        self.log.append((request.method, request.path, started, time.monotonic()))
        return response

    def reset(self) -> None:
        """Forget what was logged so far."""
        self.log.clear()

    def paths(self, method: str = "GET") -> list[str]:
        """Paths of the logged requests with ``method``."""
        return [p for m, p, _, _ in self.log if m == method]

    def round_trips(self) -> int:
        """The longest chain of requests each started after the previous was answered."""
        reqs = sorted(self.log, key=lambda r: r[2])
        depth: list[int] = []
        for i, (_, _, start, _) in enumerate(reqs):
            before = [depth[j] for j in range(i) if reqs[j][3] <= start]
            depth.append(1 + max(before, default=0))
        return max(depth, default=0)
