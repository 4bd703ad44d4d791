"""Each cloud store reads its configuration as its SDK does: every environment variable (and
config file) below changes where the store connects or how it authenticates, checked in a
subprocess that starts from a clean environment (no variable of the test run leaks in).

Where a setting points at a real cloud (a region, an account name), the subprocess goes
through a local forward proxy, which records the ``CONNECT host:443`` it was asked for and
refuses it: the test sees where the store would connect, and nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import pytest

from tests.forwardproxy import ForwardProxy
from tests.services.azurite import ACCOUNT, KEY
from tests.services.common import ROOT, free_port
from tests.services.moto import S3_CREDENTIALS, boto3_client

# Nothing of the test run's environment but what a Python process needs; link-local metadata
# services (EC2, GCE) are switched off or pointed at a closed loopback port.
BASE_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "PYTHONPATH": str(ROOT),
    "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
    "NO_GCE_CHECK": "true",
    "GCE_METADATA_IP": "127.0.0.1:9",
    "GCE_METADATA_HOST": "127.0.0.1:9",
    "AWS_EC2_METADATA_DISABLED": "true",
}

# argv: url, JSON storage options; writes and reads back a 4-element array (Zarr v3: zarr.json, c/0, c/1), prints it.
WRITE_READ = """
import json, sys
import numpy as np
import azarr
from azarr.stores import RetryPolicy
url, opts = sys.argv[1], json.loads(sys.argv[2])
opts["retry"] = RetryPolicy(attempts=int(opts.pop("attempts", 2)), base_delay=0.01)
try:
    z = azarr.open_array(url, mode="w", shape=(4,), chunks=(2,), dtype="i4", storage_options=opts)
    z[...] = np.arange(4)
    print(azarr.open_array(url, mode="r", storage_options=opts)[...].tolist())
except Exception as exc:
    print(type(exc).__name__, exc)
"""


def run_clean(tmp_path: Path, url: str, env: dict[str, str], options: dict[str, Any] | None = None,
              script: str = WRITE_READ) -> str:
    """Run ``script`` in a fresh interpreter with only BASE_ENV + ``env``; return its stdout."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    full = {**BASE_ENV, "HOME": str(home), **env}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), url, json.dumps(options or {})],
                          env=full, capture_output=True, text=True, timeout=180, cwd=str(ROOT), check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


OK = "[0, 1, 2, 3]"


class LocalApp:
    """A small aiohttp application on 127.0.0.1 in its own thread (credential and token
    endpoints, a recording storage endpoint); ``hits`` counts requests per path."""

    def __init__(self, routes: dict[tuple[str, str], Callable[[Any], Any]]) -> None:
        self.routes = routes
        self.hits: Counter[str] = Counter()
        self.headers: list[dict[str, str]] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()

    async def _handle(self, request: Any) -> Any:
        from aiohttp import web

        self.hits[request.path] += 1
        self.headers.append(dict(request.headers))
        for (method, prefix), handler in self.routes.items():
            if request.method == method and request.path.startswith(prefix):
                result = handler(request)
                return result if isinstance(result, web.StreamResponse) else web.json_response(result)
        return web.json_response({"error": {"code": 404, "message": "No such object: b/k"}}, status=404)

    def _run(self) -> None:
        from aiohttp import web

        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        port = free_port()
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", port).start())
        self.url = f"http://127.0.0.1:{port}"
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class TLSRelay:
    """TLS on 127.0.0.1 (a certificate from a private CA) relayed as plain TCP to ``upstream_port``."""

    def __init__(self, upstream_port: int, server_ctx: ssl.SSLContext) -> None:
        self.upstream_port = upstream_port
        self.server_ctx = server_ctx
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(1 << 16):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> asyncio.base_events.Server:
            return await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.server_ctx)

        server = self._loop.run_until_complete(start())
        self.url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        self._ready.set()
        self._loop.run_forever()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        server.close()
        self._loop.close()

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def private_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, str]:
    """A server TLS context for 127.0.0.1 from a private CA, and that CA's PEM file."""
    import trustme

    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    pem = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    return ctx, str(pem)


# --- S3 ---------------------------------------------------------------------------------------


def _aws_keys() -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": S3_CREDENTIALS["key"], "AWS_SECRET_ACCESS_KEY": S3_CREDENTIALS["secret"]}


def _stored(endpoint: str, bucket: str, key: str) -> bool:
    try:
        boto3_client(endpoint).head_object(Bucket=bucket, Key=key)
    except Exception:  # noqa: BLE001 - a missing object is the answer here
        return False
    return True


