"""Hide secrets that ride in URLs, connection strings and messages (reprs, errors, logs).

Store URLs carry credentials in several places: the user-info of the URL
(``redis://:pw@host``), query parameters (``?password=``, ``?token=``, Azure SAS
``sig=``, presigned ``X-Amz-Signature=``), and ``Name=value;`` parts of connection
strings (``AccountKey=``). :func:`redact` replaces each such value with ``***`` and
leaves everything else (host, path, harmless parameters) readable.
"""

from __future__ import annotations

import re

#: parameter names whose values are secrets, compared in lower case
SECRET_NAMES = frozenset({"sig", "pwd", "pass", "key", "auth", "sas"})
#: a parameter whose lower-cased name contains one of these is a secret too
SECRET_PARTS = (
    "password", "passwd", "secret", "token", "signature", "credential", "apikey", "api_key", "api-key",
    "accountkey", "accesskey", "privatekey", "private_key", "authmechanismproperties",
)

MASK = "***"

# scheme://user:password@  (the password part only; a user name alone is kept)
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s@:'\"<>]*):(?P<pw>[^/\s@'\"<>]*)@")
# name=value inside a query string or a connection string (the value ends at & ; space quote)
_PARAM = re.compile(r"(?P<name>(?<![A-Za-z0-9_.-])[A-Za-z][A-Za-z0-9_.-]*)=(?P<value>[^&;\s'\"<>,)]+)")
# "Bearer abc" / "Basic abc" (an Authorization value quoted in a message)
_SCHEME_TOKEN = re.compile(r"\b(?P<scheme>Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """Whether a parameter called ``name`` holds a secret (password, token, signature, ...)."""
    lower = name.lower()
    return lower in SECRET_NAMES or any(part in lower for part in SECRET_PARTS)


def _param(match: re.Match[str]) -> str:
    name = match.group("name")
    return f"{name}={MASK}" if is_secret_name(name) else match.group(0)


def redact(text: str) -> str:
    """Return ``text`` with every credential in it (URL passwords, secret parameters,
    connection-string keys, bearer tokens) replaced by ``***``."""
    if "=" not in text and "@" not in text and "earer" not in text and "asic" not in text:
        return text  # the common case: nothing that could hold a secret
    text = _USERINFO.sub(lambda m: f"{m.group('head')}:{MASK}@", text)
    text = _PARAM.sub(_param, text)
    return _SCHEME_TOKEN.sub(lambda m: f"{m.group('scheme')} {MASK}", text)
