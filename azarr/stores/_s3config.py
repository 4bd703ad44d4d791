"""S3 settings as botocore resolves them, for the lean request path.

The lean path must connect where boto3, s3fs and the AWS CLI would, with the same
credentials, so nothing here re-implements AWS's configuration chain: a botocore session
(with the store's ``profile``) resolves endpoint (``AWS_ENDPOINT_URL_S3``,
``AWS_ENDPOINT_URL``, ``endpoint_url`` in the profile or its ``services`` section),
region (``AWS_DEFAULT_REGION``, the profile), ``s3.addressing_style``, the CA bundle
(``AWS_CA_BUNDLE``, ``ca_bundle``) and the credential provider chain (environment,
shared files, ``credential_process``, SSO, assume-role, container and instance
credentials, refreshed when they expire); the client's endpoint rule set turns bucket
and configuration into the exact URL and signing region of an object request.

One addition: botocore reads the region only from ``AWS_DEFAULT_REGION`` and the profile;
``AWS_REGION`` (read by the AWS CLI v2 and the other AWS SDKs) is used when botocore
finds no region at all, instead of botocore's us-east-1 fallback.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from azarr.errors import StoreConfigError


def new_session(profile: str | None, region: str | None) -> Any:
    """An aiobotocore session for ``profile``; ``AWS_REGION`` fills in a region botocore lacks."""
    from aiobotocore.session import get_session

    session = get_session()
    if profile:
        session.set_config_variable("profile", profile)
    if region is None and not session.get_config_variable("region") and os.environ.get("AWS_REGION"):
        session.set_config_variable("region", os.environ["AWS_REGION"])
    return session


def session_ca_bundle(session: Any) -> str | None:
    """The CA bundle botocore would verify with (``AWS_CA_BUNDLE`` or the profile's ``ca_bundle``)."""
    bundle = session.get_config_variable("ca_bundle")
    return str(bundle) if bundle else None


@dataclass(frozen=True)
class ObjectTarget:
    """Where a bucket's object requests go and how they are signed."""

    origin: str  # scheme://host[:port], with the bucket in the host for virtual-hosted style
    base_path: str  # "" (virtual-hosted), or the endpoint's path plus "/bucket" (path style)
    region: str  # the signing region


async def object_target(client: Any, bucket: str, store: str) -> ObjectTarget:
    """The URL and signing region botocore's endpoint rule set gives a GetObject in ``bucket``.

    Raises StoreConfigError when the rule set asks for signing the lean path does not do
    (SigV4a multi-region access points, S3 Express session auth): those need ``fast_path=False``.
    """
    operation = client.meta.service_model.operation_model("GetObject")
    resolved = client._resolve_endpoint_ruleset(operation, {"Bucket": bucket, "Key": "k"}, {})
    if inspect.isawaitable(resolved):  # aiobotocore resolves asynchronously, botocore does not
        resolved = await resolved
    url, extra_headers, properties = resolved
    schemes = (properties or {}).get("authSchemes") or [{"name": "sigv4"}]
    scheme = schemes[0]
    if scheme.get("name") != "sigv4" or extra_headers:
        raise StoreConfigError(
            f"{store}: bucket {bucket!r} needs {scheme.get('name')} signing, which the lean request path does "
            "not do; open the store with fast_path=False"
        )
    parts = urlsplit(url)
    return ObjectTarget(f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/"),
                        scheme.get("signingRegion") or client.meta.region_name or "us-east-1")