def _write_files(tmp_path: Path, config: str = "", credentials: str = "") -> dict[str, str]:
    cfg, creds = tmp_path / "aws_config", tmp_path / "aws_credentials"
    cfg.write_text(textwrap.dedent(config))
    creds.write_text(textwrap.dedent(credentials))
    return {"AWS_CONFIG_FILE": str(cfg), "AWS_SHARED_CREDENTIALS_FILE": str(creds)}


@pytest.mark.parametrize("source", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "profile endpoint_url",
                                    "services section"])
def test_s3_endpoint_from_the_environment(tmp_path: Path, s3_endpoint: str, s3_bucket: str, source: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    keys = f"""
        [azarr]
        aws_access_key_id = {S3_CREDENTIALS['key']}
        aws_secret_access_key = {S3_CREDENTIALS['secret']}
        """
    if source == "AWS_ENDPOINT_URL":
        env = {"AWS_ENDPOINT_URL": s3_endpoint, **_aws_keys()}
    elif source == "AWS_ENDPOINT_URL_S3":  # the service-specific variable wins over the global one
        env = {"AWS_ENDPOINT_URL": dead, "AWS_ENDPOINT_URL_S3": s3_endpoint, **_aws_keys()}
    elif source == "profile endpoint_url":  # and the shared files, through AWS_PROFILE
        env = {"AWS_PROFILE": "azarr", **_write_files(tmp_path, f"[profile azarr]\nendpoint_url = {s3_endpoint}\n",
                                                       keys)}
    else:
        config = f"[profile azarr]\nservices = local\n\n[services local]\ns3 =\n  endpoint_url = {s3_endpoint}\n"
        env = {"AWS_PROFILE": "azarr", **_write_files(tmp_path, config, keys)}
    url = f"s3://{s3_bucket}/env.zarr"
    assert run_clean(tmp_path, url, env) == OK
    assert _stored(s3_endpoint, s3_bucket, "env.zarr/zarr.json")


@pytest.mark.parametrize("env, host", [
    ({"AWS_DEFAULT_REGION": "eu-west-2"}, "{bucket}.s3.eu-west-2.amazonaws.com:443"),
    ({"AWS_REGION": "ap-south-1"}, "{bucket}.s3.ap-south-1.amazonaws.com:443"),
    ({"AWS_DEFAULT_REGION": "eu-west-2", "AWS_REGION": "ap-south-1"}, "{bucket}.s3.eu-west-2.amazonaws.com:443"),
    ({"AWS_PROFILE": "azarr", "config": "[profile azarr]\nregion = sa-east-1\n"}, "{bucket}.s3.sa-east-1.amazonaws.com:443"),
    ({"AWS_PROFILE": "azarr", "config": "[profile azarr]\nregion = eu-west-3\ns3 =\n  addressing_style = path\n"},
     "s3.eu-west-3.amazonaws.com:443"),
], ids=["AWS_DEFAULT_REGION", "AWS_REGION", "AWS_DEFAULT_REGION over AWS_REGION", "profile region",
        "profile addressing_style"])
def test_s3_region_and_addressing_from_the_environment(tmp_path: Path, env: dict[str, str], host: str) -> None:
    env = dict(env)
    if "config" in env:
        env.update(_write_files(tmp_path, env.pop("config")))
    bucket = f"azarr-{uuid.uuid4().hex[:8]}"
    with ForwardProxy() as proxy:
        out = run_clean(tmp_path, f"s3://{bucket}/x.zarr",
                        {**env, "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x",
                         "HTTPS_PROXY": proxy.url}, {"attempts": 1})
    assert "refused to tunnel" in out  # the proxy refuses: nothing left this machine
    assert f"CONNECT {host.format(bucket=bucket)} HTTP/1.1" in proxy.targets()


def test_s3_ca_bundle_from_the_environment(tmp_path: Path, s3_endpoint: str, s3_bucket: str,
                                            private_ca: tuple[ssl.SSLContext, str]) -> None:
    server_ctx, ca_pem = private_ca
    port = int(s3_endpoint.rsplit(":", 1)[1])
    with TLSRelay(port, server_ctx) as relay:
        env = {"AWS_ENDPOINT_URL": relay.url, **_aws_keys()}
        assert "CERTIFICATE_VERIFY_FAILED" in run_clean(tmp_path, f"s3://{s3_bucket}/tls.zarr", env, {"attempts": 1})
        assert run_clean(tmp_path, f"s3://{s3_bucket}/tls.zarr", {**env, "AWS_CA_BUNDLE": ca_pem}) == OK
        # the SDK path trusts the same bundle
        assert run_clean(tmp_path, f"s3://{s3_bucket}/tls2.zarr", {**env, "AWS_CA_BUNDLE": ca_pem},
                         {"fast_path": False}) == OK
    assert _stored(s3_endpoint, s3_bucket, "tls.zarr/c/0") and _stored(s3_endpoint, s3_bucket, "tls2.zarr/c/0")


def test_s3_credential_process_is_refreshed_on_the_lean_path(tmp_path: Path, s3_endpoint: str,
                                                              s3_bucket: str) -> None:
    calls = tmp_path / "calls"
    script = tmp_path / "creds.py"
    # Credentials that expire in 5 minutes: inside botocore's mandatory refresh window, so
    # every signing asks the process again, as the SDK would.
    script.write_text(textwrap.dedent(f"""
        import datetime, json
        with open({str(calls)!r}, "a") as f:
            f.write("x")
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)
        print(json.dumps({{"Version": 1, "AccessKeyId": {S3_CREDENTIALS['key']!r},
                           "SecretAccessKey": {S3_CREDENTIALS['secret']!r}, "Expiration": expires.isoformat()}}))
        """))
    env = {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_PROFILE": "azarr",
           **_write_files(tmp_path, f"[profile azarr]\ncredential_process = {sys.executable} {script}\n")}
    assert run_clean(tmp_path, f"s3://{s3_bucket}/proc.zarr", env) == OK
    assert len(calls.read_text()) >= 3  # fetched, then refreshed while requests went out
    assert _stored(s3_endpoint, s3_bucket, "proc.zarr/c/1")


def _role(endpoint: str) -> str:
    """A new IAM role in moto that any principal may assume, allowed everything; its ARN."""
    import boto3

    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id=S3_CREDENTIALS["key"], aws_secret_access_key=S3_CREDENTIALS["secret"])
    role = f"azarr-role-{uuid.uuid4().hex[:6]}"
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                                                     "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=role, PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    return str(arn)


