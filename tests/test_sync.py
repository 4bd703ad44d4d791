"""The blocking shim: numpy-style access, Jupyter-like running loops, fork, and the deadlock guard."""

from __future__ import annotations

import asyncio
import multiprocessing
import os

import numpy as np
import pytest

import azarr
from azarr.errors import SyncShimError
from azarr.sync import get_loop, run


def test_numpy_style_access(tmp_path: object) -> None:
    z = azarr.open_array(str(tmp_path), mode="w", shape=(8, 6), chunks=(3, 4), dtype="f8")
    data = np.random.default_rng(0).standard_normal((8, 6))
    z[...] = data
    np.testing.assert_array_equal(z[2:7, 1], data[2:7, 1])
    np.testing.assert_array_equal(z.oindex[[0, 7], [1, 5]], data[np.ix_([0, 7], [1, 5])])
    np.testing.assert_array_equal(z.vindex[[0, 7], [1, 5]], data[[0, 7], [1, 5]])
    mask = data > 0
    np.testing.assert_array_equal(z.vindex[mask], data[mask])
    z.oindex[[1], :] = 0
    z.vindex[[2, 3], [0, 0]] = 5
    data[[1], :] = 0
    data[[2, 3], [0, 0]] = 5
    np.testing.assert_array_equal(np.asarray(z), data)
    z.attrs["units"] = "K"
    z.attrs.update({"a": 1})
    assert dict(z.attrs) == {"units": "K", "a": 1}
    del z.attrs["a"]
    assert azarr.open_array(str(tmp_path), mode="r").attrs.asdict() == {"units": "K"}
    assert "Chunk shape" in repr(z.info) and "(3, 4)" in repr(z.info)
    assert len(z) == 8


def test_inside_running_loop_like_jupyter() -> None:
    async def notebook_cell() -> float:
        z = azarr.create((4,), chunks=(2,), dtype="f4")
        z[...] = [1, 2, 3, 4]
        return float(z[...].sum())

    assert asyncio.run(notebook_cell()) == 10.0


def test_calling_from_azarr_loop_raises() -> None:
    async def bad() -> None:
        azarr.create((2,))

    with pytest.raises(SyncShimError):
        run(bad())


def _child(conn: object) -> None:
    z = azarr.create((3,), dtype="i4")
    z[...] = [4, 5, 6]
    conn.send(int(z[...].sum()))  # type: ignore[attr-defined]


def test_forked_child_gets_fresh_loop() -> None:
    z = azarr.create((2,), dtype="i4")
    z[...] = [1, 1]
    parent_loop = get_loop()
    ctx = multiprocessing.get_context("fork")
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(w,))
    p.start()
    assert r.poll(30), "forked child did not answer (deadlocked loop?)"
    assert r.recv() == 15
    p.join(10)
    assert p.exitcode == 0
    assert get_loop() is parent_loop and os.getpid()


def test_group_sync_api(tmp_path: object) -> None:
    g = azarr.open_group(str(tmp_path), mode="w")
    g.create_group("sub").create_array("a", shape=(2,), dtype="i1")
    g.create_array("b", shape=(1,), dtype="f4")
    assert list(g) == ["b", "sub"]
    assert "sub" in g and "nope" not in g
    assert isinstance(g["sub/a"], azarr.Array)
    with pytest.raises(KeyError):
        g["nope"]
    assert azarr.open(str(tmp_path), mode="r").tree().startswith("/")



def _exit_script(url: str, opts: dict[str, object]) -> str:
    return (
        "import azarr, numpy as np\n"
        f"opts = {opts!r}\n"
        f"z = azarr.open({url!r}, mode='w', shape=(100,), chunks=(10,), dtype='i4', storage_options=opts)\n"
        "z[:] = np.arange(100)\n"
        f"print(azarr.open({url!r}, storage_options=opts)[95:].tolist())\n"
    )


@pytest.mark.parametrize("backend", ["s3", "gcs", "azure"])
def test_exit_closes_cloud_sessions_quietly(backend: str, request: pytest.FixtureRequest) -> None:
    # A script using the blocking API on a cloud store exits without "Unclosed client
    # session" noise: the shim closes its loop's connections at interpreter exit.
    import subprocess
    import sys

    if backend == "s3":
        endpoint, bucket = request.getfixturevalue("s3_endpoint"), request.getfixturevalue("s3_bucket")
        from tests.services.moto import S3_CREDENTIALS

        url, opts = f"s3://{bucket}/exit", {"endpoint_url": endpoint, **S3_CREDENTIALS}
    elif backend == "gcs":
        endpoint, bucket = request.getfixturevalue("gcs_endpoint"), request.getfixturevalue("gcs_bucket")
        url, opts = f"gs://{bucket}/exit", {"endpoint_url": endpoint}
    else:
        conn, container = request.getfixturevalue("azurite_connection_string"), request.getfixturevalue("azure_container")
        url, opts = f"az://{container}/exit", {"connection_string": conn}
    done = subprocess.run([sys.executable, "-c", _exit_script(url, opts)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[95, 96, 97, 98, 99]"
    assert "Unclosed" not in done.stderr, done.stderr
