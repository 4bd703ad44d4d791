"""W5 for zarr-python 3 (the newest, which needs Python 3.12): run by benchmarks/sharding.py
with ``.venv-peer312/bin/python`` (made by benchmarks/setup_peer312.sh), one process per
configuration. It writes its array, prints ``{"version", "concurrency"}``, then measures one
run of the case named by each JSON line on stdin (``{"case": "read"}``) and answers
``{"seconds", "requests", "round_trips"}`` (or ``{"error"}``), so the parent can interleave
the runs of every stack and a change in the machine's load hits them all alike.

    .venv-peer312/bin/python benchmarks/sharding_zarr_peer.py --url http://127.0.0.1:PORT --store obstore --concurrency 10
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import w5_common as w5


def open_store(url: str, kind: str, path: str) -> Any:
    """zarr-python's store over the endpoint: ObjectStore (obstore) or FsspecStore (s3fs)."""
    if kind == "obstore":
        from obstore.store import S3Store as ObS3
        from zarr.storage import ObjectStore

        obs = ObS3("bench", prefix=path, endpoint=url, access_key_id="bench", secret_access_key="bench",
                   region="us-east-1", virtual_hosted_style_request=False, client_options={"allow_http": True})
        return ObjectStore(obs)
    from zarr.storage import FsspecStore

    return FsspecStore.from_url(
        f"s3://bench/{path}", storage_options={"endpoint_url": url, "key": "bench", "secret": "bench", "asynchronous": True}
    )


def main() -> None:
    """Set up, then measure one case per request read from stdin (a JSON line ``{"case": ...}``),
    answering each with a JSON line; the parent interleaves runs of every stack this way."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--store", choices=["obstore", "s3fs"], default="obstore")
    parser.add_argument("--concurrency", type=int, default=None, help="async.concurrency (default: zarr's own)")
    args = parser.parse_args()

    import zarr
    from zarr.codecs import ZstdCodec

    if args.concurrency:
        zarr.config.set({"async.concurrency": args.concurrency})
    endpoint = w5.Endpoint(args.url)
    data = w5.workload()
    pts = w5.points()
    store = open_store(args.url, args.store, f"zarr-{args.store}-{args.concurrency}")
    z = zarr.create_array(store, shape=w5.SHAPE, chunks=w5.INNER, shards=w5.SHARDS, dtype="f4",
                          compressors=ZstdCodec(level=1), overwrite=True)

    def opened() -> Any:
        return zarr.open_array(store, mode="r")

    def warm(read: Any) -> Any:
        def prepare() -> Any:
            a = opened()
            read(a)
            return a

        return prepare

    cases: dict[str, tuple[Any, Any]] = {
        "write": (lambda _: z.__setitem__(Ellipsis, data), lambda: None),
        "read": (lambda a: a[...], opened),
        "region cold": (lambda a: a[w5.REGION], opened),
        "region warm": (lambda a: a[w5.REGION], warm(lambda a: a[w5.REGION])),
        "vindex cold": (lambda a: a.vindex[pts], opened),
        "vindex warm": (lambda a: a.vindex[pts], warm(lambda a: a.vindex[pts])),
    }
    print(json.dumps({"version": zarr.__version__, "concurrency": zarr.config.get("async.concurrency")}), flush=True)
    for line in sys.stdin:
        case = json.loads(line)["case"]
        run, prepare = cases[case]
        try:
            seconds, reqs, trips = w5.measure(endpoint, run, 1, prepare, w5.checker(case, data))
        except Exception as exc:  # noqa: BLE001 - reported in the table, not hidden
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
            continue
        print(json.dumps({"seconds": seconds, "requests": reqs, "round_trips": trips}), flush=True)


if __name__ == "__main__":
    main()
