"""A FaultProxy that logs every request it forwards, to count what a store call sent."""

from __future__ import annotations

from aiohttp import web

from tests.faultproxy import FaultProxy


class RequestLog(FaultProxy):
    """Forwards to ``upstream`` unchanged and records ``(method, path, Range header)``."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.seen: list[tuple[str, str, str | None]] = []

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        rng = request.headers.get("Range") or request.headers.get("x-ms-range")
        self.seen.append((request.method, request.path, rng))
        return await super()._handle(request)

    def methods(self) -> list[str]:
        """The methods seen so far, sorted (e.g. ``["GET", "GET", "HEAD"]``)."""
        return sorted(method for method, _, _ in self.seen)

    def ranges(self) -> list[str | None]:
        """The Range values of the GETs seen so far, sorted (None for a whole GET)."""
        return sorted((rng for method, _, rng in self.seen if method == "GET"), key=str)

    def clear(self) -> None:
        """Forget what was seen."""
        self.seen.clear()
