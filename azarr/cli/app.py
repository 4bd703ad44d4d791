"""The ``azarr`` commands (click): options, output, exit statuses. The work is done in
:mod:`~azarr.cli.inspection`, :mod:`~azarr.cli.transfer` and :mod:`~azarr.cli.bench`."""

from __future__ import annotations

import json
import re
import shlex
import sys
import traceback
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

import click

from azarr.cli import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_PROBLEMS, inspection
from azarr.cli import bench as bench_mod
from azarr.cli.common import (
    CommandError,
    Interrupted,
    close_all,
    failing_at,
    human_bytes,
    open_location,
    parse_options,
    parse_shape,
    percent,
    plural,
    run_async,
)
from azarr.cli.progress import display
from azarr.cli.transfer import IF_EXISTS, ShapedKeywords, compressor_options, transfer
from azarr.stores._redact import redact
from azarr.stores.base import Store

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def common_options(f: F) -> F:
    """The options every command takes."""
    f = click.option("--debug", is_flag=True, help="On an error, show the traceback too.")(f)
    f = click.option("-q", "--quiet", is_flag=True, help="No progress bar (only the final summary).")(f)
    f = click.option(
        "--concurrency", type=click.IntRange(min=1), default=None, metavar="N",
        help="Requests in flight per store (default: the store's own, 256 for object stores, 64 for the others).",
    )(f)
    f = click.option(
        "-o", "--storage-option", "storage_options", multiple=True, metavar="KEY=VALUE",
        help="A store constructor keyword (repeatable), e.g. -o endpoint_url=http://127.0.0.1:9000 -o anon=true; "
        "values are JSON where they parse (numbers, true/false), else strings.",
    )(f)
    return f


def _execute(where: str, coro: Coroutine[Any, Any, T], stores: Sequence[Store], interrupted: str) -> T:
    """Run a command's coroutine; errors name ``where``; the stores are closed either way."""

    async def body() -> T:
        try:
            with failing_at(where):
                return await coro
        finally:
            await close_all(*stores)

    try:
        return run_async(body())
    except KeyboardInterrupt:
        raise Interrupted(interrupted) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="azarr", prog_name="azarr")
def cli() -> None:
    """Inspect, check, copy and convert Zarr (v2, v3) and N5 data in any store azarr opens.

    Every URL may be a path, file://, s3://, gs://, az://, redis://, mongodb://, sqlite:///,
    memory:// or http(s)://. Exit status: 0 success, 1 `check` found problems, 2 an error,
    130 interrupted.
    """


# --- info --------------------------------------------------------------------------------------------


