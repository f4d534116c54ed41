"""folio: a git-integrated, versioned data store.

    import folio
    repo = folio.Repo(".")
    repo.add(["data/raw"])

Public names are loaded lazily so that ``import folio`` (and the CLI) start fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Repo": "folio.repo",
    "FolioError": "folio.errors",
    "Folio": "folio.bundle",
    "BundleWarning": "folio.bundle",
    "register_codec": "folio.codecs",
    "CodecWarning": "folio.codecs",
}

__all__ = ["BundleWarning", "CodecWarning", "Folio", "FolioError", "Repo", "__version__",
           "register_codec"]

if TYPE_CHECKING:
    from folio.bundle import BundleWarning, Folio
    from folio.codecs import CodecWarning, register_codec
    from folio.errors import FolioError
    from folio.repo import Repo


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'folio' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
