"""A MongoDB wire-protocol server for the session: SecantusDB (PyPI ``secantusdb``, a
test-only dependency) on 127.0.0.1, or any real MongoDB named by AZARR_TEST_MONGODB_URI."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services.common import free_port, start, stop, wait_until


def _ping(uri: str) -> bool:
    from pymongo import MongoClient

    client = MongoClient(uri, serverSelectionTimeoutMS=500, connectTimeoutMS=500)
    try:
        return client.admin.command("ping").get("ok") == 1
    finally:
        client.close()


@pytest.fixture(scope="session")
def mongodb_uri() -> Iterator[str]:
    """URI of a MongoDB-compatible server for this session."""
    given = os.environ.get("AZARR_TEST_MONGODB_URI")
    if given:
        wait_until(lambda: _ping(given), 20, "MongoDB at AZARR_TEST_MONGODB_URI")
        yield given
        return
    exe = Path(sys.executable).with_name("secantusd-py")
    cmd = [str(exe)] if exe.exists() else [shutil.which("secantusd-py") or "secantusd-py"]
    port = free_port()
    proc = start(cmd + ["--host", "127.0.0.1", "--port", str(port), "--storage-path", ":memory:", "--log-level", "WARNING"], "mongodb")
    uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    try:
        wait_until(lambda: _ping(uri), 60, f"SecantusDB on port {port}", proc)
        yield uri
    finally:
        stop(proc, timeout=15)
