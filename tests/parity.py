"""The parity harness: one snippet of notebook code, run with ``zarr`` bound to zarr-python
(the oracle) and to ``azarr``, and what each did compared.

A snippet is a function body that uses ``zarr``, ``np``, ``numcodecs`` and ``R`` (a fresh
directory it may store into) and records what it sees with ``rec(key, value)`` and
``err(key, fn)`` (which records the exception ``fn()`` raises, or that it raised none).
After it runs, every file under ``R`` is collected, so stored bytes are compared too.

zarr-python 2.18 runs in the ``.venv-zarr2`` subprocess (all v2 snippets of a module in
one process, see :func:`run_zarr2_snippets`); zarr-python 3 runs in this process.
"""

from __future__ import annotations

import json
import textwrap
import traceback
from pathlib import Path
from typing import Any

from tests.zarr2 import run_zarr2

#: helpers every snippet sees, identical in both environments (plain Python + numpy)
PRELUDE = r'''
import json, math, os
import numpy as np
import numcodecs

OUT = {}

def enc(v):
    """A JSON form of what a snippet saw, the same for zarr-python's and azarr's values."""
    if isinstance(v, np.ndarray):
        kind = "O" if v.dtype.kind in "OT" else v.dtype.str
        if v.dtype.kind in "Mm":
            data = np.asarray(v).astype(str).tolist()
        elif v.dtype.kind in "OT":
            data = [enc(x) for x in np.asarray(v, dtype=object).reshape(-1).tolist()]
        else:
            data = enc(v.tolist())
        return {"nd": kind, "shape": list(v.shape), "data": data}
    if isinstance(v, np.generic):
        if v.dtype.kind in "Mm":
            return {"np": v.dtype.str, "v": str(v)}
        return {"np": v.dtype.str, "v": enc(v.item())}
    if isinstance(v, float):
        return "nan" if math.isnan(v) else v
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"b": bytes(v).hex()}
    if isinstance(v, (list, tuple)):
        return [enc(x) for x in v]
    if isinstance(v, dict):
        return {str(k): enc(x) for k, x in v.items()}
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if hasattr(v, "get_config") and hasattr(v, "codec_id"):
        return {"codec": v.get_config()}
    return {"repr": type(v).__name__}

def rec(key, value):
    OUT[key] = enc(value)

def err(key, fn):
    try:
        fn()
    except Exception as e:
        mro = type(e).__mro__
        OUT[key] = {"raised": type(e).__name__, "builtins": [c.__name__ for c in mro if c.__module__ == "builtins"]}
    else:
        OUT[key] = {"raised": None}

def stored_files(root):
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root).replace(os.sep, "/")] = f.read().hex()
    return out
'''


def _function(name: str, body: str) -> str:
    return f"def snippet_{name}(R):\n" + textwrap.indent(textwrap.dedent(body).strip("\n") + "\n", "    ")


def run_zarr2_snippets(snippets: dict[str, str], root: Path) -> dict[str, dict[str, Any]]:
    """Run every snippet with zarr-python 2.18 in ONE subprocess; ``{name: outcome}``."""
    parts = [PRELUDE, "import zarr", "import traceback", "RESULT = {}"]
    for name, body in snippets.items():
        parts.append(_function(name, body))
        parts.append(
            textwrap.dedent(f"""
            OUT = {{}}
            _root = os.path.join(P["root"], {name!r})
            os.makedirs(_root, exist_ok=True)
            try:
                snippet_{name}(_root)
                RESULT[{name!r}] = {{"out": OUT, "files": stored_files(_root)}}
            except Exception:
                RESULT[{name!r}] = {{"crash": traceback.format_exc()}}
            """)
        )
    return run_zarr2("\n".join(parts), timeout=600, root=str(root))


