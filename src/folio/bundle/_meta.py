"""What bundles write into a manifest entry's ``meta`` (docs/api.md, "What a bundle is")."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from folio.bundle._names import meta_of
from folio.errors import CodecError, FolioError
from folio.manifest import Entry, Manifest


class BundleWarning(UserWarning):
    """Something about a bundle worth knowing that is not an error (dependents, edits)."""


BUNDLE_KEYS = ("codec", "created", "description", "inputs", "item", "model", "user")
# Keyword metadata may not use the names ItemInfo.metadata shows for the standard fields.
RESERVED_USER_KEYS = frozenset({*BUNDLE_KEYS, "name", "type", "size", "sha256", "path", "uri"})


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_meta(name: str, file: str, codec_meta: dict[str, Any], fields: dict[str, Any],
                extra: dict[str, Any] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"created": now(), **fields, **(extra or {})}
    if codec_meta:
        meta["codec"] = codec_meta
    return meta


def keep_created(replaced: list[Entry], oid: str, kind: str | None,
                  meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """Re-adding the same content with the same metadata changes nothing, not even the date,
    so the manifest (and git) sees no change."""
    if not meta:
        return meta
    for old in replaced:
        old_meta = meta_of(old)
        if (old.sha256 == oid and old.type == kind and "created" in old_meta
                and {k: v for k, v in old_meta.items() if k != "created"}
                == {k: v for k, v in meta.items() if k != "created"}):
            return {**meta, "created": old_meta["created"]}
    return meta


def set_or_drop(meta: dict[str, Any], key: str, value: Any) -> None:
    if value in ("", [], {}):
        meta.pop(key, None)
    else:
        meta[key] = value


def rename_inputs(manifest: Manifest, old: str, new: str) -> None:
    for path, entry in list(manifest.entries.items()):
        meta = meta_of(entry)
        inputs = meta.get("inputs")
        if isinstance(inputs, list) and old in inputs:
            renamed = [new if i == old else i for i in inputs]
            manifest.entries[path] = Entry(entry.path, entry.size, entry.sha256, entry.type,
                                           entry.stored, uri=entry.uri,
                                           meta={**meta, "inputs": renamed})


def check_user_metadata(metadata: dict[str, Any], name: str) -> None:
    clash = sorted(set(metadata) & RESERVED_USER_KEYS)
    if clash:
        raise FolioError(f"metadata key(s) {', '.join(map(repr, clash))} of item {name!r} are "
                         "reserved for folio's own fields; choose other names")
    check_json(metadata, f"metadata of item {name!r}")


def check_json(value: Any, what: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CodecError(f"{what} must be JSON values (str, number, bool, None, lists, dicts "
                         f"with str keys): {exc}") from None


