"""The git layer: the only place that talks to git (pygit2 or the git binary)."""

from folio.git.discover import find_worktree
from folio.git.names import is_valid_ref_component, validate_ref_component
from folio.git.repo import (
    FOLIO_REFS,
    FOLIO_REFSPEC,
    MANIFESTS_PREFIX,
    RUNS_PREFIX,
    SNAPSHOTS_PREFIX,
    TRAILER_BYTES,
    TRAILER_CODE_COMMIT,
    TRAILER_CODE_DIRTY,
    TRAILER_FILES,
    TRAILER_KIND,
    TRAILER_NAME,
    CommitInfo,
    GitRepo,
    format_message,
    parse_trailers,
)

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