def test_s3_assume_role_profile(tmp_path: Path, s3_endpoint: str, s3_bucket: str) -> None:
    config = f"[profile azarr]\nrole_arn = {_role(s3_endpoint)}\nsource_profile = base\n"
    creds = f"[base]\naws_access_key_id = {S3_CREDENTIALS['key']}\naws_secret_access_key = {S3_CREDENTIALS['secret']}\n"
    env = {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_PROFILE": "azarr", "AWS_DEFAULT_REGION": "us-east-1",
           **_write_files(tmp_path, config, creds)}
    assert run_clean(tmp_path, f"s3://{s3_bucket}/role.zarr", env) == OK  # signed with STS session credentials
    assert _stored(s3_endpoint, s3_bucket, "role.zarr/c/0")


@pytest.fixture
def session_keys(s3_endpoint: str) -> dict[str, str]:
    """Temporary credentials (with a session token) for an assumed role, as a container or
    instance credential endpoint serves them."""
    import boto3

    sts = boto3.client("sts", endpoint_url=s3_endpoint, region_name="us-east-1",
                       aws_access_key_id=S3_CREDENTIALS["key"], aws_secret_access_key=S3_CREDENTIALS["secret"])
    creds = sts.assume_role(RoleArn=_role(s3_endpoint), RoleSessionName="azarr")["Credentials"]
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 6 * 3600))
    return {"AccessKeyId": creds["AccessKeyId"], "SecretAccessKey": creds["SecretAccessKey"],
            "Token": creds["SessionToken"], "Expiration": expires}


