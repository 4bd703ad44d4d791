"""Azure Blob settings in the order adlfs documents, from arguments and the environment.

Arguments always win; each missing one is read from the variable adlfs reads:

1. a connection string (``AZURE_STORAGE_CONNECTION_STRING``, used when no account is
   named by argument) pre-empts everything else;
2. the account (``account_name`` / ``AZURE_STORAGE_ACCOUNT_NAME``, or ``account_url``) with
   an account key (``AZURE_STORAGE_ACCOUNT_KEY``: Shared Key), else a SAS token
   (``AZURE_STORAGE_SAS_TOKEN``), else an explicit ``credential``, else a service principal
   (``AZURE_STORAGE_CLIENT_ID`` / ``_CLIENT_SECRET`` / ``_TENANT_ID``);
3. with none of those: anonymous access (public containers) while ``anon`` is true —
   ``anon=None`` reads ``AZURE_STORAGE_ANON``, true unless it is ``false``/``0``/``f``, as in
   adlfs — otherwise ``DefaultAzureCredential``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from azarr.errors import StoreConfigError

ENV_NAMES = (
    "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_CLIENT_ID", "AZURE_STORAGE_CLIENT_SECRET",
    "AZURE_STORAGE_TENANT_ID", "AZURE_STORAGE_ANON",
)


@dataclass(frozen=True)
class AzureSettings:
    """Where the blob service is and how requests are authorised, resolved once per store."""

    connection_string: str | None
    account_name: str | None
    account_url: str | None
    account_key: str | None
    sas_token: str | None
    credential: Any  # an azure.core credential, "default" (DefaultAzureCredential), "service-principal", or None
    anonymous: bool

    def __repr__(self) -> str:  # never show keys, tokens or connection strings
        return f"AzureSettings(account={self.account_name or self.account_url!r})"


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def resolve(
    *, connection_string: str | None, account_name: str | None, account_url: str | None, account_key: str | None,
    sas_token: str | None, credential: Any, anon: bool | None, store: str,
) -> AzureSettings:
    """Arguments first, then the environment, in adlfs's order (see the module docstring)."""
    named = bool(connection_string or account_name or account_url)
    if not named:
        connection_string = _env("AZURE_STORAGE_CONNECTION_STRING")
    if connection_string:
        return AzureSettings(connection_string, account_name, account_url, None, None, credential, False)
    account_name = account_name or _env("AZURE_STORAGE_ACCOUNT_NAME")  # also names the account of an account_url
    if not (account_name or account_url):
        raise StoreConfigError(
            f"{store}: no Azure account: pass connection_string, account_name or account_url, or set "
            "AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_NAME"
        )
    account_key = account_key or (None if credential is not None else _env("AZURE_STORAGE_ACCOUNT_KEY"))
    sas_token = sas_token or (None if credential is not None or account_key else _env("AZURE_STORAGE_SAS_TOKEN"))
    if credential is None and not (account_key or sas_token):
        if all(_env(f"AZURE_STORAGE_{n}") for n in ("CLIENT_ID", "CLIENT_SECRET", "TENANT_ID")):
            credential = "service-principal"
        else:
            if anon is None:
                anon = (_env("AZURE_STORAGE_ANON") or "true").lower() not in ("false", "0", "f")
            if not anon:
                credential = "default"
    anonymous = credential is None and not (account_key or sas_token)
    return AzureSettings(None, account_name, account_url, account_key, sas_token, credential, anonymous)


def make_credential(settings: AzureSettings) -> Any:
    """The credential object for the SDK client (None = anonymous or SAS in the URL)."""
    cred = settings.credential
    if cred == "default":
        from azure.identity.aio import DefaultAzureCredential

        return DefaultAzureCredential()
    if cred == "service-principal":
        from azure.identity.aio import ClientSecretCredential

        return ClientSecretCredential(
            tenant_id=os.environ["AZURE_STORAGE_TENANT_ID"], client_id=os.environ["AZURE_STORAGE_CLIENT_ID"],
            client_secret=os.environ["AZURE_STORAGE_CLIENT_SECRET"],
        )
    if cred is not None:
        return cred
    if settings.account_key:
        return {"account_name": settings.account_name, "account_key": settings.account_key}
    return settings.sas_token or None
