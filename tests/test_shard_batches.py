"""Inner chunks in batches: ``CodecPipeline.decode_batch`` / ``encode_batch`` agree with the
per-chunk calls for every kind of inner chain, and sharded arrays read and written whole
(shards decoded as one job, placed or taken as one tiled block) give exactly what the
per-inner-chunk path gives — fill chunks, NaN fills, offsets, edge shards, non-tiling
selections, corrupt inner chunks named."""

from __future__ import annotations

from typing import Any

import numcodecs.zstd
import numpy as np
import pytest

from azarr import aio
from azarr.codecs import ZstdCodec, compression
from azarr.codecs.abc import ChunkSpec
from azarr.codecs.bytes import BytesCodec
from azarr.codecs.checksum import Crc32cCodec
from azarr.codecs.compression import zstd_decode, zstd_encode
from azarr.codecs.pipeline import CodecPipeline
from azarr.codecs.transpose import TransposeCodec
from azarr.core.chunk_io import fill_mask, is_fill
from azarr.errors import CodecError
from azarr.stores import MemoryStore

CHAINS = {
    "bytes": lambda: [BytesCodec()],
    "bytes+zstd": lambda: [BytesCodec(), ZstdCodec(level=1)],
    "big-endian+zstd": lambda: [BytesCodec(endian="big"), ZstdCodec(level=3, checksum=True)],
    "transpose+bytes+crc": lambda: [TransposeCodec(order=(1, 0)), BytesCodec(), Crc32cCodec()],
    "zstd+crc": lambda: [BytesCodec(), ZstdCodec(), Crc32cCodec()],
}


def _stack(n: int, dtype: str = "f4") -> np.ndarray:
    rng = np.random.default_rng(n)
    return (rng.standard_normal((n, 8, 6)) * 100).astype(dtype)


@pytest.mark.parametrize("chain", sorted(CHAINS))
@pytest.mark.parametrize("dtype", ["f4", "<i2", "u8"])
def test_batches_agree_with_chunk_by_chunk(chain: str, dtype: str) -> None:
    pipeline = CodecPipeline(CHAINS[chain](), ChunkSpec((8, 6), np.dtype(dtype), 0, "C"))
    chunks = _stack(5, dtype)
    frames = pipeline.encode_batch(chunks)
    assert [bytes(memoryview(f).cast("B")) for f in frames] == [
        bytes(memoryview(pipeline.encode(c)).cast("B")) for c in chunks  # type: ignore[arg-type]
    ]
    out = np.empty_like(chunks)
    pipeline.decode_batch(frames, out)
    np.testing.assert_array_equal(out, chunks)
    assert pipeline.encode_batch(chunks[:0]) == []
    pipeline.decode_batch([], out[:0])  # nothing to do, and no error


def test_decode_batch_raises_on_a_corrupt_frame_and_on_a_wrong_size() -> None:
    pipeline = CodecPipeline(CHAINS["bytes+zstd"](), ChunkSpec((8, 6), np.dtype("f4"), 0, "C"))
    chunks = _stack(3)
    frames = [bytes(memoryview(f).cast("B")) for f in pipeline.encode_batch(chunks)]  # type: ignore[arg-type]
    with pytest.raises(CodecError):
        pipeline.decode_batch([frames[0], b"not zstd", frames[2]], np.empty_like(chunks))
    other = CodecPipeline(CHAINS["bytes+zstd"](), ChunkSpec((4, 6), np.dtype("f4"), 0, "C"))
    small = bytes(memoryview(other.encode(chunks[0, :4])).cast("B"))  # type: ignore[arg-type]
    with pytest.raises(CodecError):
        pipeline.decode_batch([small], np.empty_like(chunks[:1]))  # a frame of another size
    raw = CodecPipeline([BytesCodec()], ChunkSpec((8, 6), np.dtype("f4"), 0, "C"))
    with pytest.raises(CodecError):
        raw.decode_batch([b"\x00" * 7], np.empty_like(chunks[:1]))


