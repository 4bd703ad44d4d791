"""The ``transpose`` codec: permute a chunk's axes before serialisation (array->array).

Both directions return views; the ``bytes`` codec makes the one copy serialisation needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Self

import numpy as np

from azarr.codecs.abc import ArrayArrayCodec, ChunkSpec
from azarr.codecs.registry import register_codec
from azarr.errors import MetadataError


@register_codec
class TransposeCodec(ArrayArrayCodec):
    """Store chunks with their axes in ``order`` (zarr-python's ``TransposeCodec``).

    ``order`` is a permutation of the axes; the early drafts' ``"C"`` (identity) and
    ``"F"`` (reversed) are also read.
    """

    name = "transpose"

    def __init__(self, *, order: Sequence[int] | str) -> None:
        if isinstance(order, str):
            if order not in ("C", "F"):
                raise MetadataError(f"transpose codec: order must be a permutation, 'C' or 'F', got {order!r}")
            self.order: tuple[int, ...] | str = order
        else:
            if isinstance(order, (bytes, Mapping)) or not all(
                isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in order
            ):
                raise MetadataError(f"transpose codec: order must be a list of integers, got {order!r}")
            self.order = tuple(int(i) for i in order)
        self._inverse: tuple[int, ...] | None = None

    def to_config(self) -> dict[str, Any]:
        order = list(self.order) if isinstance(self.order, tuple) else self.order
        return {"name": self.name, "configuration": {"order": order}}

    def evolve(self, spec: ChunkSpec) -> Self:
        """Check ``order`` is a permutation of the chunk's axes and precompute its inverse."""
        ndim = len(spec.shape)
        if self.order == "C":
            order: tuple[int, ...] = tuple(range(ndim))
        elif self.order == "F":
            order = tuple(reversed(range(ndim)))
        else:
            assert isinstance(self.order, tuple)
            order = self.order
        if sorted(order) != list(range(ndim)):
            raise MetadataError(f"transpose codec: order {list(order)} is not a permutation of {ndim} axes")
        out = type(self)(order=order)
        out._inverse = tuple(int(i) for i in np.argsort(order))
        return out

    def resolve(self, spec: ChunkSpec) -> ChunkSpec:
        order = self.evolve(spec).order if self._inverse is None else self.order
        assert isinstance(order, tuple)
        return replace(spec, shape=tuple(spec.shape[i] for i in order))

    def encode(self, chunk: np.ndarray, spec: ChunkSpec) -> np.ndarray:
        """The chunk with its axes permuted (a view)."""
        codec = self if self._inverse is not None else self.evolve(spec)
        assert isinstance(codec.order, tuple)
        return np.asarray(chunk).transpose(codec.order)

    def decode(self, chunk: np.ndarray, spec: ChunkSpec) -> np.ndarray:
        """Undo the permutation (a view)."""
        codec = self if self._inverse is not None else self.evolve(spec)
        assert codec._inverse is not None
        return chunk.transpose(codec._inverse)


__all__ = ["TransposeCodec"]
