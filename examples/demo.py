"""azarr demo: write and read a chunked, compressed array on the local store.

Run it with ``bash scripts/demo.sh`` (or ``.venv/bin/python examples/demo.py [DIR]``).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import numpy as np

import azarr


def main(root: Path) -> None:
    """Write a 2-D array with the blocking API, read it back, then read it again with async."""
    store_url = f"file://{root.resolve()}"
    print(f"store: {store_url}")
    group = azarr.open_group(store_url, mode="w")
    group.attrs["title"] = "azarr demo"
    temps = group.create_array(
        "temperature", shape=(2048, 2048), chunks=(256, 256), dtype="f4", fill_value=np.nan
    )
    temps.attrs["units"] = "K"
    rng = np.random.default_rng(42)
    data = (280 + 10 * rng.standard_normal((2048, 2048))).astype("f4")

    t0 = time.perf_counter()
    temps[...] = data
    t_write = time.perf_counter() - t0
    n_chunks = temps.nchunks_initialized
    print(f"wrote {temps.shape} {temps.dtype} as {n_chunks} chunks of {temps.chunks} in {t_write:.3f} s")

    t0 = time.perf_counter()
    back = azarr.open_array(store_url, mode="r", path="temperature")[...]
    t_read = time.perf_counter() - t0
    assert np.array_equal(back, data), "read-back mismatch"
    print(f"read it back in {t_read:.3f} s: identical ({back.nbytes / 2**20:.0f} MiB)")

    window = temps[100:110, 2000:2010]
    print(f"a 10x10 window spanning chunk edges: mean {window.mean():.2f} K (numpy: {data[100:110, 2000:2010].mean():.2f} K)")

    async def async_read() -> float:
        arr = await azarr.aio.open_array(store_url, mode="r", path="temperature")
        parts = await asyncio.gather(*(arr.getitem((slice(i, i + 256), slice(None))) for i in range(0, 2048, 256)))
        return float(np.concatenate(parts).mean())

    print(f"async: 8 concurrent row-band reads, mean {asyncio.run(async_read()):.3f} K")
    print()
    print(azarr.open_group(store_url, mode="r").tree())
    print()
    print(temps.info)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("example-data/demo.zarr"))
