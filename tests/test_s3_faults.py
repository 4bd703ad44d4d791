"""Fault injection: 503 SlowDown / 500 / connection resets in front of the S3 emulator.

Reads and writes of a 1024-chunk array must still produce exactly the right values, and a
permanently failing store must raise — never return fill values.
"""

from __future__ import annotations

import numpy as np
import pytest

import azarr
from azarr.errors import StoreError
from azarr.stores import RetryPolicy, S3Store
from tests.faultproxy import FaultProxy
from tests.services.moto import S3_CREDENTIALS

RETRY = RetryPolicy(attempts=10, base_delay=0.005, max_delay=0.1)


def test_faults_do_not_change_values(s3_endpoint: str, s3_bucket: str) -> None:
    data = np.random.default_rng(5).integers(0, 1000, (1024, 16)).astype("i4")
    with FaultProxy(s3_endpoint, fault_rate=0.15, seed=1) as proxy:
        store = S3Store(s3_bucket, "faulty", endpoint_url=proxy.url, **S3_CREDENTIALS, retry=RETRY, concurrency=32)
        z = azarr.open_array(store, mode="w", shape=data.shape, chunks=(1, 16), dtype="i4")
        z[...] = data
        back = azarr.open_array(store, mode="r")[...]
        counts = dict(proxy.counts)
    np.testing.assert_array_equal(back, data)
    assert counts["503"] > 10 and counts["500"] > 10 and counts["reset"] > 10, counts
    # and what landed in the bucket is right, read without faults
    clean = S3Store(s3_bucket, "faulty", endpoint_url=s3_endpoint, **S3_CREDENTIALS)
    np.testing.assert_array_equal(azarr.open_array(clean, mode="r")[...], data)


def test_permanent_failure_raises_not_fill(s3_endpoint: str, s3_bucket: str) -> None:
    store = S3Store(s3_bucket, "perm", endpoint_url=s3_endpoint, **S3_CREDENTIALS)
    z = azarr.open_array(store, mode="w", shape=(64,), chunks=(8,), dtype="f8", fill_value=-1)
    z[...] = np.arange(64.0)
    arr = azarr.open_array(store, mode="r")
    with FaultProxy(s3_endpoint, fault_rate=1.0, faults=("503",)) as proxy:
        broken = S3Store(s3_bucket, "perm", endpoint_url=proxy.url, **S3_CREDENTIALS,
                         retry=RetryPolicy(attempts=3, base_delay=0.001))
        # the same array, reading its chunks through the always-failing path
        arr._async.store = broken
        with pytest.raises(StoreError) as info:
            arr[...]
        assert "SlowDown" in str(info.value) and "/perm" in str(info.value) and "get" in str(info.value)
        with pytest.raises(StoreError):
            azarr.open_array(broken, mode="r")
        assert proxy.counts["503"] >= 3
    for fault in ("500", "reset"):
        with FaultProxy(s3_endpoint, fault_rate=1.0, faults=(fault,)) as proxy:
            broken = S3Store(s3_bucket, "perm", endpoint_url=proxy.url, **S3_CREDENTIALS,
                             retry=RetryPolicy(attempts=2, base_delay=0.001))
            arr._async.store = broken
            with pytest.raises(StoreError):
                arr[...]
