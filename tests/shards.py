"""Small shards for manifest tests: sharding behaviour with a handful of entries."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from folio import manifest as mf


@contextlib.contextmanager
def small_shards(threshold: int = 8, mask: int = 3, cap: int = 6) -> Iterator[None]:
    """Shard past ``threshold`` entries, cut where ``crc32 & mask == 0``, at most ``cap``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mf, "SHARD_THRESHOLD", threshold)
        mp.setattr(mf, "SHARD_MASK", mask)
        mp.setattr(mf, "SHARD_MAX", cap)
        yield
