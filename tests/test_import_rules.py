"""What import-linter cannot see: the one pyarrow import it is told to ignore stays type-only.

import-linter counts imports under ``if TYPE_CHECKING:`` like any other and squashes
``pyarrow.compute`` into ``pyarrow``, so pyproject's ``ignore_imports = ["folio.repo -> pyarrow"]``
would also let a run-time import through. This test keeps it honest (docs/architecture.md).
"""

from __future__ import annotations

import ast
from pathlib import Path

import folio

SRC = Path(folio.__file__).parent
ARROW = ("pyarrow", "numpy")


def _under_type_checking(tree: ast.Module) -> set[int]:
    """Line numbers of the statements inside `if TYPE_CHECKING:` blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in (
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
            "_typing.TYPE_CHECKING",  # folio/__init__.py keeps its namespace clean
        ):
            for stmt in node.body:
                for inner in ast.walk(stmt):
                    if hasattr(inner, "lineno"):
                        lines.add(inner.lineno)
    return lines


def _arrow_imports(tree: ast.Module) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, n) for n in names if n.split(".")[0] in ARROW]
    return found


def test_repo_imports_pyarrow_and_numpy_only_for_type_checking() -> None:
    tree = ast.parse((SRC / "repo.py").read_text(encoding="utf-8"))
    type_only = _under_type_checking(tree)
    imports = _arrow_imports(tree)
    assert imports, "repo.py no longer imports pyarrow: drop the ignore_imports entry in pyproject"
    assert [(line, name) for line, name in imports if line not in type_only] == []


def test_the_check_sees_a_run_time_import() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pyarrow\n"
        "def f():\n    import pyarrow.compute\n"
    )
    type_only = _under_type_checking(tree)
    assert [line for line, _ in _arrow_imports(tree) if line not in type_only] == [5]


def test_package_init_imports_the_facade_only_for_type_checking() -> None:
    """pyproject's ``ignore_imports = ["folio -> folio.repo"]`` (contract ``facade``) stands
    for a type-only import: at run time ``folio/__init__.py`` loads Repo through importlib."""
    tree = ast.parse((SRC / "__init__.py").read_text(encoding="utf-8"))
    type_only = _under_type_checking(tree)
    facade = [node.lineno for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module == "folio.repo"]
    assert facade, "folio/__init__.py no longer names folio.repo: drop the ignore_imports entry"
    assert [line for line in facade if line not in type_only] == []
