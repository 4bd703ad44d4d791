"""The S3 hot path: AWS Signature V4 and object GET/PUT/HEAD/DELETE on keep-alive connections.

Profiling W1 on 2 cores showed aiobotocore spending ~2 ms of CPU per request (event
hooks, model-driven serialisation, response parsing), more than the network wait that
azarr exists to hide. Per-chunk requests therefore go through this small signer and
:mod:`azarr.stores._http1` (a lean HTTP/1.1 client; an aiohttp session cost ~0.15 ms
per request, the lean client about a third of that); credentials, configuration and
everything else (listing, DeleteObjects) stay with aiobotocore.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote_plus
from xml.sax.saxutils import escape

from yarl import URL

from azarr.stores._http1 import HTTPClient, HTTPStatusError, PerSecond, xml_error

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
#: keys SigV4's UriEncode leaves as they are (it encodes every other byte)
_PLAIN_KEY = re.compile(r"[A-Za-z0-9/._~-]*")
ALGORITHM = "AWS4-HMAC-SHA256"
_amz_date = PerSecond(lambda second: _dt.datetime.fromtimestamp(second, _dt.UTC).strftime("%Y%m%dT%H%M%SZ"))


@dataclass(frozen=True)
class Credentials:
    """Frozen AWS credentials used to sign one request."""

    access_key: str
    secret_key: str
    token: str | None = None

    def __repr__(self) -> str:  # never print secrets
        return "Credentials(<hidden>)"


# --- Signature Version 4, step by step (checked against AWS's published test vectors) --------


def uri_encode(text: str, *, keep_slash: bool) -> str:
    """SigV4's UriEncode: every byte but ``A-Za-z0-9-_.~`` percent-encoded (``/`` kept in paths)."""
    return quote(text, safe="/~" if keep_slash else "~")


def canonical_query(query: str) -> str:
    """The canonical query string of a raw ``a=1&b`` query: each name and value encoded, sorted."""
    if not query:
        return ""
    pairs = [(uri_encode(k, keep_slash=False), uri_encode(v, keep_slash=False))
             for k, _, v in (item.partition("=") for item in query.split("&"))]
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_request(
    method: str, canonical_uri: str, query: str, headers: list[tuple[str, str]], payload_hash: str,
    *, query_is_canonical: bool = False,
) -> tuple[str, str]:
    """``(canonical request, signed header names)`` for headers given as (name, value) pairs:
    names lower-cased, values trimmed with inner runs of spaces collapsed, repeats joined by commas.
    ``query`` is a raw query (encoded here), or already canonical with ``query_is_canonical``."""
    merged: dict[str, list[str]] = {}
    for name, value in headers:
        merged.setdefault(name.lower(), []).append(" ".join(value.split()))
    names = sorted(merged)
    signed = ";".join(names)
    lines = "".join(f"{n}:{','.join(merged[n])}\n" for n in names)
    cq = query if query_is_canonical else canonical_query(query)
    return "\n".join((method, canonical_uri, cq, lines, signed, payload_hash)), signed


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    """The string to sign for one canonical request."""
    return "\n".join((ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()))


def signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    """The day's signing key for one region and service."""
    k = hmac.new(("AWS4" + secret).encode(), day.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


class SigV4Signer:
    """Signs requests for one region and service with a per-day cached signing key.

    S3 object requests are signed with ``UNSIGNED-PAYLOAD`` (as S3 allows), so a PUT's body
    is never hashed on the event loop.
    """

    def __init__(self, region: str, service: str = "s3") -> None:
        self.region = region
        self.service = service
        self._key_cache: tuple[str, str, bytes] | None = None
        self._keyed_cache: tuple[str, str, Any] | None = None

    def _signing_key(self, secret: str, day: str) -> bytes:
        cached = self._key_cache
        if cached is not None and cached[0] == secret and cached[1] == day:
            return cached[2]
        k = signing_key(secret, day, self.region, self.service)
        self._key_cache = (secret, day, k)
        return k

    def _keyed(self, secret: str, day: str) -> Any:
        """An HMAC-SHA256 already keyed with the day's signing key, to be copied per request:
        the key is not hashed in again each time, and (unlike ``hmac.digest``, which lets go of
        the GIL for every short message) no request gives the event loop's thread away to a
        codec thread it must then wait for."""
        cached = self._keyed_cache
        if cached is not None and cached[0] == secret and cached[1] == day:
            return cached[2]
        keyed = hmac.new(self._signing_key(secret, day), digestmod=hashlib.sha256)
        self._keyed_cache = (secret, day, keyed)
        return keyed

    def headers(
        self, method: str, host: str, canonical_uri: str, query: str, creds: Credentials, *,
        payload_hash: str = UNSIGNED_PAYLOAD, extra: dict[str, str] | None = None, amz_date: str | None = None,
        query_is_canonical: bool = False,
    ) -> dict[str, str]:
        """The headers (x-amz-*, Authorization) that sign one request; ``extra`` headers are
        signed and returned too; ``amz_date`` (default: now) is for reproducing published examples."""
        amz_date = amz_date or _amz_date()
        day = amz_date[:8]
        headers = {"x-amz-content-sha256": payload_hash, "x-amz-date": amz_date, **(extra or {})}
        if creds.token:
            headers["x-amz-security-token"] = creds.token
        canonical, signed = canonical_request(method, canonical_uri, query, [("host", host), *headers.items()],
                                              payload_hash, query_is_canonical=query_is_canonical)
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = string_to_sign(amz_date, scope, canonical)
        signature = hmac.new(self._signing_key(creds.secret_key, day), to_sign.encode(), hashlib.sha256).hexdigest()
        headers["Authorization"] = (
            f"{ALGORITHM} Credential={creds.access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
        )
        return headers  # the HTTP client sends Host itself


    def object_headers(self, method: str, host: str, canonical_uri: str, creds: Credentials) -> dict[str, str]:
        """:meth:`headers` for an object request with no query and no extra signed header (every
        chunk GET, PUT, HEAD and DELETE): the canonical request comes from one template, so a
        request costs one f-string, one SHA-256 and one HMAC (``tests/test_sigv4.py`` checks it
        against :meth:`headers`)."""
        amz_date = _amz_date()
        day = amz_date[:8]
        token = creds.token
        if token:
            token_line = f"x-amz-security-token:{' '.join(token.split())}\n"
            signed = "host;x-amz-content-sha256;x-amz-date;x-amz-security-token"
        else:
            token_line = ""
            signed = "host;x-amz-content-sha256;x-amz-date"
        canonical = (f"{method}\n{canonical_uri}\n\nhost:{' '.join(host.split())}\n"
                     f"x-amz-content-sha256:{UNSIGNED_PAYLOAD}\nx-amz-date:{amz_date}\n{token_line}\n"
                     f"{signed}\n{UNSIGNED_PAYLOAD}")
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        mac = self._keyed(creds.secret_key, day).copy()
        mac.update(to_sign.encode())
        signature = mac.hexdigest()
        headers = {"x-amz-content-sha256": UNSIGNED_PAYLOAD, "x-amz-date": amz_date}
        if token:
            headers["x-amz-security-token"] = token
        headers["Authorization"] = (
            f"{ALGORITHM} Credential={creds.access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
        )
        return headers


class S3HTTPError(HTTPStatusError):
    """A non-success S3 answer: status, S3 error code and message."""


class WrongRegionError(S3HTTPError):
    """The bucket lives in another region (S3 said so in ``x-amz-bucket-region``)."""

    def __init__(self, status: int, region: str) -> None:
        super().__init__(status, "WrongRegion", f"the bucket is in region {region!r}")
        self.region = region


def error_from(status: int, body: bytes) -> S3HTTPError:
    """Parse an S3 XML error body (best effort)."""
    code, message = xml_error(body)
    return S3HTTPError(status, code or str(status), message)


class ObjectClient:
    """Object-level S3 requests over keep-alive connections (bound to one event loop).

    ``origin`` and ``base_path`` are where botocore's endpoint rules put the bucket
    (``https://bucket.s3.region.amazonaws.com`` + ``""``, or ``http://host:port`` +
    ``"/bucket"``); ``http`` carries the TLS context, proxy and body limit.
    """

    def __init__(
        self, origin: str, base_path: str, region: str, concurrency: int, timeout: float, **http: Any
    ) -> None:
        self.host = URL(origin).raw_authority
        self.base_path = base_path
        self.origin = origin
        self.signer = SigV4Signer(region)
        self.timeout = timeout
        self.http = HTTPClient(origin, max_idle=concurrency, connect_timeout=min(timeout, 10), **http)

    def _uri(self, key: str) -> str:
        if _PLAIN_KEY.fullmatch(key):  # chunk keys: nothing to encode (quote costs ~3 us a key)
            return f"{self.base_path}/{key}"
        return self.base_path + "/" + quote(key, safe="/~")

    async def request_full(
        self, method: str, key: str, creds: Credentials | None, *, data: bytes | None = None, rng: str | None = None,
        if_match: str | None = None, if_none_match: str | None = None,
    ) -> tuple[int, bytes, Any]:
        """Send one signed request; returns (status, body, headers) for 2xx, 404 and 416 (and 409
        and 412 with ``if_match`` / ``if_none_match``), raises otherwise."""
        uri = self._uri(key)
        headers = self.signer.object_headers(method, self.host, uri, creds) if creds is not None else {}
        if rng:
            headers["Range"] = rng
        if if_match:
            headers["If-Match"] = if_match
        if if_none_match:
            headers["If-None-Match"] = if_none_match
        resp = await self.http.request(method, uri, headers, data, timeout=self.timeout)
        conditional = bool(if_match or if_none_match)
        if resp.status < 300 or resp.status in (404, 416) or (conditional and resp.status in (409, 412)):
            return resp.status, resp.body, resp.headers
        region = resp.headers.get("x-amz-bucket-region")
        if region and region != self.signer.region and resp.status in (301, 307, 400, 403):
            raise WrongRegionError(resp.status, region)
        raise error_from(resp.status, resp.body)

    # --- listing and batch deletes (one request per 1,000 keys) --------------------------------

    async def _signed(
        self, method: str, query: str, creds: Credentials | None, body: bytes | None = None,
        extra: dict[str, str] | None = None,
    ) -> Any:
        """A signed request to the bucket itself (``query`` already encoded, sorted as signed)."""
        uri = self.base_path or "/"
        payload = hashlib.sha256(body or b"").hexdigest() if body is not None else UNSIGNED_PAYLOAD
        headers = dict(extra or {})
        if creds is not None:
            headers = self.signer.headers(method, self.host, uri, query, creds, payload_hash=payload, extra=extra,
                                          query_is_canonical=True)
        resp = await self.http.request(method, f"{uri}?{query}", headers, body, timeout=self.timeout)
        if resp.status >= 300:
            region = resp.headers.get("x-amz-bucket-region")
            if region and region != self.signer.region and resp.status in (301, 307, 400, 403):
                raise WrongRegionError(resp.status, region)
            raise error_from(resp.status, resp.body)
        return resp

    async def list_keys(self, prefix: str, creds: Credentials | None) -> list[str]:
        """Every key under ``prefix`` (ListObjectsV2, 1,000 per page, pages in turn).

        Only the keys are read from each page (botocore's parser, which also converts every
        timestamp, cost ~0.3 ms of CPU per key listed).
        """
        keys: list[str] = []
        token = ""
        while True:
            params = {"encoding-type": "url", "list-type": "2", "prefix": prefix}
            if token:
                params["continuation-token"] = token
            query = "&".join(f"{uri_encode(k, keep_slash=False)}={uri_encode(v, keep_slash=False)}"
                             for k, v in sorted(params.items()))
            page = parse_list_page((await self._signed("GET", query, creds)).body)
            keys.extend(page.keys)
            if not page.truncated:
                return keys
            if not page.token:
                raise S3HTTPError(200, "InvalidListing", "a truncated listing page without a continuation token")
            token = page.token

    async def delete_keys(self, keys: list[str], creds: Credentials | None) -> list[tuple[str, str, str]]:
        """DeleteObjects for up to 1,000 keys (quiet mode); ``(key, code, message)`` of each failure."""
        body = delete_request_body(keys)
        md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
        resp = await self._signed("POST", "delete=", creds, body,
                                  extra={"content-md5": md5, "content-type": "application/xml"})
        return parse_delete_errors(resp.body)

    async def close(self) -> None:
        """Close the connections."""
        await self.http.close()


# --- listing and DeleteObjects documents --------------------------------------------------------

#: characters XML 1.0 cannot carry, even escaped: keys holding them go through botocore
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_safe(key: str) -> bool:
    """Whether ``key`` can be written in an XML document (DeleteObjects)."""
    return _NOT_XML.search(key) is None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


@dataclass(frozen=True)
class ListPage:
    """One ListObjectsV2 answer: its keys, whether more follow, the token to ask for them."""

    keys: list[str]
    truncated: bool
    token: str


def parse_list_page(body: bytes) -> ListPage:
    """Keys (URL-decoded when the answer says it encoded them), truncation and continuation token."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise S3HTTPError(200, "MalformedListing", f"the listing is not XML: {exc}") from None
    keys: list[str] = []
    truncated, token, encoded = False, "", False
    for el in root:
        tag = _local(el.tag)
        if tag == "Contents":
            for child in el:
                if _local(child.tag) == "Key":
                    keys.append(child.text or "")
                    break
        elif tag == "IsTruncated":
            truncated = (el.text or "").strip().lower() == "true"
        elif tag == "NextContinuationToken":
            token = el.text or ""
        elif tag == "EncodingType":
            encoded = (el.text or "").strip().lower() == "url"
    if encoded:  # as botocore decodes it (urllib's unquote_plus)
        keys = [unquote_plus(k) for k in keys]
    return ListPage(keys, truncated, token)


def delete_request_body(keys: list[str]) -> bytes:
    """The DeleteObjects document for ``keys`` (quiet: only failures are answered)."""
    objects = "".join(f"<Object><Key>{escape(k)}</Key></Object>" for k in keys)
    return (f'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>{objects}</Delete>'
            ).encode()


def parse_delete_errors(body: bytes) -> list[tuple[str, str, str]]:
    """``(key, code, message)`` of each ``<Error>`` in a DeleteObjects answer."""
    if b"<Error>" not in body and b"<Error " not in body:
        return []
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise S3HTTPError(200, "MalformedDeleteResult", f"the DeleteObjects answer is not XML: {exc}") from None
    errors = []
    for el in root:
        if _local(el.tag) == "Error":
            fields = {_local(c.tag): c.text or "" for c in el}
            errors.append((fields.get("Key", ""), fields.get("Code", ""), fields.get("Message", "")))
    return errors


def frozen(creds: Any) -> Credentials | None:
    """Turn botocore (frozen) credentials into :class:`Credentials` (None = anonymous)."""
    if creds is None or not getattr(creds, "access_key", None):
        return None
    return Credentials(creds.access_key, creds.secret_key, getattr(creds, "token", None))
