"""``azarr copy`` interrupted and resumed, and its progress display: the bar under a
pseudo-terminal (chunks, bytes, rate, ETA) and only a summary on pipes; Ctrl-C (SIGINT) stops
it with a message saying how to resume, and even SIGKILL leaves no half-written object or
array that looks complete; the rerun copies only what is missing. Redis -> S3 (moto), one
request in flight, so that the copy runs long enough to be stopped part-way."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest

import azarr
from azarr.stores import RedisStore, S3Store
from tests.cli_helpers import azarr as run
from tests.cli_helpers import azarr_on_terminal, cli_env
from tests.services.moto import S3_CREDENTIALS, boto3_client

N_CHUNKS = 800  # the first window is 64 of them, the next one the rest


def redis_source(redis_url: str, n_chunks: int) -> tuple[str, azarr.Array]:
    """A Redis array of ``n_chunks`` small chunks (and its URL)."""
    prefix = f"big-{uuid.uuid4().hex[:8]}"
    z = azarr.open_array(RedisStore(redis_url, prefix=prefix), mode="w", shape=(2 * n_chunks,), chunks=(2,),
                         dtype="i8", zarr_format=2, attributes={"kind": "big"})
    z[:] = np.arange(2 * n_chunks) + 1
    return f"{redis_url}?prefix={prefix}", z


@pytest.fixture
def big_source(redis_url: str) -> tuple[str, azarr.Array]:
    """A Redis array of :data:`N_CHUNKS` chunks (and its URL)."""
    return redis_source(redis_url, N_CHUNKS)


def stored_keys(endpoint: str, bucket: str, prefix: str) -> list[str]:
    client = boto3_client(endpoint)
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        keys += [o["Key"][len(prefix) + 1 :] for o in page.get("Contents", [])]
    return keys


def check_resumed(url: str, src: azarr.Array, endpoint: str, bucket: str, already: int) -> None:
    """Rerun with --if-exists skip: only the missing chunks are copied; then both sides agree."""
    resumed = run("copy", url, f"s3://{bucket}/big.zarr", "--if-exists", "skip", s3_endpoint=endpoint)
    assert resumed.returncode == 0, resumed.stderr
    summary = resumed.stdout.splitlines()[-1]
    assert re.match(rf"copied {N_CHUNKS - already:,} chunks \(", summary), summary
    assert f"; {already:,} chunks (" in summary and summary.endswith(" were already there"), summary
    dst = azarr.open_array(S3Store(bucket, "big.zarr", endpoint_url=endpoint, **S3_CREDENTIALS), mode="r")
    np.testing.assert_array_equal(dst[...], src[...])
    assert dst.attrs.asdict() == {"kind": "big"}


def test_progress_bar_on_a_terminal_and_summary_on_pipes(redis_url: str, s3_endpoint: str, s3_bucket: str) -> None:
    n = 200
    url, _ = redis_source(redis_url, n)
    term = azarr_on_terminal("copy", url, f"s3://{s3_bucket}/bar.zarr", s3_endpoint=s3_endpoint)
    assert term.finish(timeout=120) == 0, term.output
    frames = term.output.split("\r")
    bars = [f for f in frames if f.startswith("copy:")]
    assert bars, term.output
    # chunks done/total, bytes done/total and byte rate, elapsed<ETA, chunk rate
    bar = re.compile(r"copy: +\d+%\|.*\| (\d+)/(\d+) chunks, [\d.]+ \w+/[\d.]+ \w+ at [\d.]+ \w+/s "
                     r"\[\d\d:\d\d<\d\d:\d\d, +[\d.]+ chunks/s\]")
    last = [m for m in (bar.search(f) for f in bars) if m]
    assert last and last[-1].groups() == (str(n), str(n)), bars[-3:]
    assert re.search(rf"\ncopied {n:,} chunks \([\d.]+ KiB\) in [\d.]+ s", term.output.replace("\r\n", "\n"))
    # on pipes (not a terminal), and with --quiet on a terminal: the summary alone
    piped = run("copy", url, f"s3://{s3_bucket}/piped.zarr", s3_endpoint=s3_endpoint)
    assert piped.returncode == 0 and piped.stderr == "" and "%|" not in piped.stdout
    assert len(piped.stdout.splitlines()) == 2
    quiet = azarr_on_terminal("copy", url, f"s3://{s3_bucket}/quiet.zarr", "--quiet", s3_endpoint=s3_endpoint)
    assert quiet.finish(timeout=120) == 0
    assert "%|" not in quiet.output and f"copied {n:,} chunks" in quiet.output


def test_ctrl_c_stops_cleanly_and_a_rerun_copies_only_what_is_missing(
    big_source: tuple[str, azarr.Array], s3_endpoint: str, s3_bucket: str
) -> None:
    url, src = big_source
    term = azarr_on_terminal("copy", url, f"s3://{s3_bucket}/big.zarr", "--concurrency", "1", s3_endpoint=s3_endpoint)
    # the first window (64 chunks) is confirmed: the next one is being written, one PUT at a time
    assert term.read(lambda out: re.search(rf"\b(6[4-9]|[7-9]\d|\d{{3,}})/{N_CHUNKS} chunks", out) is not None, 60), term.output
    time.sleep(0.5)
    term.interrupt()
    status = term.finish(timeout=60)
    assert status == 130, term.output
    message = term.output.replace("\r\n", "\n").rstrip().splitlines()[-1]
    assert message.startswith("azarr: interrupted: copy stopped with ") and "confirmed written" in message
    resume = shlex.join(["azarr", "copy", url, f"s3://{s3_bucket}/big.zarr", "--concurrency", "1", "--if-exists", "skip"])
    assert message.endswith(f"To resume (copying only what is missing): {resume}"), message
    keys = stored_keys(s3_endpoint, s3_bucket, "big.zarr")
    chunks = [k for k in keys if not k.startswith(".")]
    assert ".zarray" not in keys  # the array does not look complete
    assert 64 <= len(chunks) < N_CHUNKS, len(chunks)
    check_resumed(url, src, s3_endpoint, s3_bucket, len(chunks))


def test_sigkill_mid_copy_then_resume(big_source: tuple[str, azarr.Array], s3_endpoint: str, s3_bucket: str) -> None:
    url, src = big_source
    proc = subprocess.Popen(
        [sys.executable, "-m", "azarr", "copy", url, f"s3://{s3_bucket}/big.zarr", "--concurrency", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=cli_env(s3_endpoint),
    )
    try:
        deadline = time.monotonic() + 60
        while len(stored_keys(s3_endpoint, s3_bucket, "big.zarr")) < 150 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    keys = stored_keys(s3_endpoint, s3_bucket, "big.zarr")
    assert ".zarray" not in keys and 150 <= len(keys) < N_CHUNKS
    check_resumed(url, src, s3_endpoint, s3_bucket, len(keys))
