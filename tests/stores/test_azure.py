"""AzureBlobStore against Azurite: conformance, end to end through az:// URLs, secrets hidden."""

from __future__ import annotations

import numpy as np
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

import azarr
from azarr.errors import StoreError
from azarr.stores import AzureBlobStore, RetryPolicy, Store, from_url
from tests.services.azurite import KEY
from tests.services.common import free_port
from tests.stores.conformance import Factory, StoreTests


class TestAzureBlobStore(StoreTests):
    @pytest.fixture
    def store_factory(self, azurite_connection_string: str, azure_container: str) -> Factory:
        self.raw = BlobServiceClient.from_connection_string(azurite_connection_string).get_container_client(azure_container)
        return lambda **options: AzureBlobStore(azure_container, "pre/fix", connection_string=azurite_connection_string, **options)

    async def raw_set(self, store: Store, key: str, value: bytes) -> None:
        self.raw.upload_blob(f"pre/fix/{key}", value, overwrite=True)

    async def raw_get(self, store: Store, key: str) -> bytes | None:
        try:
            return self.raw.download_blob(f"pre/fix/{key}").readall()
        except ResourceNotFoundError:
            return None

    async def broken_store(self, factory: Factory) -> Store:
        conn = f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={KEY};BlobEndpoint=http://127.0.0.1:{free_port()}/devstoreaccount1;"
        return AzureBlobStore("c", connection_string=conn, retry=RetryPolicy(attempts=2, base_delay=0.01))


def test_end_to_end_az_url(azurite_connection_string: str, azure_container: str) -> None:
    opts = {"connection_string": azurite_connection_string}
    url = f"az://{azure_container}/data.zarr"
    z = azarr.open_array(url, mode="w", shape=(64, 50), chunks=(16, 16), dtype="f8", fill_value=np.nan, storage_options=opts)
    data = np.random.default_rng(2).standard_normal((64, 50))
    z[...] = data
    np.testing.assert_array_equal(azarr.open(f"abfs://{azure_container}/data.zarr", mode="r", storage_options=opts)[...], data)
    z.resize(10, 10)  # deletes chunks outside: exercises the batch-delete fallback on Azurite
    np.testing.assert_array_equal(azarr.open_array(url, mode="r", storage_options=opts)[...], data[:10, :10])


def test_secrets_hidden(azurite_connection_string: str) -> None:
    s = from_url("az://c/p", connection_string=azurite_connection_string)
    assert isinstance(s, AzureBlobStore) and KEY not in repr(s) and "AccountKey" not in repr(s)
    bad = AzureBlobStore("c", account_url=f"http://127.0.0.1:{free_port()}/devstoreaccount1", sas_token="sv=1&sig=TOPSECRETSIG",
                         retry=RetryPolicy(attempts=1))
    assert "TOPSECRETSIG" not in repr(bad)
    with pytest.raises(StoreError) as info:
        azarr.open_array(bad, mode="r")
    assert "TOPSECRETSIG" not in str(info.value)
