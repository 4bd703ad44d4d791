"""The ``azarr`` command line end to end: every command in a subprocess against real stores
(local files, Redis, S3 on moto), its output checked, copies and conversions verified by
reading both sides, exit statuses and one-line errors, the console script and ``python -m``."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

import azarr
from azarr.stores import RedisStore, S3Store
from tests.cli_helpers import azarr as run
from tests.cli_helpers import cli_env
from tests.services.moto import S3_CREDENTIALS

pytestmark = pytest.mark.filterwarnings("ignore:Consolidated metadata is currently not part")


def build(store: Any, zarr_format: int = 2, consolidated: bool = True) -> azarr.Group:
    """A small hierarchy: root attributes, half-written float array, nested int array."""
    root = azarr.open_group(store, mode="w", zarr_format=zarr_format, attributes={"title": "demo"})
    t = root.create_array("temperature", shape=(40, 60), chunks=(10, 10), dtype="f4", fill_value=0,
                          attributes={"units": "K"})
    t[:20] = np.arange(1200, dtype="f4").reshape(20, 60) + 0.5
    counts = root.create_group("sub").create_array("counts", shape=(100,), chunks=(10,), dtype="i8")
    counts[:] = np.arange(100)
    if consolidated:
        azarr.consolidate_metadata(store)
    return root


def redis_url_for(redis_url: str) -> str:
    return f"{redis_url}?prefix=cli-{uuid.uuid4().hex[:8]}"


def same_hierarchy(a: Any, b: Any) -> None:
    """Read both sides: the same nodes, attributes, shapes, chunks and values."""
    left: list[str] = []
    right: list[str] = []
    a.visit(left.append)
    b.visit(right.append)
    assert left == right
    assert b.attrs.asdict() == a.attrs.asdict()
    for path in left:
        x, y = a[path], b[path]
        assert y.attrs.asdict() == x.attrs.asdict()
        if isinstance(x, azarr.Array):
            assert (y.shape, y.dtype) == (x.shape, x.dtype)
            np.testing.assert_array_equal(y[...], x[...])


def s3_store(bucket: str, endpoint: str, prefix: str = "") -> S3Store:
    return S3Store(bucket, prefix, endpoint_url=endpoint, **S3_CREDENTIALS)


# --- the entry points ------------------------------------------------------------------------------------


def test_console_script_and_python_m() -> None:
    exe = Path(sys.executable).with_name("azarr")
    shown = subprocess.run([str(exe), "--help"], capture_output=True, text=True, env=cli_env(), timeout=60, check=False)
    assert shown.returncode == 0
    for command in ("info", "tree", "ls", "consolidate", "check", "copy", "convert", "bench"):
        assert re.search(rf"^\s+{command}\s", shown.stdout, re.MULTILINE), command
    version = run("--version")
    assert version.returncode == 0 and re.fullmatch(r"azarr, version \S+\n", version.stdout)


# --- info, tree, ls -----------------------------------------------------------------------------------------


def test_info_of_an_array_and_a_group_local(tmp_path: Path) -> None:
    build(str(tmp_path / "d.zarr"))
    out = run("info", str(tmp_path / "d.zarr"), "--path", "temperature")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for line in ("type               array (Zarr v2)", "shape              (40, 60)", "dtype              float32",
                 "chunks             (10, 10)", "chunks stored      12 / 24 (50%)", 'attributes         {"units": "K"}',
                 "fill value         0.0"):
        assert line in text, (line, text)
    assert re.search(r"codecs\s+zstd\(", text)
    data = json.loads(run("info", str(tmp_path / "d.zarr" / "temperature"), "--json").stdout)
    files = {p.name: p.stat().st_size for p in (tmp_path / "d.zarr" / "temperature").iterdir()}
    chunks = {n: s for n, s in files.items() if not n.startswith(".")}
    assert (data["objects_stored"], data["objects_total"]) == (12, 24) and len(chunks) == 12
    assert data["bytes_stored"] == sum(chunks.values())
    assert data["metadata_bytes"] == sum(s for n, s in files.items() if n.startswith("."))
    assert data["compression_ratio"] == pytest.approx(12 * 400 / sum(chunks.values()), abs=1e-3)
    assert data["codecs"]["compressor"]["id"] == "zstd" and data["fill_value"] == 0.0 and data["shards"] is None
    group = run("info", str(tmp_path / "d.zarr"))
    assert group.returncode == 0
    assert "group (Zarr v2)" in group.stdout and "2 arrays, 1 group (at any depth)" in group.stdout
    assert "consolidated  yes" in group.stdout and '{"title": "demo"}' in group.stdout


def test_info_of_a_sharded_array_on_s3(s3_endpoint: str, s3_bucket: str) -> None:
    store = s3_store(s3_bucket, s3_endpoint, "sharded.zarr")
    z = azarr.open_array(store, mode="w", shape=(64, 64), chunks=(8, 8), shards=(32, 32), dtype="u2")
    z[:32, :] = 7
    data = json.loads(run("info", f"s3://{s3_bucket}/sharded.zarr", "--json", s3_endpoint=s3_endpoint).stdout)
    assert data["stored_objects"] == "shards" and (data["objects_stored"], data["objects_total"]) == (2, 4)
    assert data["shards"] == [32, 32] and data["chunks"] == [8, 8] and data["zarr_format"] == 3
    assert data["codecs"][0]["name"] == "sharding_indexed"
    sizes = {k: n for k, n in asyncio.run(_sizes(store)).items() if k.startswith("c/")}
    assert data["bytes_stored"] == sum(sizes.values())
    text = run("info", f"s3://{s3_bucket}/sharded.zarr", s3_endpoint=s3_endpoint).stdout
    assert "shards stored      2 / 4 (50%)" in text and "sharding_indexed(chunk_shape=(8, 8)" in text


async def _sizes(store: Any) -> dict[str, int]:
    return {k: n async for k, n in store.list_prefix_sizes("")}


def test_tree_uses_consolidated_metadata_when_present(tmp_path: Path) -> None:
    path = str(tmp_path / "t.zarr")
    build(path, zarr_format=3)
    out = run("tree", path)
    assert out.returncode == 0
    assert out.stdout == "/\n├── sub\n│   └── counts (100,) int64\n└── temperature (40, 60) float32\n"
    assert "read from consolidated metadata" in out.stderr
    # a node added without consolidating: not in the consolidated tree, seen when walking the documents
    azarr.open_group(path, mode="r+", use_consolidated=False).create_array("late", shape=(3,), dtype="i1")
    assert "late" not in run("tree", path).stdout
    walked = run("tree", path, "--no-consolidated")
    assert "├── late (3,) int8" in walked.stdout and walked.stderr == ""
    assert run("tree", path, "--level", "0", "--no-consolidated").stdout == (
        "/\n├── late\n├── sub\n└── temperature (40, 60) float32\n".replace("├── late\n", "├── late (3,) int8\n")
    )


def test_ls_members_and_keys_on_redis(redis_url: str) -> None:
    url = redis_url_for(redis_url)
    prefix = url.rpartition("prefix=")[2]
    build(RedisStore(redis_url, prefix=prefix))
    out = run("ls", url)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["name", "type", "shape", "dtype", "chunks", "stored"]
    assert lines[1].split()[:2] == ["sub", "group"]
    assert lines[2].split()[:6] == ["temperature", "array", "(40,", "60)", "float32", "(10,"]
    keys = run("ls", url, "--keys", "--path", "sub/counts")
    sizes = asyncio.run(_sizes(RedisStore(redis_url, prefix=prefix)))
    expected = {k[len("sub/counts/"):]: n for k, n in sizes.items() if k.startswith("sub/counts/")}
    listed = {line.split()[1]: int(line.split()[0].replace(",", "")) for line in keys.stdout.splitlines()[:-1]}
    assert listed == expected and len(listed) == 11  # .zarray and 10 chunks
    assert keys.stdout.splitlines()[-1] == f"11 keys, {sum(expected.values())} B"
    as_json = json.loads(run("ls", url, "--json").stdout)
    assert [m["name"] for m in as_json] == ["sub", "temperature"]
    assert as_json[1]["bytes_stored"] == sum(n for k, n in sizes.items() if k.startswith("temperature/"))


# --- consolidate and check ------------------------------------------------------------------------------------


def test_check_reports_stale_and_invalid_metadata_then_consolidate_fixes_it(redis_url: str) -> None:
    url = redis_url_for(redis_url)
    store = RedisStore(redis_url, prefix=url.rpartition("prefix=")[2])
    build(store, zarr_format=3)
    ok = run("check", url)
    assert ok.returncode == 0 and ok.stdout.splitlines()[-1].endswith("4 nodes checked: ok")
    g = azarr.open_group(store, mode="r+", use_consolidated=False)
    g.create_array("late", shape=(3,), dtype="i1")
    g["temperature"].attrs["units"] = "C"
    asyncio.run(store.delete("sub/counts/zarr.json"))
    stale = run("check", url)
    assert stale.returncode == 1
    assert "problem: stale consolidated metadata (zarr.json): late is stored but not recorded" in stale.stdout
    assert "problem: stale consolidated metadata (zarr.json): sub/counts is recorded but no longer stored" in stale.stdout
    assert "problem: stale consolidated metadata (zarr.json): temperature differs in zarr.json:attributes" in stale.stdout
    assert stale.stdout.splitlines()[-1].endswith("4 nodes checked: 3 problems")
    fixed = run("consolidate", url)
    assert fixed.returncode == 0 and fixed.stdout.startswith("consolidated 3 nodes into zarr.json (Zarr v3) at redis://")
    assert run("check", url).returncode == 0
    asyncio.run(store.set("broken/zarr.json", b'{"zarr_format": 3, "node_type": "array", "shape": "x"}'))
    broken = run("check", url)
    assert broken.returncode == 1
    assert re.search(r"^problem: invalid metadata at broken: broken/zarr.json: .+$", broken.stdout, re.MULTILINE)


# --- copy ---------------------------------------------------------------------------------------------------


def test_copy_hierarchy_redis_to_s3_raw_bytes_with_consolidated(redis_url: str, s3_endpoint: str, s3_bucket: str) -> None:
    url = redis_url_for(redis_url)
    src_store = RedisStore(redis_url, prefix=url.rpartition("prefix=")[2])
    src = build(src_store)
    out = run("copy", url, f"s3://{s3_bucket}/copied.zarr", "--dst-option", f"endpoint_url={s3_endpoint}",
              s3_endpoint=s3_endpoint)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"4 nodes copied from {url} to s3://{s3_bucket}/copied.zarr"
    assert re.fullmatch(r"copied 22 chunks \([\d.]+ KiB\) in [\d.]+ s: [\d,]+ chunks/s, [\d.]+ \w+/s", lines[1])
    dst_store = s3_store(s3_bucket, s3_endpoint, "copied.zarr")
    same_hierarchy(src, azarr.open_consolidated(dst_store))  # consolidated metadata came along
    assert run("check", f"s3://{s3_bucket}/copied.zarr", s3_endpoint=s3_endpoint).returncode == 0
    # the format stayed: every stored key is byte for byte the source's
    src_keys = asyncio.run(src_store.list())
    assert asyncio.run(dst_store.get_many(src_keys)) == asyncio.run(src_store.get_many(src_keys))


def test_copy_one_array_local_to_redis_and_if_exists(tmp_path: Path, redis_url: str) -> None:
    build(str(tmp_path / "d.zarr"))
    url = redis_url_for(redis_url)
    store = RedisStore(redis_url, prefix=url.rpartition("prefix=")[2])
    first = run("copy", str(tmp_path / "d.zarr"), url, "--src-path", "temperature", "--dst-path", "t")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("1 node copied") and "copied 12 chunks" in first.stdout
    np.testing.assert_array_equal(azarr.open_array(store, path="t", mode="r")[...],
                                  azarr.open_array(str(tmp_path / "d.zarr"), path="temperature", mode="r")[...])
    before = asyncio.run(store.get_many(asyncio.run(store.list())))
    again = run("copy", str(tmp_path / "d.zarr"), url, "--src-path", "temperature", "--dst-path", "t")
    assert again.returncode == 2 and again.stdout == ""
    assert re.fullmatch(r"azarr: error: redis://\S+ \(path 't'\): .*'t' already exists.*nothing was copied\n", again.stderr)
    assert asyncio.run(store.get_many(asyncio.run(store.list()))) == before  # nothing written
    skip = run("copy", str(tmp_path / "d.zarr"), url, "--src-path", "temperature", "--dst-path", "t",
               "--if-exists", "skip")
    assert skip.returncode == 0 and "copied 0 chunks" in skip.stdout and "12 chunks" in skip.stdout
    assert "were already there" in skip.stdout
    asyncio.run(store.set("t/9.9", b"stray"))  # replace removes what was there first
    replaced = run("copy", str(tmp_path / "d.zarr"), url, "--src-path", "temperature", "--dst-path", "t",
                   "--if-exists", "replace")
    assert replaced.returncode == 0 and "copied 12 chunks" in replaced.stdout
    assert asyncio.run(store.get("t/9.9")) is None
    dry = run("copy", str(tmp_path / "d.zarr"), url, "--dst-path", "whole", "--dry-run")
    assert dry.returncode == 0 and dry.stdout.splitlines()[-1] == "dry run: 4 copied, 0 skipped"
    assert asyncio.run(store.get("whole/.zgroup")) is None


# --- convert ------------------------------------------------------------------------------------------------


def test_convert_v2_to_sharded_v3_on_s3_read_by_zarr_python(tmp_path: Path, s3_endpoint: str, s3_bucket: str) -> None:
    src = build(str(tmp_path / "v2.zarr"))
    out = run("convert", str(tmp_path / "v2.zarr"), f"s3://{s3_bucket}/v3.zarr", "--zarr-format", "3",
              "--chunks", "5,10", "--shards", "20,20", "--compressor", "zstd:3", "--src-path", "temperature",
              s3_endpoint=s3_endpoint)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"1 node converted from {tmp_path / 'v2.zarr'} (path 'temperature') to s3://")
    dst = azarr.open_array(s3_store(s3_bucket, s3_endpoint, "v3.zarr"), mode="r")
    assert (dst.zarr_format, dst.chunks, dst.shards, dst.attrs.asdict()) == (3, (5, 10), (20, 20), {"units": "K"})
    np.testing.assert_array_equal(dst[...], src["temperature"][...])
    codecs = json.loads(run("info", f"s3://{s3_bucket}/v3.zarr", "--json", s3_endpoint=s3_endpoint).stdout)["codecs"]
    inner = codecs[0]["configuration"]["codecs"]
    assert [c["name"] for c in inner] == ["bytes", "zstd"] and inner[1]["configuration"]["level"] == 3
    # copied back to local files by the CLI, zarr-python 3 reads the converted array
    back = run("copy", f"s3://{s3_bucket}/v3.zarr", str(tmp_path / "back.zarr"), s3_endpoint=s3_endpoint)
    assert back.returncode == 0, back.stderr
    z = zarr.open_array(str(tmp_path / "back.zarr"), mode="r")
    assert z.shards == (20, 20) and z.chunks == (5, 10)
    np.testing.assert_array_equal(z[...], src["temperature"][...])


def test_convert_n5_and_v2_hierarchies_to_v3(tmp_path: Path, redis_url: str) -> None:
    n5 = azarr.open_group(str(tmp_path / "d.n5"), mode="w", zarr_format="n5", attributes={"x": 1})
    vol = n5.zeros("vol", shape=(30, 40), chunks=(8, 16), dtype="u2")
    vol[...] = np.arange(1200, dtype="u2").reshape(30, 40)
    url = redis_url_for(redis_url)
    out = run("convert", str(tmp_path / "d.n5"), url)
    assert out.returncode == 0, out.stderr
    store = RedisStore(redis_url, prefix=url.rpartition("prefix=")[2])
    back = azarr.open_group(store, mode="r")
    assert back.zarr_format == 3 and back.attrs.asdict() == {"x": 1}
    np.testing.assert_array_equal(back["vol"][...], vol[...])
    # a v2 hierarchy with consolidated metadata: v3 with consolidated metadata, rechunked
    src = build(str(tmp_path / "v2.zarr"))
    out = run("convert", str(tmp_path / "v2.zarr"), str(tmp_path / "v3.zarr"), "--compressor", "none")
    assert out.returncode == 0, out.stderr
    converted = zarr.open_consolidated(str(tmp_path / "v3.zarr"))
    assert converted.metadata.zarr_format == 3
    np.testing.assert_array_equal(converted["temperature"][...], src["temperature"][...])
    np.testing.assert_array_equal(converted["sub/counts"][...], src["sub/counts"][...])
    assert converted["temperature"].compressors == ()
    bad = run("convert", str(tmp_path / "v2.zarr"), str(tmp_path / "x.zarr"), "--compressor", "lz9")
    assert bad.returncode == 2
    assert bad.stderr == "azarr: error: --compressor: expected zstd[:LEVEL], gzip[:LEVEL], blosc[:CNAME[:CLEVEL]] or none, got 'lz9'\n"


# --- errors ------------------------------------------------------------------------------------------------------


def test_errors_are_one_line_naming_the_url(tmp_path: Path, redis_url: str) -> None:
    missing = run("info", str(tmp_path / "nothing.zarr"))
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr == f"azarr: error: {tmp_path / 'nothing.zarr'}: no array or group there in LocalStore('{tmp_path / 'nothing.zarr'}')\n"
    dead = run("tree", "redis://:sekret@127.0.0.1:1/0", "-o", "retry=null")
    assert dead.returncode == 2 and len(dead.stderr.splitlines()) == 1
    assert dead.stderr.startswith("azarr: error: redis://:***@127.0.0.1:1/0: ") and "sekret" not in dead.stderr
    assert "Connect" in dead.stderr or "connect" in dead.stderr
    bad_option = run("ls", str(tmp_path), "-o", "no-equals")
    assert bad_option.returncode == 2
    assert bad_option.stderr == "azarr: error: --storage-option: expected NAME=VALUE with NAME a Python identifier, got 'no-equals'\n"
    unknown = run("info", redis_url, "-o", "bogus=1")
    assert unknown.returncode == 2 and "unexpected keyword argument 'bogus'" in unknown.stderr
    usage = run("copy", str(tmp_path))
    assert usage.returncode == 2 and "Missing argument 'DST'" in usage.stderr
    traced = run("info", str(tmp_path / "nothing.zarr"), "--debug")
    assert traced.returncode == 2 and "Traceback (most recent call last)" in traced.stderr
    assert traced.stderr.splitlines()[-1].startswith("azarr: error: ")
    bad_url = run("info", "nosuch://x")
    assert bad_url.returncode == 2 and "unknown store URL scheme 'nosuch'" in bad_url.stderr


# --- bench -----------------------------------------------------------------------------------------------------


def test_bench_on_redis_and_s3_cleans_up(redis_url: str, s3_endpoint: str, s3_bucket: str) -> None:
    url = redis_url_for(redis_url)
    store = RedisStore(redis_url, prefix=url.rpartition("prefix=")[2])
    asyncio.run(store.set("keep/me", b"1"))
    out = run("bench", url, "--size", "4KiB", "--samples", "8", "--levels", "1,8")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert re.fullmatch(r"redis://\S+: objects of 4\.0 KiB; scratch prefix \.azarr-bench-[0-9a-f]+/ removed", lines[0])
    assert lines[2].split() == ["latency", "(ms),", "one", "at", "a", "time", "p50", "p90", "p99"]
    assert lines[3].split()[0] == "GET" and lines[4].split()[0] == "PUT"
    assert [line.split()[0] for line in lines[7:9]] == ["1", "8"]
    assert re.match(r"GET: throughput (levels off at 1|still grows at 8) in flight", lines[10])
    assert lines[-1] == "azarr's default for this store: 64 in flight (set it with -o concurrency=N)"
    assert "... removing the scratch prefix" in out.stderr
    assert asyncio.run(store.list()) == ["keep/me"]  # only what was there before
    data = json.loads(run("bench", f"s3://{s3_bucket}/b", "--size", "1000", "--samples", "4", "--levels", "2",
                          "--json", s3_endpoint=s3_endpoint).stdout)
    assert data["latency_ms"]["get"]["n"] == 4 and data["throughput"][0]["concurrency"] == 2
    assert data["default_concurrency"] == 256 and data["in_flight_needed"]["get"] > 0
    assert asyncio.run(s3_store(s3_bucket, s3_endpoint).list()) == []
    capped = json.loads(run("bench", url, "--size", "100", "--samples", "2", "--concurrency", "4", "--json").stdout)
    assert [lv["concurrency"] for lv in capped["throughput"]] == [1, 4]
    assert asyncio.run(store.list()) == ["keep/me"]


def test_file_url_and_no_consolidated_metadata(tmp_path: Path) -> None:
    build(str(tmp_path / "d.zarr"), consolidated=False)
    by_url = run("info", (tmp_path / "d.zarr").as_uri(), "--json")
    assert by_url.returncode == 0 and json.loads(by_url.stdout)["consolidated"] is None