@cli.command()
@click.argument("url")
@click.option("--path", default=None, help="The node inside the store (default: its root).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
@common_options
def info(url: str, path: str | None, as_json: bool, storage_options: Sequence[str], concurrency: int | None,
         quiet: bool, debug: bool) -> int:
    """What an array or group is and what it stores: format, shape, dtype, chunks and shards, codecs, fill
    value, chunks stored of the grid, bytes stored and compression ratio (from ONE listing), attributes."""
    loc = open_location(url, parse_options(storage_options), path=path, read_only=True, concurrency=concurrency)
    data = _execute(loc.shown, inspection.info(loc), [loc.store], "stopped; nothing was written")
    click.echo(inspection.render_json(data) if as_json else _render_info(data))
    return EXIT_OK


def _render_info(d: dict[str, Any]) -> str:
    where = redact(d["url"]) + (f" (path {d['path']!r})" if d["path"] else "")
    rows: list[tuple[str, str]] = [("type", f"{d['node_type']} (Zarr v{d['zarr_format']})" if d["zarr_format"] != "n5"
                                    else f"{d['node_type']} (N5)")]
    if d["node_type"] == "array":
        rows += [
            ("shape", str(tuple(d["shape"]))),
            ("dtype", d["dtype"]),
            ("chunks", str(tuple(d["chunks"]))),
            ("shards", str(tuple(d["shards"])) if d["shards"] else "-"),
            ("codecs", d["codecs_summary"]),
            ("fill value", json.dumps(d["fill_value"])),
            ("data size", human_bytes(d["nbytes"])),
        ]
        if "objects_stored" in d:
            what = d["stored_objects"]
            rows += [
                (f"{what} stored", (f"{d['objects_stored']:,} / {d['objects_total']:,} "
                                    f"({percent(d['objects_stored'], d['objects_total'])})")),
                ("bytes stored", f"{human_bytes(d['bytes_stored'])} (+ {human_bytes(d['metadata_bytes'])} of metadata)"),
                ("compression ratio", f"{d['compression_ratio']:.2f}x" if d["compression_ratio"] else "-"),
            ]
            if d["other_keys"]:
                rows.append(("other keys", f"{d['other_keys']:,} ({human_bytes(d['other_bytes'])}) outside the grid"))
    else:
        if "arrays" in d:
            rows += [
                ("members", f"{plural(d['arrays'], 'array')}, {plural(d['groups'], 'group')} (at any depth)"),
                ("stored", f"{plural(d['keys'], 'key')}, {human_bytes(d['bytes_stored'])}"),
                ("consolidated", d["consolidated"] or "no"),
            ]
            if d["invalid_metadata"]:
                rows.append(("invalid metadata", f"{plural(d['invalid_metadata'], 'node')} (run `azarr check`)"))
    rows.append(("attributes", json.dumps(d["attributes"]) if d["attributes"] else "-"))
    width = max(len(k) for k, _ in rows)
    return "\n".join([where, *(f"  {k.ljust(width)}  {v}" for k, v in rows)])


# --- tree --------------------------------------------------------------------------------------------


@cli.command()
@click.argument("url")
@click.option("--path", default=None, help="The node inside the store (default: its root).")
@click.option("--level", type=click.IntRange(min=0), default=None, help="Depth limit (0: the children only).")
@click.option("--no-consolidated", is_flag=True, help="Walk the stored documents even if consolidated metadata exists.")
@common_options
def tree(url: str, path: str | None, level: int | None, no_consolidated: bool, storage_options: Sequence[str],
         concurrency: int | None, quiet: bool, debug: bool) -> int:
    """The hierarchy with shapes and dtypes (from consolidated metadata, one request, when present)."""
    loc = open_location(url, parse_options(storage_options), path=path, read_only=True, concurrency=concurrency)
    text, consolidated = _execute(
        loc.shown, inspection.tree(loc, level, False if no_consolidated else None), [loc.store],
        "stopped; nothing was written",
    )
    click.echo(text, nl=False)
    if consolidated and not quiet:
        click.echo("(read from consolidated metadata; `azarr check` tells whether it is stale)", err=True)
    return EXIT_OK


# --- ls -----------------------------------------------------------------------------------------------


@cli.command()
@click.argument("url")
@click.option("--path", default=None, help="The node (or, with --keys, the prefix) inside the store.")
@click.option("--keys", "list_keys", is_flag=True, help="List every stored key below, with its size.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
@common_options
def ls(url: str, path: str | None, list_keys: bool, as_json: bool, storage_options: Sequence[str],
       concurrency: int | None, quiet: bool, debug: bool) -> int:
    """The members of a group with the bytes stored below each, or (--keys) the stored keys with sizes."""
    loc = open_location(url, parse_options(storage_options), path=path, read_only=True, concurrency=concurrency)
    if list_keys:
        items = _execute(loc.shown, inspection.keys(loc), [loc.store], "stopped; nothing was written")
        if as_json:
            click.echo(inspection.render_json([{"key": k, "size": n} for k, n in items]))
            return EXIT_OK
        width = max([len(f"{n:,}") for _, n in items] + [1])
        for key, size in items:
            click.echo(f"{size:>{width},}  {key}")
        click.echo(f"{plural(len(items), 'key')}, {human_bytes(sum(n for _, n in items))}")
        return EXIT_OK
    members = _execute(loc.shown, inspection.members(loc), [loc.store], "stopped; nothing was written")
    if as_json:
        click.echo(inspection.render_json([
            {"name": m.name, "node_type": m.kind, "shape": m.shape, "dtype": m.dtype, "chunks": m.chunks,
             "bytes_stored": m.bytes_stored} for m in members
        ]))
        return EXIT_OK
    rows = [("name", "type", "shape", "dtype", "chunks", "stored")] + [
        (m.name, m.kind, str(m.shape) if m.shape is not None else "", m.dtype or "",
         str(m.chunks) if m.chunks is not None else "", human_bytes(m.bytes_stored))
        for m in members
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1].rjust(widths[-1]))
    return EXIT_OK


# --- consolidate / check ----------------------------------------------------------------------------


@cli.command()
@click.argument("url")
@click.option("--path", default=None, help="The group inside the store (default: its root).")
@common_options
def consolidate(url: str, path: str | None, storage_options: Sequence[str], concurrency: int | None,
                quiet: bool, debug: bool) -> int:
    """Write the consolidated metadata of a group (v3: inline in its zarr.json; v2: .zmetadata)."""
    loc = open_location(url, parse_options(storage_options), path=path, read_only=False, concurrency=concurrency)
    n, key, fmt = _execute(loc.shown, inspection.consolidate_at(loc), [loc.store],
                           "stopped; the consolidated document is one write: it was either written whole or not at all")
    click.echo(f"consolidated {plural(n, 'node')} into {key} (Zarr v{fmt}) at {loc.shown}")
    return EXIT_OK


@cli.command()
@click.argument("url")
@click.option("--path", default=None, help="The node inside the store (default: its root).")
@common_options
def check(url: str, path: str | None, storage_options: Sequence[str], concurrency: int | None,
          quiet: bool, debug: bool) -> int:
    """Report invalid stored metadata and stale consolidated metadata; exit status 1 if there is any."""
    loc = open_location(url, parse_options(storage_options), path=path, read_only=True, concurrency=concurrency)
    report = _execute(loc.shown, inspection.check(loc), [loc.store], "stopped; nothing was written")
    for problem in report.problems:
        click.echo(f"problem: {problem}")
    for note in report.notes:
        click.echo(f"note: {note}")
    verdict = plural(len(report.problems), "problem") if report.problems else "ok"
    click.echo(f"{loc.shown}: {plural(report.nodes, 'node')} checked: {verdict}")
    return EXIT_PROBLEMS if report.problems else EXIT_OK


# --- copy / convert -----------------------------------------------------------------------------------


def _transfer_options(f: F) -> F:
    f = click.option("--dry-run", is_flag=True, help="Print what would be copied; write nothing.")(f)
    f = click.option("--dst-option", multiple=True, metavar="KEY=VALUE", help="A storage option for DST only.")(f)
    f = click.option("--src-option", multiple=True, metavar="KEY=VALUE", help="A storage option for SRC only.")(f)
    f = click.option(
        "--if-exists", type=click.Choice(list(IF_EXISTS)), default="fail", show_default=True,
        help="What to do with nodes already at DST: fail before writing anything; replace them; or skip what is "
        "already there (resumes an interrupted copy: only missing chunks are copied).",
    )(f)
    f = click.option("--dst-path", default=None, help="The node path inside DST's store.")(f)
    f = click.option("--src-path", default=None, help="The node path inside SRC's store.")(f)
    return f


def _argv() -> list[str]:
    """The command line being run (as :func:`run` was given it)."""
    obj = click.get_current_context().find_root().obj
    return list(obj["argv"]) if isinstance(obj, dict) else sys.argv[1:]


def _resume_hint(argv: Sequence[str]) -> str:
    """The same command line with ``--if-exists skip`` (secrets masked)."""
    args = list(argv)
    for i, arg in enumerate(args):
        if arg == "--if-exists" and i + 1 < len(args):
            args[i + 1] = "skip"
            break
        if arg.startswith("--if-exists="):
            args[i] = "--if-exists=skip"
            break
    else:
        args += ["--if-exists", "skip"]
    return redact(shlex.join(["azarr", *args]))


def _run_transfer(
    verb: str, src_url: str, dst_url: str, *, src_path: str | None, dst_path: str | None, if_exists: str,
    storage_options: Sequence[str], src_option: Sequence[str], dst_option: Sequence[str], concurrency: int | None,
    quiet: bool, dry_run: bool, zarr_format: Any = None, create_kws: ShapedKeywords | None = None,
) -> int:
    shared = parse_options(storage_options)
    src = open_location(src_url, {**shared, **parse_options(src_option, "--src-option")}, path=src_path,
                        read_only=True, concurrency=concurrency)
    dst = open_location(dst_url, {**shared, **parse_options(dst_option, "--dst-option")}, path=dst_path,
                        read_only=dry_run, concurrency=concurrency)
    shown = display(verb, quiet or dry_run)
    lines: list[str] = []

    async def work() -> tuple[int, int, int]:
        try:
            return await transfer(src, dst, if_exists=if_exists, progress=shown, zarr_format=zarr_format,
                                  create_kws=create_kws, dry_run=dry_run, log=lines.append if dry_run else None)
        except CommandError:
            raise
        except Exception as exc:
            side = getattr(exc, "store", None)
            raise CommandError(src.shown if side == src.store.name else dst.shown, exc) from exc

    try:
        n_nodes, n_skipped, _ = _execute(f"{src.shown} -> {dst.shown}", work(), [src.store, dst.store], "")
    except Interrupted:
        shown.close()
        raise Interrupted(
            f"{verb} stopped with {shown.done_chunks:,} of {shown.total_chunks - shown.skipped_chunks:,} chunks "
            f"({human_bytes(shown.done_bytes)}) confirmed written; every object written is complete, and arrays not "
            f"finished have no metadata at the destination yet. To resume (copying only what is missing): "
            f"{_resume_hint(_argv())}"
        ) from None
    finally:
        shown.close()
    if dry_run:
        for line in lines:
            click.echo(line)
        return EXIT_OK
    past = {"copy": "copied", "convert": "converted"}[verb]
    click.echo(f"{plural(n_nodes, 'node')} {past} from {src.shown} to {dst.shown}"
               + (f", {n_skipped:,} skipped" if n_skipped else ""))
    click.echo(shown.summary(past))
    if create_kws is not None and create_kws.left_out:
        names = ", ".join(sorted(create_kws.left_out))
        click.echo(f"note: --chunks/--shards have another number of dimensions than {names}: kept their chunks")
    return EXIT_OK


@cli.command()
@click.argument("src")
@click.argument("dst")
@_transfer_options
@common_options
def copy(src: str, dst: str, src_path: str | None, dst_path: str | None, if_exists: str, src_option: Sequence[str],
         dst_option: Sequence[str], dry_run: bool, storage_options: Sequence[str], concurrency: int | None,
         quiet: bool, debug: bool) -> int:
    """Copy a hierarchy or one array from SRC to DST, keeping its format, attributes and consolidated metadata.

    Chunks move as raw bytes in batched windows (bounded memory); each array's metadata is written after
    its data. Interrupted, it tells how to resume: rerun with --if-exists skip.
    """
    return _run_transfer("copy", src, dst, src_path=src_path, dst_path=dst_path, if_exists=if_exists,
                         storage_options=storage_options, src_option=src_option, dst_option=dst_option,
                         concurrency=concurrency, quiet=quiet, dry_run=dry_run)


@cli.command()
@click.argument("src")
@click.argument("dst")
@click.option("--zarr-format", type=click.Choice(["2", "3", "n5"]), default="3", show_default=True,
              help="The format to write.")
@click.option("--chunks", default=None, metavar="N,N,...",
              help="New chunk shape (the inner chunks when sharded), for every array with that many dimensions.")
@click.option("--shards", default=None, metavar="N,N,...",
              help="Shard shape (Zarr v3): many chunks per stored object, for every array with that many dimensions.")
@click.option("--compressor", default=None, metavar="SPEC",
              help="zstd[:LEVEL], gzip[:LEVEL], blosc[:CNAME[:CLEVEL]] or none (default: the format's default).")
@_transfer_options
@common_options
def convert(src: str, dst: str, zarr_format: str, chunks: str | None, shards: str | None, compressor: str | None,
            src_path: str | None, dst_path: str | None, if_exists: str, src_option: Sequence[str],
            dst_option: Sequence[str], dry_run: bool, storage_options: Sequence[str], concurrency: int | None,
            quiet: bool, debug: bool) -> int:
    """Rewrite SRC into DST in another format, chunking or codec (v2 -> v3, N5 -> v3, rechunk, shard).

    Streamed slab by slab, each slab whole shards (or chunks) of the target and at most 64 MiB decoded:
    memory stays bounded whatever the size of the data.
    """
    fmt: Any = zarr_format if zarr_format == "n5" else int(zarr_format)
    create_kws: dict[str, Any] = {}
    chunk_shape = parse_shape(chunks, "--chunks")
    shard_shape = parse_shape(shards, "--shards")
    if chunk_shape is not None:
        create_kws["chunks"] = chunk_shape
    if shard_shape is not None:
        if fmt != 3:
            raise CommandError("--shards", f"sharding needs Zarr v3 (--zarr-format 3), not {zarr_format}")
        create_kws["shards"] = shard_shape
    create_kws.update(compressor_options(compressor, fmt))
    return _run_transfer("convert", src, dst, src_path=src_path, dst_path=dst_path, if_exists=if_exists,
                         storage_options=storage_options, src_option=src_option, dst_option=dst_option,
                         concurrency=concurrency, quiet=quiet, dry_run=dry_run, zarr_format=fmt,
                         create_kws=ShapedKeywords(create_kws))


# --- bench -------------------------------------------------------------------------------------------------

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``64KiB``, ``1MB``, ``4096`` as bytes (binary and decimal prefixes)."""
    m = _SIZE.match(text)
    if m is None:
        raise CommandError("--size", f"expected a size like 4096, 64KiB or 1MB, got {text!r}")
    unit = (m.group(2) or "b").lower()
    scale = {"b": 1, "k": 1000, "m": 1000**2, "g": 1000**3}[unit[0]] if "i" not in unit else {"k": 1024, "m": 1024**2, "g": 1024**3}[unit[0]]
    return max(1, int(float(m.group(1)) * scale))


@cli.command()
@click.argument("url")
@click.option("--size", default="1MiB", show_default=True, help="Bytes per object written and read.")
@click.option("--samples", type=click.IntRange(min=2), default=32, show_default=True,
              help="Requests timed one at a time, per operation.")
@click.option("--levels", default="1,4,16,64,256", show_default=True, metavar="N,N,...",
              help="Concurrency levels to measure throughput at (at most --concurrency, if given).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
@common_options
def bench(url: str, size: str, samples: int, levels: str, as_json: bool, storage_options: Sequence[str],
          concurrency: int | None, quiet: bool, debug: bool) -> int:
    """Measure a store from here: GET/PUT latency percentiles, throughput at several concurrency levels, and
    the requests in flight that hide the latency. Writes below a scratch prefix, removed afterwards."""
    options = parse_options(storage_options)
    steps = parse_shape(levels, "--levels") or (1,)
    if concurrency is not None:
        steps = tuple(n for n in steps if n <= concurrency) or (concurrency,)
    nbytes = parse_size(size)

    def step(text: str) -> None:
        if not quiet and not as_json:
            click.echo(f"... {text}", err=True)

    result = _execute(
        redact(url), bench_mod.bench(url, options, size=nbytes, samples=samples, levels=steps, on_step=step), [],
        "stopped; the scratch prefix was removed",
    )
    click.echo(inspection.render_json(result.as_dict()) if as_json else _render_bench(result))
    return EXIT_OK


def _render_bench(r: bench_mod.BenchResult) -> str:
    lines = [f"{redact(r.url)}: objects of {human_bytes(r.size)}; scratch prefix {r.scratch}/ removed", ""]
    lines.append(f"{'latency (ms), one at a time':<30}{'p50':>9}{'p90':>9}{'p99':>9}")
    for op in ("get", "put"):
        lines.append(f"  {op.upper():<28}" + "".join(f"{r.percentile(op, q):>9.1f}" for q in (50, 90, 99)))
    lines += ["", f"{'in flight':>10}{'GET/s':>10}{'GET MiB/s':>11}{'PUT/s':>10}{'PUT MiB/s':>11}"]
    for lv in r.levels:
        lines.append(f"{lv.concurrency:>10}{lv.get_per_s:>10.1f}{lv.get_bytes_per_s / 2**20:>11.1f}"
                     f"{lv.put_per_s:>10.1f}{lv.put_bytes_per_s / 2**20:>11.1f}")
    lines.append("")
    for op in ("get", "put"):
        sat = r.saturation(op)
        best = max(lv.get_per_s if op == "get" else lv.put_per_s for lv in r.levels)
        top = r.levels[-1].concurrency
        where = (f"still grows at {top} in flight, the highest level measured (best {best:,.0f}/s)"
                 if sat == top and len(r.levels) > 1 else f"levels off at {sat} in flight (best {best:,.0f}/s)")
        lines.append(
            f"{op.upper()}: throughput {where}; "
            f"{best:,.0f}/s x {r.percentile(op, 50):.1f} ms = {r.needed(op):,.0f} requests in flight hide the latency"
        )
    lines.append(f"azarr's default for this store: {r.default_concurrency} in flight (set it with -o concurrency=N)")
    return "\n".join(lines)


# --- running ---------------------------------------------------------------------------------------------


def run(argv: list[str]) -> int:
    """Run the command line; errors become one line on stderr (``--debug``: and the traceback)."""
    debug = "--debug" in argv
    try:
        status = cli.main(args=argv, prog_name="azarr", standalone_mode=False, obj={"argv": list(argv)})
    except click.exceptions.Abort:
        click.echo("azarr: interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return EXIT_ERROR
    except Interrupted as exc:
        click.echo(f"azarr: interrupted: {exc}".rstrip(": "), err=True)
        return EXIT_INTERRUPTED
    except CommandError as exc:
        if debug:
            traceback.print_exception(exc.cause if isinstance(exc.cause, BaseException) else exc)
        click.echo(f"azarr: error: {exc.line()}", err=True)
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - a bug, most likely: still one line (the traceback with --debug)
        if debug:
            traceback.print_exception(exc)
        click.echo(f"azarr: error: {CommandError('azarr', exc).line()}", err=True)
        return EXIT_ERROR
    return status if isinstance(status, int) else EXIT_OK


__all__ = ["cli", "parse_size", "run"]
