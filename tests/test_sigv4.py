"""azarr's SigV4 signer against AWS's published vectors (stored in tests/data/, sources named there).

Two sets: the generic Signature Version 4 test suite (service ``service``; each request,
its canonical request, string to sign and Authorization header), and the Amazon S3 API
reference's worked examples (service ``s3``, x-amz-content-sha256), which go through the
very method the lean S3 path signs every request with.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from azarr.stores._s3http import Credentials, SigV4Signer, canonical_request, signing_key, string_to_sign

DATA = Path(__file__).parent / "data"
SUITE = json.loads((DATA / "sigv4_test_suite.json").read_text())
S3 = json.loads((DATA / "sigv4_s3_examples.json").read_text())


def parse_req(text: str) -> tuple[str, str, str, list[tuple[str, str]], bytes]:
    """A suite ``.req`` file: (method, path, raw query, headers, body); an indented line
    continues the previous header as another of its values (as the suite's multiline case)."""
    head, _, body = text.partition("\n\n")
    first, *lines = head.split("\n")
    method, target = first.split(" ")[0], first[len(first.split(" ")[0]) + 1 : first.rindex(" HTTP/")]
    path, _, query = target.partition("?")
    headers: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            headers.append((headers[-1][0], line.strip()))
        else:
            name, _, value = line.partition(":")
            headers.append((name, value))
    return method, path, query, headers, body.encode()


@pytest.mark.parametrize("case", SUITE["cases"], ids=[c["name"] for c in SUITE["cases"]])
def test_aws_sigv4_test_suite(case: dict[str, Any]) -> None:
    method, path, query, headers, body = parse_req(case["req"])
    amz_date = next(v for k, v in headers if k.lower() == "x-amz-date")
    canonical, signed = canonical_request(method, quote(path, safe="/~"), query, headers,
                                          hashlib.sha256(body).hexdigest())
    if "creq" in case:
        assert canonical == case["creq"]
    scope = f"{amz_date[:8]}/{SUITE['region']}/{SUITE['service']}/aws4_request"
    to_sign = string_to_sign(amz_date, scope, canonical)
    if "sts" in case:
        assert to_sign == case["sts"]
    key = signing_key(SUITE["secret_key"], amz_date[:8], SUITE["region"], SUITE["service"])
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    authz = (f"AWS4-HMAC-SHA256 Credential={SUITE['access_key']}/{scope}, SignedHeaders={signed}, "
             f"Signature={signature}")
    assert authz == case["authz"]


@pytest.mark.parametrize("case", S3["cases"], ids=[c["name"] for c in S3["cases"]])
def test_s3_examples_through_the_request_signer(case: dict[str, Any]) -> None:
    signer = SigV4Signer(S3["region"], S3["service"])
    creds = Credentials(S3["access_key"], S3["secret_key"])
    extra = {k: v for k, v in case["headers"].items() if k != "x-amz-content-sha256"}
    if "body" in case:
        assert hashlib.sha256(case["body"].encode()).hexdigest() == case["payload_hash"]
    headers = signer.headers(case["method"], case["host"], quote(case["path"], safe="/~"), case["query"], creds,
                             payload_hash=case["payload_hash"], extra=extra, amz_date=S3["amz_date"])
    assert headers["x-amz-content-sha256"] == case["payload_hash"]
    assert headers["Authorization"] == (
        f"AWS4-HMAC-SHA256 Credential={S3['access_key']}/20130524/us-east-1/s3/aws4_request, "
        f"SignedHeaders={case['signed_headers']}, Signature={case['signature']}"
    )
    if "creq" in case:
        canonical, _ = canonical_request(case["method"], quote(case["path"], safe="/~"), case["query"],
                                         [("host", case["host"]), *case["headers"].items(),
                                          ("x-amz-date", S3["amz_date"])], case["payload_hash"])
        assert canonical == case["creq"]


def test_session_token_is_signed() -> None:
    signer = SigV4Signer("us-east-1")
    headers = signer.headers("GET", "b.s3.amazonaws.com", "/k", "", Credentials("AKID", "secret", "TOKEN"),
                             amz_date="20130524T000000Z")
    assert headers["x-amz-security-token"] == "TOKEN"
    assert "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token," in headers["Authorization"]
    assert headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"


@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzE//session token=="])
@pytest.mark.parametrize("method", ["GET", "PUT", "HEAD", "DELETE"])
@pytest.mark.parametrize("key", ["array/c/0/1", "odd key/ü&=?.json"])
def test_object_headers_equal_the_generic_signer(token: str | None, method: str, key: str, monkeypatch: Any) -> None:
    """The template the lean path signs chunk requests with gives the generic signer's headers."""
    import azarr.stores._s3http as s3http

    monkeypatch.setattr(s3http, "_amz_date", lambda: "20261130T120000Z")
    signer = SigV4Signer("eu-west-1")
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    uri = "/bucket/" + quote(key, safe="/~")
    fast = signer.object_headers(method, "s3.eu-west-1.amazonaws.com", uri, creds)
    generic = signer.headers(method, "s3.eu-west-1.amazonaws.com", uri, "", creds, amz_date="20261130T120000Z")
    assert fast == generic
