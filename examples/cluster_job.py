"""A small dask.distributed job: parallel write and read of a chunked array with azarr.

Starts a LocalCluster with 2 worker processes, writes a 1024-chunk array in parallel
(one task per chunk), reads it back in parallel, and checks the result against numpy.

    .venv/bin/python examples/cluster_job.py [DIR]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

import azarr
from azarr.dask import from_dask, to_dask


def main(root: Path) -> None:
    """Run the job and print what happened."""
    url = f"file://{root.resolve()}/cluster.zarr"
    data = np.random.default_rng(7).standard_normal((512, 512)).astype("f4")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster):
        t0 = time.perf_counter()
        z = from_dask(da.from_array(data, chunks=(16, 16)), url, chunks=(16, 16))
        print(f"wrote {z.shape} in {z.nchunks} chunks from 2 worker processes in {time.perf_counter() - t0:.2f} s")
        t0 = time.perf_counter()
        lazy = to_dask(url)
        total = float(lazy.sum().compute())
        print(f"read {lazy.numblocks[0] * lazy.numblocks[1]} chunk tasks in parallel in {time.perf_counter() - t0:.2f} s")
        assert np.isclose(total, float(data.sum()), rtol=1e-4), (total, data.sum())
        back = lazy.compute()
    assert np.array_equal(back, data)
    print(f"sum {total:.3f} matches numpy; read-back identical")
    print(azarr.open_array(url, mode="r").info)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("example-data"))
