"""A moto S3 server process on 127.0.0.1 for the session, with signature checking on, and a
fresh bucket per test.

moto starts with ``INITIAL_NO_AUTH_ACTION_COUNT=0``: every request must carry a valid SigV4
signature from a known access key, so a signing regression fails the suite instead of
passing silently. The session fixture lets exactly the three IAM calls that create that key
through unauthenticated (``/moto-api/reset-auth``), then turns checking back on for
everything, and checks that an unknown key is refused before any test runs.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services.common import free_port, start, stop, wait_until

# botocore's credential chain ends at the EC2 instance metadata service: never probe it from tests.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

# Filled in by the s3_endpoint fixture with the IAM access key it creates (tests import this dict).
S3_CREDENTIALS: dict[str, str] = {"key": "", "secret": "", "region": "us-east-1"}

_ADMIN_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def _ready(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/moto-api/", timeout=1) as resp:
        return resp.status == 200


def _reset_auth(url: str, unauthenticated_actions: int) -> None:
    req = urllib.request.Request(f"{url}/moto-api/reset-auth", data=str(unauthenticated_actions).encode(),
                                 headers={"Content-Type": "text/plain"}, method="POST")
    urllib.request.urlopen(req, timeout=10).read()


def _create_test_user(url: str) -> dict[str, str]:
    """An IAM user allowed everything, and its access key (three unauthenticated calls)."""
    import boto3

    iam = boto3.client("iam", endpoint_url=url, aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap",
                       region_name="us-east-1")
    _reset_auth(url, 3)
    iam.create_user(UserName="azarr-tests")
    key = iam.create_access_key(UserName="azarr-tests")["AccessKey"]
    iam.put_user_policy(UserName="azarr-tests", PolicyName="all", PolicyDocument=_ADMIN_POLICY)
    _reset_auth(url, 0)
    return {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


def _check_auth_is_on(url: str) -> None:
    import boto3
    from botocore.exceptions import ClientError

    bogus = boto3.client("s3", endpoint_url=url, aws_access_key_id="AKIANOTAREALKEY00000",
                         aws_secret_access_key="x", region_name="us-east-1")
    try:
        bogus.list_buckets()
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "InvalidAccessKeyId":
            return
        raise
    raise RuntimeError("moto accepted an unknown access key: signature checking is off")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """Endpoint URL of a moto S3 server (signature checking on) started for this session."""
    port = free_port()
    root = str(Path(__file__).resolve().parents[2])
    # moto's server with atomic writes (tests/services/moto_server.py says why)
    proc = start([sys.executable, "-m", "tests.services.moto_server", "-H", "127.0.0.1", "-p", str(port)], "moto",
                 env={"INITIAL_NO_AUTH_ACTION_COUNT": "0", "PYTHONPATH": root})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(url), 30, f"moto_server on port {port}", proc)
        S3_CREDENTIALS.update(_create_test_user(url))
        _check_auth_is_on(url)
        yield url
    finally:
        stop(proc)


def boto3_client(endpoint: str) -> Any:
    """A plain (sync) boto3 S3 client for the emulator: the tests' raw access path."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_CREDENTIALS["key"],
        aws_secret_access_key=S3_CREDENTIALS["secret"],
        region_name="us-east-1",
    )


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A new, empty bucket for one test."""
    name = f"azarr-{uuid.uuid4().hex[:12]}"
    boto3_client(s3_endpoint).create_bucket(Bucket=name)
    return name