def test_s3_container_credentials(tmp_path: Path, s3_endpoint: str, s3_bucket: str,
                                  session_keys: dict[str, str]) -> None:
    with LocalApp({("GET", "/creds"): lambda r: session_keys}) as app:
        env = {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{app.url}/creds"}
        assert run_clean(tmp_path, f"s3://{s3_bucket}/ecs.zarr", env) == OK
    assert app.hits["/creds"] >= 1
    assert _stored(s3_endpoint, s3_bucket, "ecs.zarr/c/0")


def test_s3_instance_metadata_credentials(tmp_path: Path, s3_endpoint: str, s3_bucket: str,
                                          session_keys: dict[str, str]) -> None:
    from aiohttp import web

    routes = {
        ("PUT", "/latest/api/token"): lambda r: web.Response(text="imds-token"),
        ("GET", "/latest/meta-data/iam/security-credentials/azarr-role"): lambda r: {"Code": "Success",
                                                                                     **session_keys},
        ("GET", "/latest/meta-data/iam/security-credentials"): lambda r: web.Response(text="azarr-role"),
    }
    with LocalApp(routes) as app:
        env = {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_EC2_METADATA_DISABLED": "false",
               "AWS_EC2_METADATA_SERVICE_ENDPOINT": app.url + "/"}
        assert run_clean(tmp_path, f"s3://{s3_bucket}/imds.zarr", env) == OK
    assert app.hits["/latest/meta-data/iam/security-credentials/azarr-role"] >= 1
    assert _stored(s3_endpoint, s3_bucket, "imds.zarr/c/0")


def test_s3_refused_environment_credentials(tmp_path: Path, s3_endpoint: str, s3_bucket: str) -> None:
    env = {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": S3_CREDENTIALS["key"],
           "AWS_SECRET_ACCESS_KEY": "wrong"}
    out = run_clean(tmp_path, f"s3://{s3_bucket}/denied.zarr", env, {"attempts": 1})
    assert out.startswith("AuthenticationError") and s3_bucket in out


# --- GCS --------------------------------------------------------------------------------------


def test_gcs_storage_emulator_host(tmp_path: Path, gcs_endpoint: str, gcs_bucket: str) -> None:
    import urllib.request

    host = gcs_endpoint.removeprefix("http://")  # host:port without a scheme means http, as in gcsfs
    assert run_clean(tmp_path, f"gs://{gcs_bucket}/emu.zarr", {"STORAGE_EMULATOR_HOST": host}) == OK
    with urllib.request.urlopen(f"{gcs_endpoint}/storage/v1/b/{gcs_bucket}/o/emu.zarr%2Fc%2F0?alt=media") as r:
        assert r.status == 200


GET_ONE = """
import asyncio, json, sys
from azarr.stores import GCSStore, RetryPolicy
opts = json.loads(sys.argv[2])
async def main():
    store = GCSStore("bkt", "p", retry=RetryPolicy(attempts=1), **opts)
    try:
        print(await store.get("k"))
    finally:
        await store.close()
asyncio.run(main())
"""


@pytest.fixture(scope="module")
def service_account(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], str]:
    """Writes a service-account key file whose token_uri is a local endpoint; returns its path."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    folder = tmp_path_factory.mktemp("gcp")

    def write(token_uri: str) -> str:
        path = folder / "sa.json"
        path.write_text(json.dumps({
            "type": "service_account", "project_id": "azarr-test", "private_key_id": "k1", "private_key": pem,
            "client_email": "azarr@azarr-test.iam.gserviceaccount.com", "client_id": "1", "token_uri": token_uri,
        }))
        return str(path)

    return write


@pytest.mark.parametrize("token, authorization", [(None, "Bearer token-from-the-key-file"), ("anon", None)])
def test_gcs_google_application_credentials(tmp_path: Path, service_account: Callable[[str], str],
                                            token: str | None, authorization: str | None) -> None:
    routes = {("POST", "/token"): lambda r: {"access_token": "token-from-the-key-file", "expires_in": 3600,
                                             "token_type": "Bearer"}}
    with LocalApp(routes) as app:
        env = {"STORAGE_EMULATOR_HOST": app.url, "GOOGLE_APPLICATION_CREDENTIALS": service_account(f"{app.url}/token")}
        out = run_clean(tmp_path, "", env, {"token": token} if token else {}, script=GET_ONE)
    assert out == "None"  # the scripted endpoint answers "No such object"
    sent = [h.get("Authorization") for h in app.headers if not h.get("Content-Type", "").startswith("application/x-www")]
    assert sent[-1] == authorization
    assert (app.hits["/token"] >= 1) == (token is None)


# --- Azure ------------------------------------------------------------------------------------


def test_azure_connection_string_from_the_environment(tmp_path: Path, azurite_connection_string: str,
                                                      azure_container: str) -> None:
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite_connection_string}
    assert run_clean(tmp_path, f"az://{azure_container}/env.zarr", env) == OK


@pytest.mark.parametrize("secret", ["AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN"])
def test_azure_account_key_or_sas_from_the_environment(tmp_path: Path, azurite_connection_string: str,
                                                       azure_container: str, secret: str) -> None:
    from datetime import UTC, datetime, timedelta

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    blob_endpoint = dict(p.split("=", 1) for p in azurite_connection_string.split(";") if "=" in p)["BlobEndpoint"]
    value = KEY if secret == "AZURE_STORAGE_ACCOUNT_KEY" else generate_container_sas(
        ACCOUNT, azure_container, account_key=KEY, expiry=datetime.now(UTC) + timedelta(hours=1),
        permission=ContainerSasPermissions(read=True, write=True, delete=True, list=True))
    env = {"AZURE_STORAGE_ACCOUNT_NAME": ACCOUNT, secret: value}
    opts = {"account_url": blob_endpoint}  # Azurite's address; the secret comes from the environment
    assert run_clean(tmp_path, f"az://{azure_container}/{secret}.zarr", env, opts) == OK
    # with only the environment, the account's own endpoint is where the store connects
    with ForwardProxy() as proxy:
        out = run_clean(tmp_path, f"az://{azure_container}/x.zarr", {**env, "HTTPS_PROXY": proxy.url}, {"attempts": 1})
    assert "refused to tunnel" in out
    assert f"CONNECT {ACCOUNT}.blob.core.windows.net:443 HTTP/1.1" in proxy.targets()


SETTINGS = """
import json, sys
from azarr.stores import AzureBlobStore
s = AzureBlobStore("c", **json.loads(sys.argv[2]))
print(s._settings.anonymous, s._settings.credential, s._endpoint is not None)
"""


@pytest.mark.parametrize("env, expected", [
    ({"AZURE_STORAGE_ACCOUNT_NAME": "acct"}, "True None True"),  # anonymous, lean
    ({"AZURE_STORAGE_ACCOUNT_NAME": "acct", "AZURE_STORAGE_ANON": "false"}, "False default False"),
    ({"AZURE_STORAGE_ACCOUNT_NAME": "acct", "AZURE_STORAGE_CLIENT_ID": "i", "AZURE_STORAGE_CLIENT_SECRET": "s",
      "AZURE_STORAGE_TENANT_ID": "t"}, "False service-principal False"),
], ids=["anonymous by default", "AZURE_STORAGE_ANON=false: DefaultAzureCredential", "service principal"])
def test_azure_credential_order(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    assert run_clean(tmp_path, "", env, script=SETTINGS) == expected


# --- one proxy rule for the three clouds ----------------------------------------------------------


@pytest.fixture
def cloud_urls(s3_endpoint: str, s3_bucket: str, gcs_endpoint: str, gcs_bucket: str,
               azurite_connection_string: str, azure_container: str) -> dict[str, tuple[str, dict[str, Any], str]]:
    """cloud -> (URL, storage options, the endpoint's host:port)."""
    azurite = dict(p.split("=", 1) for p in azurite_connection_string.split(";") if "=" in p)["BlobEndpoint"]
    return {
        "s3": (f"s3://{s3_bucket}/px.zarr", {"endpoint_url": s3_endpoint, **S3_CREDENTIALS},
               s3_endpoint.removeprefix("http://")),
        "gcs": (f"gs://{gcs_bucket}/px.zarr", {"endpoint_url": gcs_endpoint}, gcs_endpoint.removeprefix("http://")),
        "azure": (f"az://{azure_container}/px.zarr", {"connection_string": azurite_connection_string},
                  azurite.removeprefix("http://").split("/")[0]),
    }


@pytest.mark.parametrize("cloud", ["s3", "gcs", "azure"])
@pytest.mark.parametrize("fast_path", [True, False], ids=["lean", "sdk"])
def test_http_proxy_and_no_proxy_for_every_cloud(tmp_path: Path, cloud_urls: dict[str, Any], cloud: str,
                                                 fast_path: bool) -> None:
    url, opts, hostport = cloud_urls[cloud]
    opts = {**opts, "fast_path": fast_path}
    with ForwardProxy() as proxy:
        assert run_clean(tmp_path, url, {"HTTP_PROXY": proxy.url}, opts) == OK
        through = [t for t in proxy.targets() if f"http://{hostport}/" in t]
        assert len(through) >= 4, proxy.targets()  # metadata and chunk requests went through the proxy
        proxy.seen.clear()
        assert run_clean(tmp_path, url, {"HTTP_PROXY": proxy.url, "NO_PROXY": "127.0.0.1"}, opts) == OK
        assert proxy.targets() == []
