"""``ItemInfo``: what the manifest records about one item (``f.info(name)``).

A plain record, below every module that holds a Folio: the protocol in bundle/_view.py names
it as what ``info()`` returns, so it cannot live beside the views in bundle/_items.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from folio.bundle import _typed
from folio.bundle._names import meta_of
from folio.manifest import Entry


@dataclass(frozen=True)
class ItemInfo:
    """What the manifest records about one item (AutoStore's per-item metadata, and more)."""

    name: str
    file: str  # relative to the bundle directory
    path: Path  # the working file
    type: str | None
    family: str  # table, array, json, text, model, object, bytes, reference, file, other
    size: int
    sha256: str | None
    created: str | None
    description: str | None
    inputs: list[str]
    uri: str | None
    codec: dict[str, Any] = field(default_factory=dict)  # what the codec recorded
    user: dict[str, Any] = field(default_factory=dict)  # keyword metadata given when added
    model: dict[str, Any] | None = None  # torch class and init_args, for add_model weights
    external_inputs: list[str] = field(default_factory=list)  # inputs naming no item

    @classmethod
    def of(cls, bundle_dir: Path, name: str, entry: Entry) -> ItemInfo:
        """The facts of item ``name`` (recorded as ``entry``) of the bundle in ``bundle_dir``."""
        meta = meta_of(entry)
        inputs = meta.get("inputs")
        codec, user, model = meta.get("codec"), meta.get("user"), meta.get("model")
        description = meta.get("description")
        created = meta.get("created")
        return cls(
            name=name, file=entry.path, path=bundle_dir / entry.path, type=entry.type,
            family=_typed.family(entry), size=entry.size, sha256=entry.sha256,
            created=created if isinstance(created, str) else None,
            description=description if isinstance(description, str) else None,
            inputs=[i for i in inputs if isinstance(i, str)] if isinstance(inputs, list) else [],
            uri=entry.uri,
            codec=dict(codec) if isinstance(codec, dict) else {},
            user=dict(user) if isinstance(user, dict) else {},
            model=dict(model) if isinstance(model, dict) else None,
            external_inputs=[i for i in meta.get("external_inputs") or []
                             if isinstance(i, str)])

    @property
    def metadata(self) -> dict[str, Any]:
        """One dict: standard fields, the codec's under "codec", then the user's keys."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "size": self.size,
                               "sha256": self.sha256, "created": self.created,
                               "description": self.description, "inputs": list(self.inputs),
                               "path": self.file}
        if self.uri is not None:
            out["uri"] = self.uri
        if self.codec:
            out["codec"] = dict(self.codec)
        if self.model is not None:
            out["model"] = dict(self.model)
        if self.external_inputs:
            out["external_inputs"] = list(self.external_inputs)
        out.update(self.user)
        return out
