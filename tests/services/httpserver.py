"""A static HTTP server (aiohttp, supports Range and HEAD) in its own process, serving a
directory for the session. Run as a script it is the server itself."""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services.common import SERVICES_DIR, free_port, start, stop, wait_until


def _serve(root: str, port: int) -> None:
    from aiohttp import web

    app = web.Application()
    app.router.add_static("/", root, show_index=False, follow_symlinks=False)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(base URL, served directory) of a static HTTP server for this session."""
    root = tmp_path_factory.mktemp("http-root")
    (root / "ping").write_bytes(b"pong")
    port = free_port()
    proc = start([sys.executable, __file__, str(root), str(port)], "http", env={"PYTHONPATH": str(SERVICES_DIR.parent)})
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        with urllib.request.urlopen(f"{url}/ping", timeout=1) as r:
            return r.read() == b"pong"

    try:
        wait_until(ready, 30, f"static HTTP server on port {port}", proc)
        yield url, root
    finally:
        stop(proc)


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]))
