"""Metadata models (pure: no I/O, no asyncio): Zarr v2 here, N5 in :mod:`azarr.meta.n5`."""

from azarr.meta.v2 import ArrayMetadataV2, GroupMetadataV2

__all__ = ["ArrayMetadataV2", "GroupMetadataV2"]
