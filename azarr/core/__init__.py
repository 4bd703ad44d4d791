"""The async core: arrays, groups, selections -> chunk plans -> batched store requests,
consolidated metadata. Knows stores only through the Store contract and formats only
through the format registry (:mod:`azarr.meta.formats`)."""
