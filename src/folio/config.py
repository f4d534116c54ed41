"""``.folio/config.toml`` (committed, never secrets) and ``.folio/config.local.toml`` (local).

The local file overrides the committed one key by key; it is where a machine-specific
store path or a personal default remote goes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from folio._fs import atomic_write
from folio.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_TEXT = """\
# folio configuration (committed to git: never put secrets here).
[core]
# How checkout puts files in place: auto (reflink where possible, else copy), copy,
# reflink, hardlink or symlink.
link = "auto"
# Seconds a second writer waits for the repository lock before giving up.
lock_timeout = 60
# `trust_pickles = true` (load pickles and full models without allow_pickle=True) is read
# from config.local.toml only: this file comes with pull requests.

[capture]
# Outputs that `folio capture` (and the pre-commit hook) track, e.g. ["results/", "plots/*.png"].
outputs = []
"""

LINK_MODES = ("auto", "copy", "reflink", "hardlink", "symlink")


def _load(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", path=path) from None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass
class Config:
    """Settings read from both files; ``raw`` keeps everything for later features."""

    path: Path
    local_path: Path
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, folio_dir: Path) -> Config:
        shared, local = folio_dir / "config.toml", folio_dir / "config.local.toml"
        return cls(shared, local, _merge(_load(shared), _load(local)))

    def get(self, section: str, key: str, default: Any = None) -> Any:
        value = self.raw.get(section, {})
        return value.get(key, default) if isinstance(value, dict) else default

    @property
    def link_mode(self) -> str:
        mode = self.get("core", "link", "auto")
        if mode not in LINK_MODES:
            raise ConfigError(f"core.link must be one of {', '.join(LINK_MODES)}, not {mode!r}",
                              path=self.path)
        return str(mode)

    @property
    def lock_timeout(self) -> float:
        value = self.get("core", "lock_timeout", 60)
        if not isinstance(value, (int, float)) or value < 0:
            raise ConfigError("core.lock_timeout must be a non-negative number", path=self.path)
        return float(value)

    @property
    def trust_pickles(self) -> bool:
        """Read from ``config.local.toml`` only: the committed file arrives with other
        people's pull requests, and trusting pickles lets their author run code here."""
        core = _load(self.local_path).get("core", {})
        return isinstance(core, dict) and core.get("trust_pickles", False) is True

    @property
    def store_path(self) -> str | None:
        value = self.get("core", "store")
        return str(value) if value else None

    @property
    def capture_outputs(self) -> list[str]:
        value = self.get("capture", "outputs", [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError("capture.outputs must be a list of strings", path=self.path)
        return value

    def update(self, section_path: list[str], values: dict[str, Any] | None,
               *, local: bool = False) -> None:
        """Set (or with ``values=None`` remove) a table, rewriting one file atomically.

        Comments in the rewritten file are not kept: keep notes in docs, not in config.
        """
        import tomli_w

        path = self.local_path if local else self.path
        data = _load(path)
        node = data
        for part in section_path[:-1]:
            node = node.setdefault(part, {})
        if values is None:
            node.pop(section_path[-1], None)
        else:
            node.setdefault(section_path[-1], {}).update(values)
        atomic_write(path, tomli_w.dumps(data).encode("utf-8"))
        self.raw = _merge(_load(self.path), _load(self.local_path))
