"""The git layer: the only place that talks to git (pygit2 or the git binary)."""

from typing import Any

from folio.git.discover import find_worktree
from folio.git.names import is_valid_ref_component, validate_ref_component

__all__ = [
    "FOLIO_REFS",
    "FOLIO_REFSPEC",
    "MANIFESTS_PREFIX",
    "RUNS_PREFIX",
    "SNAPSHOTS_PREFIX",
    "TRAILER_BYTES",
    "TRAILER_CODE_COMMIT",
    "TRAILER_CODE_DIRTY",
    "TRAILER_FILES",
    "TRAILER_KIND",
    "TRAILER_NAME",
    "CommitInfo",
    "GitRepo",
    "find_worktree",
    "format_message",
    "is_valid_ref_component",
    "parse_trailers",
    "validate_ref_component",
]


_EAGER = frozenset({"find_worktree", "is_valid_ref_component", "validate_ref_component"})
_FROM_REPO = frozenset(__all__) - _EAGER


def __getattr__(name: str) -> Any:
    # folio.git.repo is loaded on first use: commands that never touch git start faster.
    if name in _FROM_REPO:
        from folio.git import repo

        return getattr(repo, name)
    raise AttributeError(f"module 'folio.git' has no attribute {name!r}")
