"""Recognise objects of optional libraries without importing those libraries.

An object of a library's type can only exist once that library is imported, so looking at
class names and modules first keeps ``import folio`` from paying for pandas, polars or torch.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from folio.errors import CodecError


def type_is(obj: object, module_prefix: str, qualname: str) -> bool:
    """True when ``type(obj)`` itself is ``qualname`` from a module under ``module_prefix``."""
    cls = type(obj)
    return cls.__qualname__ == qualname and _under(cls.__module__, module_prefix)


def derives_from(obj: object, module_prefix: str, qualname: str) -> bool:
    """True when some class in ``type(obj).__mro__`` is ``qualname`` under ``module_prefix``."""
    return any(
        cls.__qualname__ == qualname and _under(cls.__module__, module_prefix)
        for cls in type(obj).__mro__
    )


def type_name(obj: object) -> str:
    """``module.QualName`` of the object's type, for messages and metadata."""
    cls = type(obj)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def require(module: str, codec_name: str) -> ModuleType:
    """Import an optional library, or say which one the item type needs."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".")[0]
        raise CodecError(
            f"item type {codec_name!r} needs {package}, which is not installed here "
            f"(pip install {_PIP_NAMES.get(package, package)})"
        ) from exc


_PIP_NAMES = {"sklearn": "scikit-learn"}


def _under(module: str | None, prefix: str) -> bool:
    return module is not None and (module == prefix or module.startswith(prefix + "."))
