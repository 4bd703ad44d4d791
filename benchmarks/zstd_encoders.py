"""zstd encoding: numcodecs (azarr's ZstdCodec.encode, as zarr-python) vs a reused python-zstandard
compressor, per chunk size and level: CPU per chunk and whether the bytes are the same.

W1 and W5 chunks are (64, 64) float32 (16 KiB); the data is W1's field plus quantised noise.
Byte identity with zarr-python matters (tests/test_v3.py, tests/test_codecs_v3.py check it), so
this table is what a switch of encoder would have to pay for.

    .venv/bin/python benchmarks/zstd_encoders.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numcodecs.zstd
import numpy as np
import zstandard
from client_cost_worker import workload


def per_call(fn: object, data: np.ndarray, runs: int) -> float:
    """Median seconds per call (each run calls ``fn`` enough times for ~0.1 s)."""
    n = max(1, int(2e6 // data.nbytes))
    times = []
    for _ in range(runs):
        t0 = time.process_time()
        for _ in range(n):
            fn(data)  # type: ignore[operator]
        times.append((time.process_time() - t0) / n)
    return statistics.median(times)


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    field = workload()
    print(f"{'chunk':<13}{'KiB':>6}{'level':>6}{'numcodecs us':>14}{'zstandard us':>14}{'ratio':>7}  same bytes")
    for shape in [(64, 64), (256, 256), (512, 512), (1024, 1024)]:
        chunk = np.ascontiguousarray(field[: shape[0], : shape[1]])
        for level in (0, 1, 3):
            compressor = zstandard.ZstdCompressor(level=level or 3)  # zstd's level 0 means its default, 3
            a = per_call(lambda d, level=level: numcodecs.zstd.compress(d, level, False), chunk, args.runs)
            b = per_call(compressor.compress, chunk, args.runs)
            same = numcodecs.zstd.compress(chunk, level, False) == compressor.compress(chunk)
            print(f"{shape!s:<13}{chunk.nbytes >> 10:>6}{level:>6}{a * 1e6:>14.0f}{b * 1e6:>14.0f}{b / a:>7.2f}  {same}")


if __name__ == "__main__":
    main()
