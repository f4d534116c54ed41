"""Bundles: named, typed items in a tracked directory (docs/api.md).

    import folio
    f = folio.Folio("experiments/exp1")        # or repo.folio("experiments/exp1")
    f.add_data("raw", df, description="as downloaded")
    f.add_data("clean", cleaned, inputs=["raw"])
    f["clean"]                                  # the DataFrame, verified while read
    f.describe()

Layers: codecs (values <-> bytes) below; this package turns a codec's bytes into a tracked
file plus a manifest entry carrying the item's type and metadata, so every CLI verb
(status, snapshot, checkout, diff, push) works on a bundle unchanged.
"""

from __future__ import annotations

from folio.bundle._handles import ItemPath
from folio.bundle._info import ItemInfo
from folio.bundle._items import BundleMetadata, DataAccessor, ItemProxy
from folio.bundle._meta import BundleWarning
from folio.bundle.core import Folio

__all__ = ["BundleMetadata", "BundleWarning", "DataAccessor", "Folio", "ItemInfo", "ItemPath",
           "ItemProxy"]
