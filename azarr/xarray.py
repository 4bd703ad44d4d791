"""An xarray backend: ``xr.open_dataset(url, engine="azarr")`` for Zarr v2 / v3 / N5 stores.

Reads datasets laid out as ``Dataset.to_zarr`` writes them, exactly as xarray's own zarr
engine does: Zarr v3 keeps dimension names in ``dimension_names`` and a CF ``_FillValue``
attribute in xarray's encoded form (the array's fill value is not a mask there); Zarr v2
keeps dimension names in the ``_ARRAY_DIMENSIONS`` attribute and the array's fill value
is exposed as ``_FillValue``. CF attributes are decoded by xarray. Variables are lazy
(each read is an orthogonal selection on the azarr array) and carry the stored chunks as
preferred dask chunks.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from azarr.errors import MetadataError, MissingDependencyError
from azarr.sync import Array, Group, open_group

try:
    import xarray as xr
    from xarray.backends import BackendArray, BackendEntrypoint
    from xarray.core import indexing
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("azarr.xarray needs xarray: pip install 'azarr[xarray]'") from exc

DIMENSION_KEY = "_ARRAY_DIMENSIONS"


class AzarrBackendArray(BackendArray):
    """Lazy access to one azarr array with outer (orthogonal) indexing."""

    def __init__(self, array: Array) -> None:
        self.array = array
        self.shape = array.shape
        self.dtype = array.dtype

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.OUTER, self._raw)

    def _raw(self, key: tuple[Any, ...]) -> np.ndarray:
        if self.array.ndim == 0:
            return np.asarray(self.array[...])
        return np.asarray(self.array.oindex[key])


def _variable_v3(arr: Array, attrs: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    dims = list(arr.metadata.dimension_names or ())
    if len(dims) != arr.ndim:
        raise MetadataError(
            f"array {arr.name} has no dimension_names for its {arr.ndim} dimensions (not an xarray-style dataset)"
        )
    if "_FillValue" in attrs:  # xarray's own encoding of the CF fill value in v3 attributes
        from xarray.backends.zarr import FillValueCoder

        attrs["_FillValue"] = FillValueCoder.decode(attrs["_FillValue"], arr.dtype)
    return dims, attrs


def _variable(name: str, arr: Array) -> xr.Variable:
    attrs = arr.attrs.asdict()
    if arr.zarr_format == 3:
        dims, attrs = _variable_v3(arr, attrs)
        data = indexing.LazilyIndexedArray(AzarrBackendArray(arr))
        encoding = {"chunks": arr.chunks, "preferred_chunks": dict(zip(dims, arr.chunks)), "fill_value": arr.fill_value}
        return xr.Variable(dims, data, attrs, encoding)
    dims = attrs.pop(DIMENSION_KEY, None)
    if dims is None:
        if arr.ndim:
            raise MetadataError(
                f"array {arr.name} has no {DIMENSION_KEY!r} attribute (not an xarray-style zarr dataset)"
            )
        dims = []
    if len(dims) != arr.ndim:
        raise MetadataError(f"array {arr.name}: {DIMENSION_KEY} {dims} does not match its {arr.ndim} dimensions")
    if arr.fill_value is not None and "_FillValue" not in attrs:
        fv = arr.fill_value
        attrs["_FillValue"] = fv.item() if isinstance(fv, np.generic) and arr.dtype.kind not in "SUV" else fv
    encoding = {
        "chunks": arr.chunks,
        "preferred_chunks": dict(zip(dims, arr.chunks)),
        "dtype": arr.dtype,
    }
    data = indexing.LazilyIndexedArray(AzarrBackendArray(arr))
    return xr.Variable(dims, data, attrs, encoding)


def open_azarr_dataset(
    store: Any,
    *,
    group: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    consolidated: bool | None = None,
    drop_variables: str | Iterable[str] | None = None,
    **decode: Any,
) -> xr.Dataset:
    """Build a CF-decoded Dataset from the arrays of one group."""
    g: Group = open_group(store, "r", path=group, storage_options=storage_options, use_consolidated=consolidated)
    drop = {drop_variables} if isinstance(drop_variables, str) else set(drop_variables or ())
    variables = {name: _variable(name, arr) for name, arr in g.arrays() if name not in drop}
    attrs = g.attrs.asdict()
    vars_, attrs_, coord_names = xr.conventions.decode_cf_variables(variables, attrs, **decode)
    ds = xr.Dataset(vars_, attrs=attrs_)
    return ds.set_coords(coord_names.intersection(vars_))


class AzarrBackendEntrypoint(BackendEntrypoint):
    """``engine="azarr"``: read Zarr v2 / v3 / N5 datasets with azarr's async stores."""

    description = "Open Zarr v2, v3 and N5 datasets with azarr (async stores: S3, GCS, Azure, Redis, MongoDB, SQLite...)"
    url = "https://github.com/azarr/azarr"
    open_dataset_parameters = (
        "filename_or_obj", "drop_variables", "group", "storage_options", "consolidated",
        "mask_and_scale", "decode_times", "concat_characters", "decode_coords", "use_cftime", "decode_timedelta",
    )

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        """azarr is chosen explicitly (``engine="azarr"``); never claim other files."""
        return False

    def open_dataset(  # type: ignore[override]
        self,
        filename_or_obj: str | os.PathLike[str] | Any,
        *,
        drop_variables: str | Iterable[str] | None = None,
        group: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
        consolidated: bool | None = None,
        mask_and_scale: bool = True,
        decode_times: bool = True,
        concat_characters: bool = True,
        decode_coords: bool = True,
        use_cftime: bool | None = None,
        decode_timedelta: bool | None = None,
    ) -> xr.Dataset:
        """Open the group at ``filename_or_obj`` (URL, path or azarr Store) as a Dataset."""
        if isinstance(filename_or_obj, os.PathLike):
            filename_or_obj = os.fspath(filename_or_obj)
        return open_azarr_dataset(
            filename_or_obj,
            group=group,
            storage_options=storage_options,
            consolidated=consolidated,
            drop_variables=drop_variables,
            mask_and_scale=mask_and_scale,
            decode_times=decode_times,
            concat_characters=concat_characters,
            decode_coords=decode_coords,
            use_cftime=use_cftime,
            decode_timedelta=decode_timedelta,
        )

    def open_datatree(self, filename_or_obj: Any, **kwargs: Any) -> Any:
        """Open every group of the hierarchy as a DataTree node."""
        storage_options = kwargs.pop("storage_options", None)
        root: Group = open_group(filename_or_obj, "r", storage_options=storage_options)
        datasets: dict[str, xr.Dataset] = {}

        def walk(g: Group, path: str) -> None:
            datasets[path or "/"] = open_azarr_dataset(
                filename_or_obj, group=g.path or None, storage_options=storage_options, **kwargs
            )
            for name, child in g.groups():
                walk(child, f"{path}/{name}")

        walk(root, "")
        return xr.DataTree.from_dict(datasets)
