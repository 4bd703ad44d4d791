"""Per-chunk CPU of Zarr v3 codec chains: azarr's v3 pipeline vs zarr-python 3's codecs, same process.

For each codec chain, one chunk (float32, smooth data; strings for vlen-utf8) of 1 MiB
and one of 4 KiB are encoded and decoded many times. zarr-python's side calls its codecs'
synchronous methods directly, chained as its pipeline chains them: the least CPU
zarr-python spends per chunk (its asyncio batching is left out). Prints medians per
chunk and the median per-run ratio azarr / zarr-python (below 1 = azarr faster).

    .venv/bin/python benchmarks/codecs_v3.py [--runs 7] [--reps 50]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

warnings.filterwarnings("ignore")

#: a 1 MiB chunk (codec work dominates) and a 4 KiB one (per-call overhead dominates)
SHAPES = {"1 MiB": (512, 512), "4 KiB": (32, 32)}


def paired(
    ours: Callable[[], object], theirs: Callable[[], object], runs: int, reps: int
) -> tuple[float, float, float]:
    """(median time of ours, of theirs, median of the per-run ratios), per call.

    Each run times ``reps`` calls of one, then of the other, so both see the same machine
    load; the ratio of each run is taken before the median (robust to a busy machine).
    """
    ours(), theirs()
    a, b, ratios = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(reps):
            ours()
        t1 = time.perf_counter()
        for _ in range(reps):
            theirs()
        t2 = time.perf_counter()
        a.append((t1 - t0) / reps)
        b.append((t2 - t1) / reps)
        ratios.append((t1 - t0) / (t2 - t1))
    return statistics.median(a), statistics.median(b), statistics.median(ratios)


def chains(shape: tuple[int, int]) -> dict[str, tuple[Any, list[Any], list[Any]]]:
    """name -> (data, azarr codecs, zarr-python codecs) for chunks of ``shape``."""
    import zarr.codecs as zc

    from azarr import codecs as ac

    x = np.linspace(0, 50, shape[0] * shape[1], dtype="f4").reshape(shape)
    data = np.sin(x) * 100 + x
    n = shape[0] * shape[1] // 4  # strings: about as many bytes as the float chunk
    strings = np.array([f"station-{i % 977}-{i}" for i in range(n)], dtype=object).reshape(shape[0] // 2, -1)
    return {
        "bytes": (data, [ac.BytesCodec()], [zc.BytesCodec()]),
        "bytes+zstd": (data, [ac.BytesCodec(), ac.ZstdCodec()], [zc.BytesCodec(), zc.ZstdCodec()]),
        "bytes+zstd+crc32c": (
            data,
            [ac.BytesCodec(), ac.ZstdCodec(), ac.Crc32cCodec()],
            [zc.BytesCodec(), zc.ZstdCodec(), zc.Crc32cCodec()],
        ),
        "bytes+blosc": (data, [ac.BytesCodec(), ac.BloscCodec()], [zc.BytesCodec(), zc.BloscCodec()]),
        "bytes+gzip": (data, [ac.BytesCodec(), ac.GzipCodec()], [zc.BytesCodec(), zc.GzipCodec()]),
        "big-endian+zstd": (
            data,
            [ac.BytesCodec(endian="big"), ac.ZstdCodec()],
            [zc.BytesCodec(endian="big"), zc.ZstdCodec()],
        ),
        "transpose+bytes+zstd": (
            data,
            [ac.TransposeCodec(order=[1, 0]), ac.BytesCodec(), ac.ZstdCodec()],
            [zc.TransposeCodec(order=[1, 0]), zc.BytesCodec(), zc.ZstdCodec()],
        ),
        "vlen-utf8+zstd": (strings, [ac.VLenUTF8Codec(), ac.ZstdCodec()], [zc.VLenUTF8Codec(), zc.ZstdCodec()]),
    }


class ZarrChain:
    """zarr-python 3's codecs chained through their synchronous methods."""

    def __init__(self, codecs: list[Any], data: np.ndarray) -> None:
        from zarr.abc.codec import ArrayArrayCodec, ArrayBytesCodec
        from zarr.core.array_spec import ArrayConfig, ArraySpec
        from zarr.core.buffer import default_buffer_prototype
        from zarr.core.dtype import parse_dtype

        dtype = parse_dtype(str if data.dtype == object else data.dtype, zarr_format=3)
        fill = dtype.default_scalar()
        spec = ArraySpec(data.shape, dtype, fill, ArrayConfig.from_dict({}), default_buffer_prototype())
        self.aa: list[tuple[Any, Any]] = []
        for c in codecs:
            c = c.evolve_from_array_spec(spec)
            if isinstance(c, ArrayArrayCodec):
                self.aa.append((c, spec))
                spec = c.resolve_metadata(spec)
            elif isinstance(c, ArrayBytesCodec):
                self.ab = (c, spec)
                self.bb: list[Any] = []
            else:
                self.bb.append(c)
        self.spec = spec
        self.prototype = default_buffer_prototype()

    def encode(self, data: np.ndarray) -> Any:
        nd = self.prototype.nd_buffer.from_numpy_array(data)
        for c, spec in self.aa:
            nd = c._encode_sync(nd, spec)
        buf = self.ab[0]._encode_sync(nd, self.ab[1])
        for c in self.bb:
            buf = c._encode_sync(buf, self.spec)
        return buf

    def decode(self, buf: Any) -> np.ndarray:
        for c in reversed(self.bb):
            buf = c._decode_sync(buf, self.spec)
        nd = self.ab[0]._decode_sync(buf, self.ab[1])
        for c, spec in reversed(self.aa):
            nd = c._decode_sync(nd, spec)
        return nd.as_numpy_array()