@pytest.mark.parametrize("nbytes", [0, 1, 100, 4096, 65536, 128 << 10, (128 << 10) + 4, 1 << 20])
@pytest.mark.parametrize("level", [0, 1, 5, -1])
def test_zstd_frames_are_numcodecs_frames(nbytes: int, level: int) -> None:
    data = (np.sin(np.arange(nbytes // 4 + 1)) * 1000).astype("f4").tobytes()[:nbytes]
    for checksum in (False, True):
        mine = bytes(zstd_encode(data, level, checksum))
        if nbytes <= 128 << 10:  # the python-zstandard path: byte-identical
            assert mine == numcodecs.zstd.compress(data, level, checksum)
        assert bytes(zstd_decode(mine, None)) == data


def test_fill_mask_matches_is_fill() -> None:
    chunks = np.zeros((6, 3, 3), "f4")
    chunks[1, 2, 2] = 1
    chunks[2] = np.nan
    chunks[3, 0, 0] = np.nan
    chunks[4] = 7
    for fill in (0.0, np.float32("nan"), 7.0, None):
        assert fill_mask(chunks, fill).tolist() == [is_fill(c, fill) for c in chunks]
    times = np.array([[["NaT", "NaT"]], [["2020-01-01", "NaT"]]], dtype="M8[s]")
    nat = np.datetime64("NaT", "s")
    assert fill_mask(times, nat).tolist() == [True, False]


# --- sharded arrays: the batch paths against what the data must be ----------------------------------


SHAPE, INNER, SHARD = (96, 80), (8, 10), (32, 40)


def _data(fill: float = 0.0) -> np.ndarray:
    y, x = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]]
    data = (np.sin(x / 5.0) * 50 + y).astype("f4")
    data[0:8, 0:10] = fill  # one inner chunk of shard (0, 0) is all fill: never stored
    data[32:64, 40:80] = fill  # shard (1, 1) is all fill: no object at all
    return data


async def _array(store: Any, fill: float, **kw: Any) -> aio.AsyncArray:
    return await aio.open_array(store, "w", shape=SHAPE, chunks=INNER, shards=SHARD, dtype="f4",
                                fill_value=fill, compressors=[ZstdCodec(level=1)], **kw)


@pytest.mark.parametrize("fill", [0.0, float("nan")])
async def test_whole_shard_writes_and_reads_round_trip(fill: float) -> None:
    store = MemoryStore()
    a = await _array(store, fill)
    data = _data(fill)
    await a.setitem(..., data)
    assert await store.get("c/1/1") is None  # a shard of nothing but fill is not stored
    b = await aio.open_array(store, "r")
    np.testing.assert_array_equal(await b.getitem(...), data)
    # the empty inner chunk is absent from the shard's index
    table = b.chunk_io.shards.codec.index_of_shard(await store.get("c/0/0"))  # type: ignore[union-attr]
    assert int(table[0, 0]) == 2**64 - 1
    selections = [np.s_[32:96, 0:40], np.s_[0:32, 40:80], np.s_[5:90, 3:77], np.s_[::2, ::3], np.s_[64:96],
                  np.s_[:, 40:80], np.s_[33, :], (np.array([0, 40, 95]), np.array([1, 41, 79]))]
    for sel in selections:
        if isinstance(sel, tuple) and isinstance(sel[0], np.ndarray):
            got = await b.get_coordinate_selection(sel)
        else:
            got = await b.getitem(sel)
        np.testing.assert_array_equal(got, data[sel])


async def test_shard_blocks_at_an_offset_of_the_output() -> None:
    """A selection whose shards tile a block that does not start at the output's origin."""
    store = MemoryStore()
    a = await _array(store, 0.0)
    data = _data()
    await a.setitem(..., data)
    b = await aio.open_array(store, "r")
    # rows 0:64 x cols 40:80 -> shards (0, 1) and (1, 1) whole, at row offsets 0 and 32 of the output
    np.testing.assert_array_equal(await b.getitem(np.s_[0:64, 40:80]), data[0:64, 40:80])
    # written whole at an offset: values tile shard (2, 0) from row 0 of the values
    block = (np.arange(32 * 40, dtype="f4").reshape(32, 40) + 1000)
    await a.setitem(np.s_[64:96, 0:40], block)
    np.testing.assert_array_equal(await b.getitem(np.s_[64:96, 0:40]), block)
    np.testing.assert_array_equal(await b.getitem(np.s_[0:64, :]), data[0:64, :])


async def test_edge_shards_are_not_tiled_but_correct() -> None:
    store = MemoryStore()
    a = await aio.open_array(store, "w", shape=(70, 45), chunks=(8, 10), shards=(32, 40), dtype="i4",
                             compressors=[ZstdCodec(level=1)])
    data = np.arange(70 * 45, dtype="i4").reshape(70, 45)
    await a.setitem(..., data)
    b = await aio.open_array(store, "r")
    np.testing.assert_array_equal(await b.getitem(...), data)
    np.testing.assert_array_equal(await b.getitem(np.s_[60:70, 40:45]), data[60:70, 40:45])


async def test_a_corrupt_inner_chunk_in_a_whole_shard_read_names_the_shard_and_chunk() -> None:
    store = MemoryStore()
    a = await _array(store, 0.0)
    await a.setitem(..., _data())
    shard = bytearray(await store.get("c/0/1"))  # type: ignore[arg-type]
    table = a.chunk_io.shards.codec.index_of_shard(bytes(shard))  # type: ignore[union-attr]
    offset = int(table[5, 0])
    shard[offset : offset + 4] = b"\xff\xff\xff\xff"  # the frame's magic number
    await store.set("c/0/1", bytes(shard))
    b = await aio.open_array(store, "r")
    with pytest.raises(CodecError, match=r"c/0/1.*inner chunk \(1, 1\)"):
        await b.getitem(...)


@pytest.mark.parametrize("nbytes", [1, 100, 16384, 128 << 10])
@pytest.mark.parametrize("level", [0, 1, 7, -3])
@pytest.mark.parametrize("checksum", [False, True])
def test_zstd_batches_are_frame_by_frame(monkeypatch: pytest.MonkeyPatch, nbytes: int, level: int,
                                         checksum: bool) -> None:
    """Many small frames per library call: the same frames as one call each (and so as
    numcodecs'), decoded into the same rows, across several calls when the batch is big."""
    if not compression._zstd_batches():
        pytest.skip("python-zstandard's backend here has no batch functions")
    monkeypatch.setattr(compression, "_ZSTD_BATCH_BYTES", 3 * nbytes)  # 7 frames: three calls
    rng = np.random.default_rng(nbytes)
    rows = np.round(rng.standard_normal(7 * nbytes) * 3).astype("i1").view("u1").reshape(7, nbytes)
    frames = compression.zstd_encode_batch(rows, level, checksum)
    assert frames is not None
    single = [bytes(zstd_encode(row.tobytes(), level, checksum)) for row in rows]
    assert [bytes(f) for f in frames] == single
    assert single == [numcodecs.zstd.compress(row.tobytes(), level, checksum) for row in rows]
    out = np.zeros_like(rows)
    assert compression.zstd_decode_batch_into(frames, out)
    np.testing.assert_array_equal(out, rows)
    assert compression.zstd_decode_batch_into(single, out)  # bytes, too


def test_zstd_batches_refuse_what_they_cannot_do(monkeypatch: pytest.MonkeyPatch) -> None:
    if not compression._zstd_batches():
        pytest.skip("python-zstandard's backend here has no batch functions")
    big = np.zeros((2, (128 << 10) + 1), dtype="u1")  # beyond the sizes whose frames are numcodecs'
    assert compression.zstd_encode_batch(big, 1, False) is None
    assert not compression.zstd_decode_batch_into([b"", b""], big)
    assert compression.zstd_encode_batch(big[:1, :10], 1, False) is None  # one chunk: no batch
    rows = np.arange(40, dtype="u1").reshape(4, 10)
    frames = [bytes(f) for f in compression.zstd_encode_batch(rows, 1, False) or []]
    longer = bytes(zstd_encode(np.arange(11, dtype="u1").tobytes(), 1, False))
    shorter = bytes(zstd_encode(np.arange(9, dtype="u1").tobytes(), 1, False))
    for bad in (longer, shorter, b"not zstd", frames[0][:-2]):
        out = np.zeros_like(rows)
        with pytest.raises(CodecError, match="zstd"):
            compression.zstd_decode_batch_into([frames[0], bad, frames[2], frames[3]], out)


def test_pipeline_batches_use_one_call_per_batch_and_fall_back_without_them(monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = CodecPipeline(CHAINS["bytes+zstd"](), ChunkSpec((8, 6), np.dtype("f4"), 0, "C"))
    chunks = _stack(6)
    seen: list[str] = []
    real_decode, real_encode = compression.zstd_decode_batch_into, compression.zstd_encode_batch
    monkeypatch.setattr(compression, "zstd_decode_batch_into", lambda *a: seen.append("decode") or real_decode(*a))
    monkeypatch.setattr(compression, "zstd_encode_batch", lambda *a: seen.append("encode") or real_encode(*a))
    frames = pipeline.encode_batch(chunks)
    out = np.empty_like(chunks)
    pipeline.decode_batch(frames, out)
    np.testing.assert_array_equal(out, chunks)
    assert seen == ["encode", "decode"]
    compression._zstd_batches.cache_clear()
    monkeypatch.setattr("zstandard.backend_features", frozenset(), raising=False)  # e.g. the cffi backend
    try:
        again = pipeline.encode_batch(chunks)
        assert [bytes(memoryview(f).cast("B")) for f in again] == [bytes(memoryview(f).cast("B")) for f in frames]
        out[:] = 0
        pipeline.decode_batch(again, out)
        np.testing.assert_array_equal(out, chunks)
    finally:
        monkeypatch.undo()
        compression._zstd_batches.cache_clear()
