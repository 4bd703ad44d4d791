"""Azurite (Azure Blob emulator, from npm) on 127.0.0.1 for the session; a fresh container per test."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tests.services.common import ROOT, SERVICES_DIR, free_port, port_open, start, stop, wait_until

# Azurite's well-known development account (public, documented by Microsoft).
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _binary() -> str:
    exe = SERVICES_DIR / "azurite" / "node_modules" / ".bin" / "azurite-blob"
    if not exe.exists():
        subprocess.run(["bash", str(ROOT / "scripts" / "install-azurite.sh")], check=True)
    return str(exe)


@pytest.fixture(scope="session")
def azurite_connection_string() -> Iterator[str]:
    """Connection string of an Azurite blob service started for this session."""
    port = free_port()
    proc = start(
        [_binary(), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
         "--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry"],
        "azurite",
    )
    try:
        wait_until(lambda: port_open(port), 60, f"Azurite on port {port}", proc)
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
        )
    finally:
        stop(proc)


@pytest.fixture
def azure_container(azurite_connection_string: str) -> str:
    """A new, empty container for one test."""
    from azure.storage.blob import BlobServiceClient

    name = f"azarr-{uuid.uuid4().hex[:12]}"
    BlobServiceClient.from_connection_string(azurite_connection_string).create_container(name)
    return name
