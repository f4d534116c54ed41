"""Decide, before writing, what a JSON file can keep of a Python value.

JSON keeps dict (str keys), list, str, int, float (NaN and ±Infinity included, as Python's
json module writes them), bool and None exactly. Tuples and subclasses of those types are
accepted but read back as the plain type, so they are reported for a warning. Anything else
(other objects, non-str keys, cycles) is refused: the caller can fall back to pickle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from folio.codecs._detect import type_name

_EXACT = (dict, list, str, int, float, bool, type(None))


@dataclass
class JsonScan:
    """What :func:`scan` found: a refusal reason, or the changes reading back will show."""

    refusal: str | None = None
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)  # type -> (path, as)

    def warning(self) -> str | None:
        """One line naming what reads back as another type, or None when nothing does."""
        if not self.changed:
            return None
        parts = [f"{kind} (first at {path}) reads back as {plain}"
                 for kind, (path, plain) in self.changed.items()]
        return "JSON cannot keep every type: " + "; ".join(parts)


def scan(value: object) -> JsonScan:
    """Walk ``value`` iteratively (deep values must not hit the recursion limit)."""
    result = JsonScan()
    stack: list[tuple[object, str, bool]] = [(value, "$", False)]
    open_ids: set[int] = set()
    while stack:
        item, path, leaving = stack.pop()
        if leaving:
            open_ids.discard(id(item))
            continue
        kind = type(item)
        if kind not in _EXACT:
            base = _json_base(item)
            if base is None:
                result.refusal = f"{type_name(item)} at {path} is not a JSON value"
                return result
            result.changed.setdefault(type_name(item), (path, base.__name__))
        if isinstance(item, dict | list | tuple):
            if id(item) in open_ids:
                result.refusal = f"the value refers to itself at {path}"
                return result
            open_ids.add(id(item))
            stack.append((item, path, True))
            if isinstance(item, dict):
                children = []
                for key, child in item.items():
                    if type(key) is not str:
                        result.refusal = (f"key {key!r} ({type_name(key)}) at {path} is not a "
                                          "string; JSON object keys are strings")
                        return result
                    children.append((child, f"{path}.{key}", False))
            else:
                children = [(child, f"{path}[{i}]", False) for i, child in enumerate(item)]
            stack.extend(reversed(children))  # popped in document order: "first" is first
    return result


def _json_base(item: object) -> type | None:
    """The JSON type an accepted non-exact value is written as."""
    if isinstance(item, tuple):
        return list
    for base in _EXACT:
        if isinstance(item, base):
            return base
    return None
