"""One proxy rule for every cloud store's lean client: ``HTTP(S)_PROXY`` / ``NO_PROXY``.

It is the rule botocore, requests and aiohttp (``trust_env``) share: the standard
library's ``getproxies()`` (the ``*_proxy`` environment variables, lower case first) and
``proxy_bypass()`` (``NO_PROXY``), unless the caller passes an explicit mapping in
botocore's ``proxies`` form (``{"https": url}`` or ``{"https://host": url}``).
"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit


def environ_proxies(url: str) -> dict[str, str]:
    """The environment's proxies for ``url`` (none when ``NO_PROXY`` covers its host)."""
    host = urlsplit(url).netloc.rsplit("@", 1)[-1]
    try:
        if urllib.request.proxy_bypass(host):
            return {}
    except (TypeError, OSError):  # a malformed NO_PROXY entry: treat as not bypassed, as botocore does
        pass
    return urllib.request.getproxies()


def proxy_for(url: str, explicit: Mapping[str, str] | None = None) -> str | None:
    """The proxy URL for requests to ``url``: ``explicit`` (botocore's ``proxies``) if given,
    else the environment's; the most specific key wins (``scheme://host``, ``scheme``, ``all``)."""
    proxies = dict(explicit) if explicit else environ_proxies(url)
    parts = urlsplit(url)
    for key in (f"{parts.scheme}://{parts.hostname}", parts.scheme, f"all://{parts.hostname}", "all"):
        if proxies.get(key):
            return proxies[key]
    return None


def lean_supports(explicit: Mapping[str, str] | None = None) -> bool:
    """Whether every proxy that could apply is a plain ``http://`` proxy (the lean client
    speaks to those; https or SOCKS proxies leave requests to the SDK, which handles them)."""
    proxies = dict(explicit) if explicit else urllib.request.getproxies()
    return all(v.startswith("http://") or "://" not in v for k, v in proxies.items() if k != "no" and v)
