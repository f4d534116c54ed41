"""Readable rendering of a manifest file, for git's diff driver (``folio textconv``).

git hands us one file (maybe a temporary copy), so this works line by line and never
fails: a line it cannot read is shown as it is.
"""

from __future__ import annotations

import json
from pathlib import Path

from folio.units import human_bytes


def render_line(obj: object) -> str:
    if not isinstance(obj, dict):
        return json.dumps(obj)
    if "folio" in obj:
        if "shard" in obj:
            return f"# shard {obj['shard']} of {obj.get('target')}"
        return f"# folio {obj.get('kind', '?')} target {obj.get('target')}"
    if "shard" in obj:
        return (f"shard {obj['shard']}: {obj.get('files')} files, "
                f"{human_bytes(int(obj.get('bytes', 0)))}, from {obj.get('first')}")
    path = obj.get("path", "?")
    if "link" in obj:
        return f"{path} -> {obj['link']}"
    parts = [f"{path}", human_bytes(int(obj.get("size", 0))), str(obj.get("sha256", ""))[:12]]
    if obj.get("type"):
        parts.append(f"[{obj['type']}]")
    if obj.get("stored") is False:
        parts.append("(hash only)")
    if obj.get("uri"):
        parts.append(f"<{obj['uri']}>")
    meta = obj.get("meta")
    if isinstance(meta, dict) and meta:
        parts.append(json.dumps(meta, sort_keys=True, ensure_ascii=False))
    return "  ".join(parts)


def render(path: Path) -> str:
    from folio.errors import FolioError

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FolioError(f"cannot read: {exc.strerror}", path=path) from None
    out = []
    for raw in data.splitlines():
        try:
            out.append(render_line(json.loads(raw)))
        except (ValueError, TypeError, OverflowError, RecursionError):  # not folio's: show it
            out.append(raw.decode("utf-8", "replace"))
    return "".join(line + "\n" for line in out)
