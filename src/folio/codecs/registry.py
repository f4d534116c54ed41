"""Which codec stores an object, and which one reads an item back.

Order: higher priority first; at equal priority the later registration wins, so a user's
codec can take over a built-in one without knowing its number. Registering a name again
replaces the earlier codec of that name (manifests name codecs, so names are unique).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any, BinaryIO, TypeVar

from folio.codecs._detect import type_name
from folio.codecs.base import TRUST_HINT, Codec, extensions_of
from folio.errors import CodecError, FolioError, PickleNotAllowedError, UnsupportedTypeError

T = TypeVar("T")
_lock = threading.Lock()
_entries: tuple[tuple[int, int, Codec], ...] = ()  # (priority, sequence, codec), best first
_sequence = 0

# Families for the typed adders (add_table, add_model, ...): kind -> codec names to try.
FAMILIES: dict[str, tuple[str, ...]] = {
    "table": ("pandas", "polars", "arrow"),
    "model": ("torch-state-dict", "torch-model", "sklearn"),
}
_KIND_WORDS = {"table": "a pandas, polars or pyarrow table",
               "model": "a scikit-learn estimator, a torch module or a torch state dict"}


def register_codec(codec: Codec, *, priority: int | None = None) -> None:
    """Make ``codec`` available for writing and reading; ``priority`` overrides its own."""
    global _entries, _sequence
    _check_codec(codec)
    rank = codec.priority if priority is None else priority
    with _lock:
        _sequence += 1
        kept = [entry for entry in _entries if entry[2].name != codec.name]
        kept.append((rank, _sequence, codec))
        _entries = tuple(sorted(kept, key=lambda entry: (-entry[0], -entry[1])))


def unregister_codec(name: str) -> None:
    """Forget the codec called ``name`` (mainly for tests and plug-in reloads)."""
    global _entries
    with _lock:
        _entries = tuple(entry for entry in _entries if entry[2].name != name)


def registered_codecs() -> list[Codec]:
    """Every registered codec, in the order they are tried."""
    return [codec for _, _, codec in _entries]


def codec_by_name(name: str, *, item: str | None = None) -> Codec:
    """The codec that reads items of type ``name`` (``item`` names the item in the error)."""
    for _, _, codec in _entries:
        if codec.name == name:
            return codec
    raise CodecError(
        f"unknown item type {ascii(name)[:80]}; written by a newer folio or a codec not "
        "registered here", path=item
    )


def codec_for_object(obj: object, *, name_hint: str | None = None) -> Codec:
    """The codec for ``obj``: by type, and by the extension of ``name_hint`` among those fit."""
    candidates = [codec for codec in registered_codecs() if _accepts(codec, obj)]
    if not candidates:
        raise UnsupportedTypeError(
            f"no codec can store a {type_name(obj)}; register one with folio.register_codec"
        )
    suffix = PurePosixPath(name_hint).suffix.lower() if name_hint else ""
    if suffix:
        for codec in candidates:
            if suffix in extensions_of(codec):
                return codec
    return candidates[0]


def explicit(kind: str, obj: object = None) -> Codec:
    """The codec a typed adder uses: ``kind`` is a family ("table", "model") or a codec name.

    A family needs ``obj`` to choose its member. A single codec is returned even when it
    cannot take ``obj``: its ``encode`` then says precisely what is wrong with the value.
    """
    names = FAMILIES.get(kind)
    if names is None:
        return codec_by_name(kind)
    members = [codec for codec in registered_codecs() if codec.name in names]
    for codec in members:
        if obj is not None and _accepts(codec, obj):
            return codec
    raise UnsupportedTypeError(f"{kind} items must be {_KIND_WORDS[kind]}, not {type_name(obj)}")


def encode(
    obj: object, sink: BinaryIO, *, codec: Codec | None = None, name_hint: str | None = None
) -> tuple[Codec, dict[str, Any]]:
    """Pick a codec (unless given), write ``obj`` to ``sink``; return the codec and metadata."""
    chosen = codec if codec is not None else codec_for_object(obj, name_hint=name_hint)
    try:
        meta = chosen.encode(obj, sink)
    except (FolioError, MemoryError):
        raise
    except Exception as exc:
        raise CodecError(
            f"cannot store a {type_name(obj)} as {chosen.name!r}: {_reason(exc)}"
        ) from exc
    return chosen, meta


def decode(name: str, data: bytearray, meta: dict[str, Any], *, allow_pickle: bool,
           item: str | None = None) -> object:
    """Read an item of type ``name`` back; codecs that can run code need ``allow_pickle``.

    This is the one place a reader's failure becomes an error: whatever the codec or the
    library below it raises on hostile bytes (a ValueError, an ArrowInvalid, a MemoryError
    for a size it was told, a panic from native code, which is a BaseException) leaves as
    one FolioError naming ``item``. Only an interrupt or an exit passes through as it is.
    """
    def read() -> object:
        codec = codec_by_name(name)
        if codec.needs_trust and not allow_pickle:
            raise PickleNotAllowedError(f"item type {name!r} can run code when loaded; "
                                        f"{TRUST_HINT}")
        if getattr(codec, "checks_trust", False):
            return codec.decode(data, meta, trusted=allow_pickle)  # type: ignore[call-arg]
        return codec.decode(data, meta)

    return read_guarded(read, f"{name!r} item", item)


def read_guarded(read: Callable[[], T], what: str, item: str | None) -> T:
    """``read()``, with every failure but an interrupt or an exit as one FolioError naming
    ``item`` ("cannot read WHAT: ..."); decode() and readers of foreign bytes share it."""
    try:
        return read()
    except FolioError as exc:
        if exc.path is None:
            exc.path = item
        raise
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        raise CodecError(f"cannot read {what}: {_reason(exc)}", path=item) from exc


def _accepts(codec: Codec, obj: object) -> bool:
    """A codec's can_encode, where a broken third-party codec cannot break the selection."""
    try:
        return bool(codec.can_encode(obj))
    except Exception:
        return False


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "no details"
    return f"{type(exc).__name__}: {text}"


def _check_codec(codec: object) -> None:
    for attribute in ("name", "extension", "priority", "needs_trust", "can_encode", "encode",
                      "decode"):
        if not hasattr(codec, attribute):
            raise CodecError(f"codec {codec!r} has no {attribute!r}; see folio.codecs.Codec")
    name = getattr(codec, "name", None)
    extension = getattr(codec, "extension", None)
    if not isinstance(name, str) or not name or name != name.strip():
        raise CodecError(f"codec name must be a non-empty string, got {name!r}")
    if not isinstance(extension, str) or not extension.startswith("."):
        raise CodecError(f"codec {name!r}: extension must start with '.', got {extension!r}")