def measure(data: np.ndarray, ours: list[Any], theirs: list[Any], runs: int, reps: int) -> tuple[Any, Any]:
    """Paired (decode, encode) timings of one chain, after checking both sides agree."""
    from azarr.codecs import ChunkSpec, CodecPipeline

    pipe = CodecPipeline(ours, ChunkSpec(data.shape, data.dtype, "" if data.dtype == object else 0))
    zchain = ZarrChain(theirs, data)
    stored = pipe.encode(data)
    zstored = zchain.encode(data)
    assert np.array_equal(pipe.decode(stored), data) and np.array_equal(zchain.decode(zstored), data)
    assert np.array_equal(pipe.decode(zstored.to_bytes()), data)  # each reads the other's bytes
    decode = paired(lambda: pipe.decode(stored), lambda: zchain.decode(zstored), runs, reps)
    encode = paired(lambda: pipe.encode(data), lambda: zchain.encode(data), runs, reps)
    return decode, encode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--reps", type=int, default=20, help="calls per run for 1 MiB chunks (x100 for 4 KiB)")
    args = parser.parse_args()

    print(f"medians of {args.runs} paired runs (us per chunk); ratio = median per-run azarr / zarr-python")
    for label, shape in SHAPES.items():
        reps = args.reps if label == "1 MiB" else args.reps * 100
        print(f"\n{label} chunks {shape}, {reps} calls per run")
        print(f"{'chain':24s} {'decode azarr':>13s} {'zarr-python':>12s} {'ratio':>6s}   "
              f"{'encode azarr':>13s} {'zarr-python':>12s} {'ratio':>6s}")  # fmt: skip
        for name, (data, ours, theirs) in chains(shape).items():
            (dec_a, dec_z, dec_r), (enc_a, enc_z, enc_r) = measure(data, ours, theirs, args.runs, reps)
            print(
                f"{name:24s} {dec_a * 1e6:13.1f} {dec_z * 1e6:12.1f} {dec_r:6.2f}   "
                f"{enc_a * 1e6:13.1f} {enc_z * 1e6:12.1f} {enc_r:6.2f}"
            )


if __name__ == "__main__":
    main()
