"""``describe()`` and ``_repr_html_``: a bundle's items grouped by kind, with lineage."""

from __future__ import annotations

import html
import sys
from typing import TYPE_CHECKING, Any

from folio.bundle._typed import GROUPS

if TYPE_CHECKING:
    from folio.bundle._info import ItemInfo
    from folio.bundle._view import FolioView

VALUE_WIDTH = 40


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def summary(info: ItemInfo) -> str:
    """One line about the value: rows and columns, shape and dtype, keys, class..."""
    c = info.codec
    kind = info.type
    if kind in ("pandas", "polars", "arrow") and "rows" in c:
        text = f"{c['rows']:,} rows x {c.get('columns', '?')} columns"
        return text + (" (Series)" if c.get("series") else "")
    if kind in ("numpy", "torch-tensor") and "shape" in c:
        shape = c["shape"]
        dims = "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"
        return f"shape {dims} {c.get('dtype', '')}".rstrip()
    if kind == "json":
        if c.get("kind") == "object":
            return "object, " + _count(c.get("length", 0), "key")
        if c.get("kind") == "array":
            return "array, " + _count(c.get("length", 0), "item")
        return str(c.get("kind", "value"))
    if kind == "jsonl":
        return _count(c.get("rows", 0), "record")
    if kind == "text":
        return _count(c.get("lines", 0), "line")
    if kind == "bytes":
        return c.get("pytype", "bytes")
    if kind == "pickle":
        return str(c.get("pytype", "object"))
    if kind in ("sklearn", "torch-model"):
        return str(c.get("class", "model"))
    if kind == "torch-state-dict":
        model = (info.model or {}).get("class")
        weights = f"{c.get('tensors', 0)} tensors, {c.get('parameters', 0):,} parameters"
        return f"{model} weights, {weights}" if model else weights
    if kind == "reference":
        return info.uri or ""
    return ""


def _count(n: Any, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}" if isinstance(n, int) else f"? {noun}s"


def _value(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= VALUE_WIDTH else text[:VALUE_WIDTH - 3] + "..."


def _fields(values: dict[str, Any], limit: int) -> str:
    keys = list(values)
    shown = ", ".join(f"{k}: {_value(values[k])}" for k in keys[:limit])
    rest = len(keys) - limit
    return shown + (f" ... (+{rest} more)" if rest > 0 else "")


def _grouped(infos: list[ItemInfo], show_empty: bool) -> list[tuple[str, list[ItemInfo]]]:
    out = []
    for key, title in GROUPS:
        members = [i for i in infos if i.family == key]
        if members or show_empty:
            out.append((title, members))
    return out


def _dependents(infos: list[ItemInfo]) -> dict[str, list[str]]:
    users: dict[str, list[str]] = {}
    for info in infos:
        for name in info.inputs:
            users.setdefault(name, []).append(info.name)
    return users


def render_text(folio: FolioView, *, show_empty: bool = False,
                max_metadata_fields: int = 10) -> str:
    infos = folio.items_info()
    names = {i.name for i in infos}
    users = _dependents(infos)
    total = sum(i.size for i in infos)
    lines = [f"Bundle {folio.target}: {len(infos)} item{'s' if len(infos) != 1 else ''}, "
             f"{human_bytes(total)}"]
    metadata = folio.read_metadata()
    if metadata:
        lines.append(f"Metadata: {_fields(metadata, max_metadata_fields)}")
    for title, members in _grouped(infos, show_empty):
        lines.append("")
        lines.append(f"{title} ({len(members)}):")
        for info in members:
            lines.append(f"  - {info.name}" + (f": {info.description}" if info.description
                                                else ""))
            facts = ", ".join(x for x in (info.type or "file", summary(info),
                                          human_bytes(info.size)) if x)
            lines.append(f"      {facts}")
            if info.inputs:
                shown = [n if n in names else f"{n} (external)" if n in info.external_inputs
                         else f"{n} (deleted)" for n in info.inputs]
                lines.append(f"      inputs: {', '.join(shown)}")
            if users.get(info.name):
                lines.append(f"      used by: {', '.join(users[info.name])}")
            if info.user:
                lines.append(f"      {_fields(info.user, max_metadata_fields)}")
    if not infos and not show_empty:
        lines.append("(no items)")
    return "\n".join(lines)


def render_html(folio: FolioView, *, show_empty: bool = False,
                max_metadata_fields: int = 10) -> str:
    infos = folio.items_info()
    users = _dependents(infos)
    esc = html.escape
    rows = []
    for title, members in _grouped(infos, show_empty):
        rows.append(f'<tr><th colspan="8" style="text-align:left">{esc(title)} '
                    f"({len(members)})</th></tr>")
        for info in members:
            cells = (info.name, info.type or "file", summary(info), human_bytes(info.size),
                     info.description or "", ", ".join(info.inputs),
                     ", ".join(users.get(info.name, [])),
                     _fields(info.user, max_metadata_fields) if info.user else "")
            rows.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    total = sum(i.size for i in infos)
    head = ("<tr><th>item</th><th>type</th><th>value</th><th>size</th><th>description</th>"
            "<th>inputs</th><th>used by</th><th>metadata</th></tr>")
    caption = (f"<caption style=\"text-align:left\"><b>{esc(folio.target)}</b>: {len(infos)} "
               f"items, {human_bytes(total)}</caption>")
    return f"<table>{caption}<thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


class Description:
    """What ``describe()`` shows in a notebook: HTML there, the text everywhere else."""

    def __init__(self, text: str, html_text: str) -> None:
        self.text = text
        self.html = html_text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return self.html


def in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except AttributeError:
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"
