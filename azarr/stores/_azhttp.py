"""The Azure Blob hot path: Shared Key / SAS requests for single blobs on keep-alive connections.

Measured through Azurite on 2 cores, the azure-storage-blob aio client spends ~1 ms of
CPU per blob request (its policy pipeline, model deserialisation, stream wrappers), so a
1024-chunk read was CPU-bound at ~1.3 s whatever the latency. Per-chunk GET/PUT/HEAD/
DELETE therefore go through this signer and :mod:`azarr.stores._http1`; listing, batch
deletes and token (Azure AD) credentials stay with the SDK.

Shared Key signing follows the Azure Storage REST reference ("Authorize with Shared
Key", version 2015-02-21 and later: an empty Content-Length when it is zero).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import quote, urlsplit

from azarr.stores._http1 import HTTPClient, HTTPStatusError, PerSecond, xml_error

API_VERSION = "2021-08-06"
_http_date = PerSecond(lambda second: formatdate(second, usegmt=True))  # RFC 1123


@dataclass(frozen=True)
class Endpoint:
    """Where the account's blob service is and how requests are authorised."""

    origin: str  # scheme://host[:port]
    base_path: str  # "" on Azure; "/devstoreaccount1" on Azurite's path-style endpoint
    account: str
    key: bytes | None = None  # decoded account key (Shared Key), or
    sas: str | None = None  # a SAS query string, or neither (anonymous)

    def __repr__(self) -> str:  # never show the key or the SAS
        return f"Endpoint({self.origin}{self.base_path}, account={self.account!r})"


def endpoint_from(
    connection_string: str | None, account_url: str | None, account_name: str | None,
    account_key: str | None, sas_token: str | None,
) -> Endpoint | None:
    """The lean path's endpoint for these settings, or None where only the SDK applies."""
    key, sas = account_key, sas_token
    if connection_string:
        parts = dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)
        account_name = parts.get("AccountName", account_name)
        key = parts.get("AccountKey", key)
        sas = parts.get("SharedAccessSignature", sas)
        url = parts.get("BlobEndpoint")
        if url is None:
            if not account_name:
                return None  # e.g. UseDevelopmentStorage=true: let the SDK resolve it
            proto = parts.get("DefaultEndpointsProtocol", "https")
            url = f"{proto}://{account_name}.blob.{parts.get('EndpointSuffix', 'core.windows.net')}"
    else:
        url = account_url
    if not url:
        return None
    split = urlsplit(url)
    if split.scheme not in ("http", "https") or not split.netloc:
        return None
    account = account_name or (split.hostname.split(".")[0] if split.hostname else None)
    if not account:
        return None
    try:
        raw_key = base64.b64decode(key, validate=True) if key else None
    except ValueError:
        return None  # a malformed key: the SDK reports it properly
    return Endpoint(f"{split.scheme}://{split.netloc}", split.path.rstrip("/"), account, raw_key,
                    sas.lstrip("?") if sas and not raw_key else None)


class BlobClient:
    """Single-blob requests in one container (bound to one event loop)."""

    def __init__(self, endpoint: Endpoint, container: str, concurrency: int, timeout: float, **http: Any) -> None:
        self.endpoint = endpoint
        self.container_path = f"{endpoint.base_path}/{quote(container, safe='')}"
        self.timeout = timeout
        # http: the TLS context, proxy and body limit for HTTPClient
        self.http = HTTPClient(endpoint.origin, max_idle=concurrency, connect_timeout=min(timeout, 10), **http)

    def _sign(self, method: str, path: str, headers: dict[str, str], length: int, content_type: str) -> str:
        assert self.endpoint.key is not None
        ms = "".join(f"{k}:{headers[k]}\n" for k in sorted(h for h in headers if h.startswith("x-ms-")))
        to_sign = "\n".join((
            method, "", "", str(length) if length else "", "", content_type, "", "",
            headers.get("If-Match", ""), headers.get("If-None-Match", ""), "", "",
        )) + "\n" + ms + f"/{self.endpoint.account}{path}"
        digest = hmac.new(self.endpoint.key, to_sign.encode("utf-8"), hashlib.sha256).digest()
        return f"SharedKey {self.endpoint.account}:{base64.b64encode(digest).decode()}"

    async def request(
        self, method: str, name: str, *, data: bytes | None = None, rng: str | None = None,
        if_match: str | None = None, if_none_match: str | None = None,
    ) -> tuple[int, bytes, dict[str, str]]:
        """Send one request for blob ``name``; (status, body, headers) for 2xx/404/416 (and 409
        and 412 with ``if_match`` / ``if_none_match``), raises otherwise."""
        path = f"{self.container_path}/{quote(name, safe='/~')}"
        headers = {"x-ms-date": _http_date(), "x-ms-version": API_VERSION}
        if rng:
            headers["x-ms-range"] = rng
        if if_match:
            headers["If-Match"] = if_match
        if if_none_match:
            headers["If-None-Match"] = if_none_match
        content_type = ""
        if method == "PUT":
            headers["x-ms-blob-type"] = "BlockBlob"
            content_type = "application/octet-stream"
            headers["Content-Type"] = content_type
        if self.endpoint.key is not None:
            headers["Authorization"] = self._sign(method, path, headers, len(data) if data else 0, content_type)
        target = f"{path}?{self.endpoint.sas}" if self.endpoint.sas else path
        resp = await self.http.request(method, target, headers, data, timeout=self.timeout)
        code = resp.headers.get("x-ms-error-code", "")
        if (resp.status < 300 or (resp.status == 404 and code in ("", "BlobNotFound")) or resp.status == 416
                or ((if_match or if_none_match) and resp.status in (409, 412))):
            return resp.status, resp.body, resp.headers
        found, message = xml_error(resp.body)
        raise HTTPStatusError(resp.status, code or found or str(resp.status), message)

    async def close(self) -> None:
        """Close the connections."""
        await self.http.close()
