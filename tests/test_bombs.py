"""Decompression bombs: a small chunk that would expand to 1 GiB raises CodecError naming the key,
quickly and without the allocation (peak memory measured in a fresh process)."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import numcodecs
import numpy as np
import pytest

import azarr

BOMB = 1 << 30  # what each bomb would decode to
PEAK_LIMIT = 400 << 20  # a fresh interpreter with numpy and azarr is ~100 MiB


def _zstd_bomb(sized: bool) -> bytes:
    import zstandard

    if sized:  # a frame that states its (huge) size
        out = zstandard.ZstdCompressor().stream_writer(writer := _Sink(), size=BOMB, closefd=False)
    else:  # a frame without a size: only an output bound stops it
        out = zstandard.ZstdCompressor(write_content_size=False).stream_writer(writer := _Sink(), closefd=False)
    block = bytes(1 << 20)
    for _ in range(BOMB >> 20):
        out.write(block)
    out.close()
    return writer.data()


class _Sink:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, b: bytes) -> int:
        self.parts.append(bytes(b))
        return len(b)

    def data(self) -> bytes:
        return b"".join(self.parts)


def _deflate_bomb(wbits: int) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = bytes(1 << 20)
    return b"".join([*(c.compress(block) for _ in range(BOMB >> 20)), c.flush()])


def _numcodecs_bomb(codec: numcodecs.abc.Codec) -> bytes:
    return bytes(codec.encode(np.zeros(BOMB, "u1")))


BOMBS: dict[str, tuple[dict, Callable[[], bytes]]] = {
    # v2 arrays: the compressor is a numcodecs codec
    "v2-zstd": ({"compressor": numcodecs.Zstd()}, lambda: _zstd_bomb(sized=True)),
    "v2-zstd-unsized": ({"compressor": numcodecs.Zstd()}, lambda: _zstd_bomb(sized=False)),
    "v2-zlib": ({"compressor": numcodecs.Zlib()}, lambda: _deflate_bomb(15)),
    "v2-gzip": ({"compressor": numcodecs.GZip()}, lambda: _deflate_bomb(31)),
    "v2-blosc": ({"compressor": numcodecs.Blosc(cname="lz4")}, lambda: _numcodecs_bomb(numcodecs.Blosc(cname="lz4"))),
    "v2-lz4": ({"compressor": numcodecs.LZ4()}, lambda: _numcodecs_bomb(numcodecs.LZ4())),
    # v3 arrays: azarr's own zstd / gzip / blosc codecs
    "v3-zstd": ({"compressors": [azarr.codecs.ZstdCodec()]}, lambda: _zstd_bomb(sized=True)),
    "v3-gzip": ({"compressors": [azarr.codecs.GzipCodec()]}, lambda: _deflate_bomb(31)),
    "v3-blosc": ({"compressors": [azarr.codecs.BloscCodec(cname="lz4")]},
                 lambda: _numcodecs_bomb(numcodecs.Blosc(cname="lz4"))),
}

# Peak memory is this process's own high-water mark (VmHWM): ru_maxrss would also count the
# pytest parent's pages that a fork copied before exec.
READER = """
import json, sys, time
import azarr
from azarr.errors import CodecError
t0 = time.perf_counter()
try:
    azarr.open_array(sys.argv[1], mode="r")[...]
    outcome = "read"
except CodecError as exc:
    outcome = str(exc)
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"outcome": outcome, "peak": hwm * 1024,
                  "seconds": time.perf_counter() - t0}))
"""


@pytest.mark.parametrize("name", list(BOMBS))
def test_bomb_is_refused_without_allocating(tmp_path: Path, name: str) -> None:
    kwargs, make = BOMBS[name]
    path = tmp_path / "a"
    z = azarr.open_array(str(path), mode="w", shape=(64, 64), chunks=(64, 64), dtype="f4", **kwargs)
    z[...] = 1.0
    key = z.async_array.chunk_key((0, 0))
    (path / key).write_bytes(make())
    assert (path / key).stat().st_size < 8 << 20  # a small chunk...
    proc = subprocess.run([sys.executable, "-c", READER, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["outcome"] != "read", "the bomb decoded"
    assert key in report["outcome"]  # ...refused, naming the chunk
    assert report["peak"] < PEAK_LIMIT, f"peak RSS {report['peak'] >> 20} MiB while refusing a 1 GiB bomb"
