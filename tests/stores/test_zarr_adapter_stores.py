"""zarr-python's own StoreTests, through azarr's adapter, on every backend against real servers.

Each class points the adapter at a fresh, empty location (a new bucket, container, key prefix,
collection, directory or database file per test) and checks it against the backend's own
client (the raw hooks), as zarr-python checks its stores. Stores are opened from URLs with
storage options, as users of ``as_zarr_store`` do (MemoryStore: a shared instance).
"""

from __future__ import annotations

import sqlite3
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from azarr.stores import MemoryStore
from tests.services.moto import S3_CREDENTIALS, boto3_client
from tests.stores.zarr_store_suite import AdapterStoreTests, ReadOnlyAdapterStoreTests


class TestMemory(AdapterStoreTests):
    backend = "MemoryStore"

    @pytest.fixture
    def store_kwargs(self) -> dict[str, Any]:
        self.data: dict[str, bytes] = {}
        return {"store": MemoryStore(self.data)}

    def raw_set(self, key: str, value: bytes) -> None:
        self.data[key] = value

    def raw_get(self, key: str) -> bytes | None:
        return self.data.get(key)


class TestLocal(AdapterStoreTests):
    backend = "LocalStore"

    @pytest.fixture
    def store_kwargs(self, tmp_path: Path) -> dict[str, Any]:
        self.root = tmp_path / "data.zarr"
        return {"store": f"file://{self.root}"}

    def raw_set(self, key: str, value: bytes) -> None:
        path = self.root.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(value)

    def raw_get(self, key: str) -> bytes | None:
        path = self.root.joinpath(*key.split("/"))
        return path.read_bytes() if path.is_file() else None


class TestSQLite(AdapterStoreTests):
    backend = "SQLiteStore"

    @pytest.fixture
    def store_kwargs(self, tmp_path: Path) -> dict[str, Any]:
        self.path = tmp_path / "data.db"
        return {"store": f"sqlite:///{self.path}"}

    def raw_set(self, key: str, value: bytes) -> None:
        with sqlite3.connect(self.path, timeout=60) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS zarr(k TEXT PRIMARY KEY, v BLOB)")
            conn.execute("REPLACE INTO zarr VALUES (?, ?)", (key, value))
        conn.close()

    def raw_get(self, key: str) -> bytes | None:
        conn = sqlite3.connect(self.path, timeout=60)
        try:
            row = conn.execute("SELECT v FROM zarr WHERE k = ?", (key,)).fetchone()
        except sqlite3.OperationalError:
            return None
        finally:
            conn.close()
        return None if row is None else bytes(row[0])


class TestRedis(AdapterStoreTests):
    backend = "RedisStore"

    @pytest.fixture
    def store_kwargs(self, redis_url: str) -> dict[str, Any]:
        import redis

        self.prefix = f"z{uuid.uuid4().hex[:10]}"
        self.raw = redis.Redis.from_url(redis_url)
        return {"store": f"{redis_url}?prefix={self.prefix}"}

    def raw_set(self, key: str, value: bytes) -> None:
        self.raw.set(f"{self.prefix}:{key}", value)

    def raw_get(self, key: str) -> bytes | None:
        return self.raw.get(f"{self.prefix}:{key}")  # type: ignore[return-value]


class TestMongoDB(AdapterStoreTests):
    backend = "MongoDBStore"

    @pytest.fixture
    def store_kwargs(self, mongodb_uri: str) -> dict[str, Any]:
        from pymongo import MongoClient

        collection = f"z{uuid.uuid4().hex[:10]}"
        self.raw = MongoClient(mongodb_uri)["azarr_test"][collection]
        return {"store": mongodb_uri, "database": "azarr_test", "collection": collection}

    def raw_set(self, key: str, value: bytes) -> None:
        self.raw.replace_one({"key": key}, {"key": key, "value": value}, upsert=True)

    def raw_get(self, key: str) -> bytes | None:
        doc = self.raw.find_one({"key": key})
        return None if doc is None else bytes(doc["value"])


class TestS3(AdapterStoreTests):
    backend = "S3Store"

    @pytest.fixture
    def store_kwargs(self, s3_endpoint: str, s3_bucket: str) -> dict[str, Any]:
        self.raw = boto3_client(s3_endpoint)
        self.bucket = s3_bucket
        return {"store": f"s3://{s3_bucket}/some/prefix", "endpoint_url": s3_endpoint, **S3_CREDENTIALS}

    def raw_set(self, key: str, value: bytes) -> None:
        self.raw.put_object(Bucket=self.bucket, Key=f"some/prefix/{key}", Body=value)

    def raw_get(self, key: str) -> bytes | None:
        try:
            return self.raw.get_object(Bucket=self.bucket, Key=f"some/prefix/{key}")["Body"].read()  # type: ignore[no-any-return]
        except self.raw.exceptions.NoSuchKey:
            return None


class TestGCS(AdapterStoreTests):
    backend = "GCSStore"

    @pytest.fixture
    def store_kwargs(self, gcs_endpoint: str, gcs_bucket: str) -> dict[str, Any]:
        self.endpoint, self.bucket = gcs_endpoint, gcs_bucket
        return {"store": f"gs://{gcs_bucket}/pre/fix", "endpoint_url": gcs_endpoint}

    def _name(self, key: str) -> str:
        return urllib.parse.quote(f"pre/fix/{key}", safe="")

    def raw_set(self, key: str, value: bytes) -> None:
        req = urllib.request.Request(
            f"{self.endpoint}/upload/storage/v1/b/{self.bucket}/o?uploadType=media&name={self._name(key)}",
            data=value, headers={"Content-Type": "application/octet-stream"}, method="POST",
        )
        urllib.request.urlopen(req, timeout=30).read()

    def raw_get(self, key: str) -> bytes | None:
        url = f"{self.endpoint}/storage/v1/b/{self.bucket}/o/{self._name(key)}?alt=media"
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                return resp.read()  # type: ignore[no-any-return]
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise


class TestAzure(AdapterStoreTests):
    backend = "AzureBlobStore"

    @pytest.fixture
    def store_kwargs(self, azurite_connection_string: str, azure_container: str) -> dict[str, Any]:
        from azure.storage.blob import BlobServiceClient

        self.raw = BlobServiceClient.from_connection_string(azurite_connection_string).get_container_client(azure_container)
        return {"store": f"az://{azure_container}/pre/fix", "connection_string": azurite_connection_string}

    def raw_set(self, key: str, value: bytes) -> None:
        self.raw.upload_blob(f"pre/fix/{key}", value, overwrite=True)

    def raw_get(self, key: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.raw.download_blob(f"pre/fix/{key}").readall()  # type: ignore[no-any-return]
        except ResourceNotFoundError:
            return None


class TestHTTP(ReadOnlyAdapterStoreTests):
    backend = "HTTPStore"

    @pytest.fixture
    def store_kwargs(self, http_server: tuple[str, Path]) -> dict[str, Any]:
        url, root = http_server
        name = f"z{uuid.uuid4().hex[:8]}"
        self.dir = root / name
        self.dir.mkdir()
        return {"store": f"{url}/{name}"}

    def raw_set(self, key: str, value: bytes) -> None:
        path = self.dir.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(value)

    def raw_get(self, key: str) -> bytes | None:
        path = self.dir.joinpath(*key.split("/"))
        return path.read_bytes() if path.is_file() else None
