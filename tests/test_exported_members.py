"""The public API is ``folio.__all__``, and it is complete (as httpx's test of the same name).

Every name in ``__all__`` exists; every public name of the package is in ``__all__``; every
type a public method of ``Repo`` or ``Folio`` returns, and every error a user may catch, is
exported, so a user can annotate and ``except`` with ``folio.X`` alone.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types
import typing

import folio
import folio.errors
from folio.bundle import Folio
from folio.repo import Repo
from folio.workspace import Workspace

# Repo is the facade over the Workspace kernel: the kernel's own members (git, stat_cache,
# clean_marks, read_manifest ...) return internal types (GitRepo, StatCache, ...) that are
# not exported; the verbs Repo itself defines are the public surface checked here.
KERNEL_MEMBERS = set(vars(Workspace)) - set(vars(Repo))


def test_every_name_in_all_exists() -> None:
    for name in folio.__all__:
        assert getattr(folio, name) is not None, name


def test_every_public_name_is_in_all() -> None:
    for name in folio.__all__:
        getattr(folio, name)  # loads the lazy names into the namespace
    public = {name for name, value in vars(folio).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert public == set(folio.__all__) - {"__version__"}
    assert dir(folio) == sorted(folio.__all__)


def _folio_classes() -> dict[str, type]:
    """Every class defined in folio, by name: resolves the names annotations import only
    for type checking."""
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(folio.__path__, "folio."):
        if info.name == "folio.__main__":
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if inspect.isclass(value) and value.__module__.startswith("folio."):
                found.setdefault(value.__name__, value)
    return found


def _types_in(hint: object) -> set[type]:
    found: set[type] = set()
    args = typing.get_args(hint)
    if args:
        origin = typing.get_origin(hint)
        if isinstance(origin, type):
            found.add(origin)
        for arg in args:
            found |= _types_in(arg)
    elif isinstance(hint, type):
        found.add(hint)
    return found


def _returned_types(cls: type) -> dict[str, set[type]]:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    names: dict[str, object] = {**_folio_classes(), "pa": pa, "np": np, "pd": pd}
    returned = {}
    for name, member in inspect.getmembers(cls):
        if name.startswith("_") or name in KERNEL_MEMBERS:
            continue
        function = member.fget if isinstance(member, property) else member
        if not callable(function):
            continue
        hints = typing.get_type_hints(function, localns=names)
        if function.__module__.startswith("folio"):  # not the Mapping mixins of Folio
            assert "return" in hints, f"{cls.__name__}.{name} has no return annotation"
        returned[name] = _types_in(hints.get("return"))
    return returned


def test_every_returned_type_is_exported() -> None:
    missing = []
    for cls in (Repo, Folio):
        for method, returned in _returned_types(cls).items():
            for t in returned:
                if t.__module__.startswith("folio") and getattr(folio, t.__name__, None) is not t:
                    missing.append(f"{cls.__name__}.{method} -> {t.__module__}.{t.__qualname__}")
    assert not missing, missing


def test_the_public_methods_were_seen() -> None:
    # Guards the test above against finding nothing to check.
    returned = _returned_types(Repo)
    assert folio.SnapshotInfo in returned["tags"]
    assert folio.TargetStatus in returned["status"]
    assert folio.ItemInfo in _returned_types(Folio)["info"]


def test_every_error_is_exported() -> None:
    errors = [value for value in vars(folio.errors).values()
              if inspect.isclass(value) and issubclass(value, folio.errors.FolioError)]
    assert len(errors) > 20
    for error in errors:
        assert getattr(folio, error.__name__) is error