def run_in_process(zarr_module: Any, name: str, body: str, root: Path) -> dict[str, Any]:
    """Run one snippet here with ``zarr`` bound to ``zarr_module`` (azarr or zarr-python 3)."""
    namespace: dict[str, Any] = {}
    exec(PRELUDE, namespace)  # noqa: S102 - the harness runs its own snippet code
    namespace["zarr"] = zarr_module
    namespace["OUT"] = {}
    exec(_function(name, body), namespace)  # noqa: S102
    out_root = root / name
    out_root.mkdir(parents=True, exist_ok=True)
    try:
        namespace[f"snippet_{name}"](str(out_root))
    except Exception:  # noqa: BLE001 - any failure of a snippet is reported, with its traceback
        return {"crash": traceback.format_exc()}
    # through JSON as the subprocess's results come (tuples become lists)
    return json.loads(json.dumps({"out": namespace["OUT"], "files": namespace["stored_files"](str(out_root))}))


def _stored(files: dict[str, str], skip: tuple[str, ...]) -> dict[str, str]:
    """Stored files to compare: an empty ``.zattrs`` counts as none (zarr-python 3 writes
    one for every v2 node, zarr-python 2 and azarr only for nodes with attributes)."""
    out = {}
    for key, value in files.items():
        if key.startswith(skip) or (key.rpartition("/")[2] == ".zattrs" and json.loads(bytes.fromhex(value)) == {}):
            continue
        out[key] = value
    return out


def _doc(data_hex: str) -> Any:
    """A metadata document as JSON, azarr's always-written ``dimension_separator: "."`` and
    zarr-python 3's missing ``"dimension_separator"`` treated alike."""
    doc = json.loads(bytes.fromhex(data_hex))
    if isinstance(doc, dict) and doc.get("dimension_separator") in (".", None):
        doc.pop("dimension_separator", None)
    return doc


METADATA_NAMES = (".zarray", ".zgroup", ".zattrs", ".zmetadata", "zarr.json")


def assert_same(
    oracle: dict[str, Any],
    mine: dict[str, Any],
    *,
    bytes_exact: bool = True,
    skip_files: tuple[str, ...] = (),
    data_only: tuple[str, ...] = (),
) -> None:
    """Assert azarr did what zarr-python did: the same recorded values, the same errors
    (azarr's exception is an instance of the builtin class zarr-python's derives from),
    the same stored keys and the same stored bytes (metadata documents compared as JSON
    unless ``bytes_exact``; ``data_only`` file prefixes compared by key only, for chunks
    written with defaults that differ by design, e.g. zarr-python 2's Blosc)."""
    assert "crash" not in oracle, f"the oracle failed:\n{oracle.get('crash')}"
    assert "crash" not in mine, f"azarr failed:\n{mine.get('crash')}"
    want, got = oracle["out"], mine["out"]
    assert want, "the snippet recorded nothing"
    assert set(got) == set(want), f"recorded keys differ: {sorted(set(got) ^ set(want))}"
    for key, expected in want.items():
        actual = got[key]
        if isinstance(expected, dict) and "raised" in expected:
            assert isinstance(actual, dict) and "raised" in actual, f"{key}: {actual!r}"
            if expected["raised"] is None:
                assert actual["raised"] is None, f"{key}: azarr raised {actual['raised']}, zarr-python did not"
            else:
                assert actual["raised"] is not None, f"{key}: zarr-python raised {expected['raised']}, azarr did not"
                builtin = expected["builtins"][0]
                assert builtin in actual["builtins"], (
                    f"{key}: zarr-python raised {expected['raised']} ({builtin}); azarr's {actual['raised']} "
                    f"is {actual['builtins']}"
                )
            continue
        assert actual == expected, f"{key}: azarr {actual!r} != zarr-python {expected!r}"
    files_want = _stored(oracle["files"], skip_files)
    files_got = _stored(mine["files"], skip_files)
    assert set(files_got) == set(files_want), f"stored keys differ: {sorted(set(files_got) ^ set(files_want))}"
    for key, value in files_want.items():
        if key.startswith(data_only):
            continue
        if key.rpartition("/")[2] in METADATA_NAMES and not bytes_exact:
            assert _doc(files_got[key]) == _doc(value), f"document {key} differs"
        else:
            assert files_got[key] == value, f"stored bytes of {key} differ"


__all__ = ["PRELUDE", "assert_same", "run_in_process", "run_zarr2_snippets"]
