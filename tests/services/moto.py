"""A moto S3 server process on 127.0.0.1 for the session, and a fresh bucket per test."""

from __future__ import annotations

import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services.common import free_port, start, stop, wait_until

S3_CREDENTIALS = {"key": "testing", "secret": "testing", "region": "us-east-1"}


def _ready(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/moto-api/", timeout=1) as resp:
        return resp.status == 200


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """Endpoint URL of a moto S3 server started for this session."""
    exe = Path(sys.executable).with_name("moto_server")
    port = free_port()
    proc = start([str(exe), "-H", "127.0.0.1", "-p", str(port)], "moto")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(url), 30, f"moto_server on port {port}", proc)
        yield url
    finally:
        stop(proc)


def boto3_client(endpoint: str) -> Any:
    """A plain (sync) boto3 S3 client for the emulator: the tests' raw access path."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A new, empty bucket for one test."""
    name = f"azarr-{uuid.uuid4().hex[:12]}"
    boto3_client(s3_endpoint).create_bucket(Bucket=name)
    return name
