"""Timestamps (DataFolio's ``add_timestamp`` / ``get_timestamp``), as typed plain values.

A mixin of :class:`folio.Folio`. A timestamp is an ordinary item stored by the
``typed-json`` codec (codecs/typed_json.py): ``{"$type": "datetime", "v": "..."}``, so a
teammate reads it without trusting a pickle, and ``get_data`` returns the same datetime.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, TypeVar

from folio import codecs
from folio.bundle._view import FolioCore
from folio.errors import ArgumentTypeError, CodecError

FolioT = TypeVar("FolioT", bound="PlainValues")


class PlainValues(FolioCore):
    """Mixed into :class:`folio.Folio`."""

    def add_timestamp(self: FolioT, name: str, dt: datetime | None = None,
                      description: str | None = None, *, overwrite: bool = True,
                      **metadata: Any) -> FolioT:
        """Store a ``datetime`` (now, in UTC, by default); naive or aware, kept exactly."""
        if dt is None:
            dt = datetime.now(timezone.utc)
        if type(dt) is not datetime:
            raise ArgumentTypeError(f"add_timestamp takes a datetime.datetime, not "
                                    f"{type(dt).__name__}")
        self._put(name, dt, codecs.codec_by_name("typed-json"), description, None, overwrite,
                  metadata)
        return self

    def get_timestamp(self, name: str) -> datetime:
        """The ``datetime`` item ``name`` holds (CodecError if it holds something else)."""
        value = self.get_data(name)
        if not isinstance(value, datetime):
            raise CodecError(f"item {name!r} holds a {type(value).__name__}, not a datetime",
                             path=self.target)
        return value
