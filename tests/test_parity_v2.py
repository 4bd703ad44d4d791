"""Parity with zarr-python 2.18 on Zarr v2 data: each snippet is notebook code run once with
``zarr`` = zarr-python 2.18 (all snippets in one ``.venv-zarr2`` subprocess) and once with
``zarr`` = azarr; values, errors and stored bytes must agree (:mod:`tests.parity`).

Snippets pass ``dimension_separator="."`` where documents are compared byte for byte
(azarr always writes it, as zarr-python 3 does; zarr-python 2 only when given) and
``compressor=`` explicitly where chunks are (zarr-python 2's default is Blosc, azarr's
zarr-python 3's Zstd). Known differences by design are named where a snippet skips them.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

import azarr
from tests.parity import assert_same, run_in_process, run_zarr2_snippets

SNIPPETS: dict[str, str] = {}
#: per snippet: assert_same keywords
OPTIONS: dict[str, dict[str, Any]] = {}


def snippet(name: str, setup: str = "", **options: Any) -> Any:
    """Register a snippet (the function's docstring), after ``setup`` code if given."""

    def register(fn: Any) -> Any:
        SNIPPETS[name] = textwrap.dedent(setup) + textwrap.dedent(fn.__doc__)
        OPTIONS[name] = options
        return fn

    return register


@snippet("constructors")
def _constructors() -> None:
    """
    kw = dict(chunks=(3, 2), compressor=None, dimension_separator=".")
    z = zarr.zeros((7, 5), dtype="i2", store=R + "/zeros", **kw)
    rec("zeros", z[...])
    rec("zeros_fill", z.fill_value)
    z[1:4, 1:3] = 7
    rec("zeros_after", z[...])
    o = zarr.ones((7, 5), dtype="f4", store=R + "/ones", **kw)
    rec("ones", o[...])
    f = zarr.full((7, 5), fill_value=-3, dtype="i8", store=R + "/full", **kw)
    rec("full", f[2:4])
    f[0, 0] = 1
    a = zarr.array(np.arange(35, dtype="u2").reshape(7, 5), store=R + "/array", **kw)
    rec("array", a[...])
    rec("array_meta", [a.shape, a.chunks, str(a.dtype), a.fill_value, a.order])
    c = zarr.create((4, 4), chunks=2, dtype="f8", fill_value=1.5, store=R + "/create", zarr_version=2,
                    compressor=None, dimension_separator=".")
    c[1] = 2.5
    rec("create", c[...])
    err("zeros_with_fill", lambda: zarr.zeros((3,), fill_value=2, store=R + "/bad", compressor=None))
    err("full_without_fill", lambda: zarr.full((3,), store=R + "/bad2", compressor=None))
    """


@snippet("empty", data_only=("e/", "el/"))
def _empty() -> None:
    """
    # zarr-python 2's empty() has no fill value; azarr's (zarr-python 3's) has the dtype's zero:
    # only the shape of what is stored is compared
    e = zarr.empty((6,), chunks=(4,), dtype="i4", store=R + "/e", compressor=None)
    rec("empty", [e.shape, e.chunks, str(e.dtype), e.nchunks_initialized])
    el = zarr.empty_like(e, store=R + "/el")
    rec("empty_like", [el.shape, el.chunks, str(el.dtype)])
    """


@snippet("like", bytes_exact=False)
def _like() -> None:
    """
    kw = dict(chunks=(2, 3), compressor=numcodecs.Zlib(level=1), dimension_separator=".")
    base = zarr.array(np.arange(20, dtype="i4").reshape(4, 5), store=R + "/base", fill_value=9, **kw)
    zl = zarr.zeros_like(base, store=R + "/zl")
    ol = zarr.ones_like(base, store=R + "/ol")
    fl = zarr.full_like(base, store=R + "/fl")
    fl2 = zarr.full_like(base, fill_value=4, store=R + "/fl2")
    for n, x in [("zl", zl), ("ol", ol), ("fl", fl), ("fl2", fl2)]:
        rec(n, x[...])
        rec(n + "_meta", [x.chunks, str(x.dtype), x.fill_value, x.compressor, x.order])
    opened = zarr.open_like(base, R + "/ol2", mode="w")
    opened[0] = 1
    rec("open_like", opened[...])
    rec("open_like_meta", [opened.chunks, opened.fill_value, opened.compressor])
    """


@snippet("save_load", data_only=("single/", "many/", "grp/"))
def _save_load() -> None:
    """
    # save/save_group take no compressor: their chunks use each library's default (compared by key)
    data = np.arange(12, dtype="f8").reshape(3, 4)
    zarr.save_array(R + "/one", data, compressor=None, chunks=(2, 2), dimension_separator=".", zarr_version=2)
    rec("load_one", zarr.load(R + "/one"))
    zarr.save(R + "/single", np.arange(5, dtype="i2"), zarr_version=2)
    rec("load_single", zarr.load(R + "/single"))
    zarr.save(R + "/many", np.arange(3), np.ones(2), named=np.full((2, 2), 3, dtype="u1"), zarr_version=2)
    loaded = zarr.load(R + "/many")
    rec("load_many_keys", sorted(loaded))
    rec("load_many", {k: loaded[k] for k in sorted(loaded)})
    zarr.save_group(R + "/grp", a=np.arange(4, dtype="i4"), b=np.array([1.5]), zarr_version=2)
    rec("load_grp", {k: v for k, v in sorted(zarr.load(R + "/grp").items())})
    err("save_nothing", lambda: zarr.save(R + "/none", zarr_version=2))
    err("save_group_nothing", lambda: zarr.save_group(R + "/none2", zarr_version=2))
    """


@snippet("group_create", bytes_exact=False)
def _group_create() -> None:
    """
    g = zarr.open_group(R + "/g", mode="w", zarr_version=2)
    kw = dict(compressor=None, dimension_separator=".")
    a = g.create("a", shape=(5, 4), chunks=(2, 2), dtype="i4", **kw)
    a[...] = np.arange(20).reshape(5, 4)
    rec("create", a[...])
    rec("zeros", g.zeros("z", shape=(3,), chunks=(2,), dtype="u1", **kw)[...])
    rec("ones", g.ones("o", shape=(3,), chunks=(2,), dtype="f4", **kw)[...])
    rec("full", g.full("f", 6, shape=(3,), chunks=(2,), dtype="i8", **kw)[...])
    rec("array", g.array("arr", np.arange(6, dtype="i2").reshape(2, 3), chunks=(1, 3), **kw)[...])
    rec("zeros_like", g.zeros_like("zl", a)[...])
    rec("ones_like", g.ones_like("ol", a)[...])
    rec("full_like", g.full_like("fl", a, fill_value=3)[...])
    rec("keys", sorted(g.keys()))
    err("create_exists", lambda: g.create("a", shape=(1,), **kw))
    err("create_over_group", lambda: (g.create_group("sub"), g.zeros("sub", shape=(1,), **kw)))
    """


@snippet("group_mapping", data_only=("g/s/",))
def _group_mapping() -> None:
    """
    g = zarr.open_group(R + "/g", mode="w", zarr_version=2)
    g["s"] = np.arange(5, dtype="i4")
    rec("setitem", g["s"][...])
    g["s"] = np.arange(3, dtype="f8")
    rec("setitem_again", [g["s"][...], str(g["s"].dtype)])
    g.create_groups("x", "y")
    x, w = g.require_groups("x", "w")
    rec("require_groups", [x.name, w.name])
    err("create_groups_exist", lambda: g.create_groups("x"))
    rec("get", [g.get("s").name, g.get("x").name, g.get("missing"), g.get("missing", "dflt")])
    rec("values", sorted(v.name for v in g.values()))
    rec("contains", ["s" in g, "x" in g, "nope" in g])
    rec("len", len(g))
    err("getitem_missing", lambda: g["nope"])
    """


@snippet("visit_move")
def _visit_move() -> None:
    """
    g = zarr.open_group(R + "/g", mode="w", zarr_version=2)
    kw = dict(compressor=None, dimension_separator=".")
    g.create_group("b").zeros("x", shape=(2,), **kw)
    g.create_group("a").create_group("deep").ones("y", shape=(3,), chunks=(2,), **kw)[...] = 5
    g.zeros("c", shape=(1,), **kw)
    seen = []
    g.visit(seen.append)
    rec("visit", seen)
    keys = []
    g.visitkeys(keys.append)
    rec("visitkeys", keys)
    vals = []
    g.visitvalues(lambda o: vals.append(o.name))
    rec("visitvalues", vals)
    items = []
    g.visititems(lambda p, o: items.append([p, type(o).__name__, getattr(o, "shape", None)]))
    rec("visititems", items)
    rec("visit_stops", g.visit(lambda p: p if p.endswith("deep") else None))
    rec("visititems_stops", g.visititems(lambda p, o: p if hasattr(o, "shape") else None))
    rec("sub_visit", (lambda out: (g["a"].visit(out.append), out)[1])([]))
    g.move("a/deep", "moved/here")
    g.move("c", "c2")
    rec("after_move", sorted(g.keys()))
    rec("moved_data", g["moved/here/y"][...])
    err("move_missing", lambda: g.move("nope", "x"))
    err("move_onto_existing", lambda: g.move("b", "c2"))
    tree = str(g.tree())
    rec("tree_nodes", sorted(line.strip(" ├└│─") for line in tree.splitlines()[1:]))
    rec("tree_fn_nodes", sorted(line.strip(" ├└│─") for line in str(zarr.tree(g)).splitlines()[1:]))
    """


@snippet("array_methods")
def _array_methods() -> None:
    """
    z = zarr.open_array(R + "/z", mode="w", shape=(10, 7), chunks=(4, 3), dtype="i4", compressor=None,
                        dimension_separator=".", fill_value=0, write_empty_chunks=False)
    z[...] = np.arange(70).reshape(10, 7)
    rec("blocks_1", z.blocks[1])
    rec("blocks_neg", z.blocks[-1, -1])
    rec("blocks_slice", z.blocks[1:, :2])
    rec("blocks_ellipsis", z.blocks[..., 0])
    rec("get_block_selection", z.get_block_selection((0, slice(1, 3))))
    z.blocks[0, 0] = -1
    z.set_block_selection((2, 2), np.full((2, 1), 99))
    rec("after_block_writes", z[...])
    err("blocks_out_of_bounds", lambda: z.blocks[3])
    err("blocks_step", lambda: z.blocks[::2])
    rec("itemsize", z.itemsize)
    rec("initialized", [z.nchunks_initialized, z.initialized, z.nchunks])
    rec("nbytes", [z.nbytes, z.nbytes_stored])
    rec("islice", list(z.islice(2, 6)))
    rec("islice_all", [row.tolist() for row in z.islice()])
    rec("iter", [row[0] for row in z])
    rec("len", len(z))
    err("islice_bad", lambda: list(z.islice(-1)))
    rec("digest", z.digest())
    rec("hexdigest", [z.hexdigest(), z.hexdigest("md5")])
    z.attrs["unit"] = "m"
    rec("hexdigest_attrs", z.hexdigest())
    items = dict(z.info_items())
    rec("info_items", [items[k] for k in ("Data type", "Shape", "Chunk shape", "Order", "Read-only",
                                           "No. bytes", "No. bytes stored", "Storage ratio")])
    e = zarr.zeros((5,), chunks=(2,), store=R + "/e", compressor=None, dimension_separator=".")
    rec("empty_array", [e.nchunks_initialized, e.nbytes_stored, e.hexdigest()])
    s = zarr.zeros((), dtype="f8", store=R + "/scalar", compressor=None, dimension_separator=".")
    s[...] = 3
    rec("scalar", [s[()], s.hexdigest(), s.nbytes_stored])
    err("scalar_iter", lambda: list(s))
    """


@snippet("views")
def _views() -> None:
    """
    z = zarr.array(np.arange(-4, 8, dtype="i2"), chunks=(5,), store=R + "/z", compressor=numcodecs.Zlib(),
                   dimension_separator=".", fill_value=-7)
    v = z.view(dtype="u2")
    rec("view_dtype", [v[...], str(v.dtype), v.fill_value])
    a = z.astype("f4")
    rec("astype", [a[...], str(a.dtype), a.fill_value])
    rec("astype_sel", a[3:9])
    b = z.view(shape=(15,))
    rec("view_shape", b[...])
    c = z.view(fill_value=5, shape=(14,))
    rec("view_fill", c[...])
    err("astype_write", lambda: a.__setitem__(0, 1))
    """


@snippet("object_arrays")
def _object_arrays() -> None:
    """
    kw = dict(chunks=(2,), compressor=None, dimension_separator=".", fill_value=None)
    cases = {
        "utf8": (numcodecs.VLenUTF8(), ["a", "ßß", "", "zz", "x"]),
        "bytes": (numcodecs.VLenBytes(), [b"a", b"", b"\\x00\\x01", b"cc", b"d"]),
        "array": (numcodecs.VLenArray("i4"), [np.arange(n, dtype="i4") for n in (0, 1, 2, 3, 4)]),
        "json": (numcodecs.JSON(), ["x", 1, [1, 2], {"k": 3}, None]),
        "msgpack": (numcodecs.MsgPack(), ["y", 2, [3], {"k": "v"}, 1.5]),
    }
    for name, (codec, values) in cases.items():
        data = np.empty(len(values), dtype=object)
        data[:] = values
        z = zarr.open_array(R + "/" + name, mode="w", shape=(5,), dtype=object, object_codec=codec, **kw)
        z[...] = data
        rec(name, z[...])
        rec(name + "_filters", z.filters)
        rec(name + "_part", z[1:4])
    s = zarr.array(np.array(["p", "qq", "rrr"], dtype=object), dtype=str, store=R + "/dtype_str", **kw)
    rec("dtype_str", [s[...], s.filters])
    b = zarr.array(np.array([b"p", b"qq"], dtype=object), dtype=bytes, store=R + "/dtype_bytes", **kw)
    rec("dtype_bytes", [b[...], b.filters])
    err("object_without_codec", lambda: zarr.create((3,), dtype=object, store=R + "/nocodec", compressor=None))
    """


@snippet("keywords")
def _keywords() -> None:
    """
    z = zarr.create((4,), chunks=(2,), dtype="i4", store=R + "/v", zarr_version=2, compressor=None,
                    dimension_separator=".", cache_metadata=True, cache_attrs=False)
    rec("zarr_version", [z.shape, z[...]])
    ro = zarr.create((4,), chunks=(2,), dtype="i4", store=R + "/ro", compressor=None, dimension_separator=".",
                     read_only=True)
    err("read_only_write", lambda: ro.__setitem__(0, 1))
    err("open_missing_r", lambda: zarr.open_array(R + "/missing", mode="r"))
    err("open_group_missing_r", lambda: zarr.open_group(R + "/missing2", mode="r"))
    err("create_w_minus", lambda: zarr.create((4,), store=R + "/v", overwrite=False, compressor=None))
    """


COPY_SOURCE = """
def store(p):  # the one line that differs: zarr-python 2 and azarr name their local store differently
    return zarr.DirectoryStore(p) if hasattr(zarr, "DirectoryStore") else zarr.stores.LocalStore(p)

kw = dict(compressor=numcodecs.Zlib(level=1), dimension_separator=".")
src = zarr.open_group(R + "/src", mode="w", zarr_version=2)
src.attrs["title"] = "source"
a = src.create("a", shape=(6, 4), chunks=(3, 2), dtype="i4", fill_value=-1, **kw)
a[...] = np.arange(24).reshape(6, 4)
a.attrs["unit"] = "m"
sub = src.create_group("sub")
sub.attrs["level"] = 1
b = sub.create("b", shape=(5,), chunks=(2,), dtype="f8", **kw)
b[...] = np.linspace(0.5, 1, 5)
sub.create_group("deeper").create("c", shape=(2, 2), chunks=(2, 2), dtype="u1", **kw)[...] = 7
"""


@snippet("copy", setup=COPY_SOURCE, bytes_exact=False)
def _copy() -> None:
    """
    dst = zarr.open_group(R + "/dst", mode="w", zarr_version=2)
    log = []
    rec("copy_array", zarr.copy(a, dst, log=log.append))
    rec("copy_group", zarr.copy(sub, dst, log=log.append))
    rec("copy_named", zarr.copy(src, dst, name="whole", log=log.append))
    rec("log", log)
    err("exists_raise", lambda: zarr.copy(a, dst))
    err("exists_raise_group", lambda: zarr.copy(src, dst, name="a"))
    log2 = []
    rec("skip", zarr.copy(src, dst, name="whole", if_exists="skip", log=log2.append))
    rec("replace", zarr.copy(a, dst, if_exists="replace", log=log2.append))
    rec("skip_initialized", zarr.copy(sub, dst, if_exists="skip_initialized", log=log2.append))
    rec("dry_run", zarr.copy(src, dst, name="dry", dry_run=True, log=log2.append))
    rec("shallow", zarr.copy(src, dst, name="shallow", shallow=True, log=log2.append))
    rec("without_attrs", zarr.copy(src, dst, name="noattrs", without_attrs=True, log=log2.append))
    rec("rechunked", zarr.copy(a, dst, name="rechunked", chunks=(2, 4), log=log2.append))
    rec("log2", log2)
    seen = []
    dst.visit(seen.append)
    rec("dst_nodes", seen)
    rec("dst_data", [dst["whole/sub/b"][...], dst["a"][...], dst["rechunked"][...], dst["rechunked"].chunks])
    rec("attrs", [dict(dst["whole"].attrs), dict(dst["whole/a"].attrs), dict(dst["noattrs"].attrs),
                  dict(dst["noattrs/a"].attrs)])
    err("root_without_name", lambda: zarr.copy(src, dst))
    err("bad_if_exists", lambda: zarr.copy(a, dst, name="x", if_exists="nope"))
    err("dest_not_group", lambda: zarr.copy(a, a))
    """


@snippet("copy_all", setup=COPY_SOURCE, bytes_exact=False)
def _copy_all() -> None:
    """
    dst = zarr.open_group(R + "/dst", mode="w", zarr_version=2)
    log = []
    rec("copy_all", zarr.copy_all(src, dst, log=log.append))
    rec("attrs", dict(dst.attrs))
    rec("again_skip", zarr.copy_all(src, dst, if_exists="skip", log=log.append))
    err("again_raise", lambda: zarr.copy_all(src, dst))
    rec("again_replace", zarr.copy_all(src, dst, if_exists="replace", log=log.append))
    rec("log", log)
    rec("data", dst["sub/deeper/c"][...])
    """


@snippet("copy_store", setup=COPY_SOURCE)
def _copy_store() -> None:
    """
    log = []
    rec("all", zarr.copy_store(store(R + "/src"), store(R + "/cs"), log=log.append))
    rec("sub", zarr.copy_store(store(R + "/src"), store(R + "/cs2"), source_path="sub", dest_path="moved/x",
                               log=log.append))
    rec("excludes", zarr.copy_store(store(R + "/src"), store(R + "/cs3"), excludes=["sub"], includes=["sub/b"],
                                    log=log.append))
    err("exists", lambda: zarr.copy_store(store(R + "/src"), store(R + "/cs")))
    rec("skip", zarr.copy_store(store(R + "/src"), store(R + "/cs"), if_exists="skip", log=log.append))
    rec("replace", zarr.copy_store(store(R + "/src"), store(R + "/cs"), if_exists="replace"))
    rec("dry_run", zarr.copy_store(store(R + "/src"), store(R + "/cs4"), dry_run=True, log=log.append))
    err("bad_if_exists", lambda: zarr.copy_store(store(R + "/src"), store(R + "/cs5"), if_exists="skip_initialized"))
    rec("log", log)
    rec("read_back", zarr.open_group(R + "/cs2/moved/x", mode="r")["b"][...])
    """


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return run_zarr2_snippets(SNIPPETS, tmp_path_factory.mktemp("zarr2"))


@pytest.mark.parametrize("name", list(SNIPPETS))
def test_parity_with_zarr2(name: str, oracle: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    mine = run_in_process(azarr, name, SNIPPETS[name], tmp_path)
    assert_same(oracle[name], mine, **OPTIONS[name])
