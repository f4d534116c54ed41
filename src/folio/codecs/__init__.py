"""Typed values <-> bytes: the formats behind ``add_data`` / ``get_data``.

Importing this package registers the built-in codecs and imports no optional library;
pandas, polars, pyarrow, numpy, scikit-learn and torch load only when a value of theirs is
stored or read. docs/codecs.md lists what each codec keeps, warns about and refuses.
"""

from __future__ import annotations

from folio.codecs.base import Codec, CodecWarning
from folio.codecs.builtin import builtin_codecs, register_builtins
from folio.codecs.registry import (
    codec_by_name,
    codec_for_object,
    decode,
    encode,
    explicit,
    register_codec,
    registered_codecs,
    unregister_codec,
)

register_builtins()

__all__ = [
    "Codec",
    "CodecWarning",
    "builtin_codecs",
    "codec_by_name",
    "codec_for_object",
    "decode",
    "encode",
    "explicit",
    "register_builtins",
    "register_codec",
    "registered_codecs",
    "unregister_codec",
]
