"""folio: a git-integrated, versioned data store.

    import folio
    repo = folio.Repo(".")
    repo.add(["data/raw"])

The public API is what ``__all__`` names: ``Repo`` and ``Folio``, the result types their
methods return, and every error a user may catch (all below ``FolioError``). Names are loaded
lazily, on first use, so that ``import folio`` (and the CLI) start fast; type checkers see
them through the imports below. ``tests/test_exported_members.py`` keeps this list complete.
"""

import typing as _typing
from importlib import import_module as _import_module

__version__ = "0.1.0"

_ERRORS = (
    "ArgumentError", "ArgumentTypeError", "ReadOnlyError",
    "ChangedMeanwhileError", "CodecError", "ConfigError", "CorruptObjectError", "FolioError",
    "FormatVersionError", "InvalidNameError", "ItemNameError", "ItemNotFoundError",
    "LockTimeoutError", "ManifestError", "MissingObjectError", "NotAcceptedError",
    "NotARepositoryError", "ObjectError", "OverlapError", "OversizeError", "PathError",
    "PickleNotAllowedError", "RefConflictError", "RefError", "RemoteError", "ShardMissingError",
    "TagExistsError", "UnknownRevisionError", "UnsafeLinkError", "UnsavedChangesError",
    "UnsupportedTypeError", "UntrustedDataError",
)

# Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "Repo": "folio.repo",
    "AddResult": "folio.repo",
    "Folio": "folio.bundle",
    "BundleMetadata": "folio.bundle",
    "BundleWarning": "folio.bundle",
    "DataAccessor": "folio.bundle",
    "ItemInfo": "folio.bundle",
    "ItemPath": "folio.bundle",
    "register_codec": "folio.codecs",
    "CodecWarning": "folio.codecs",
    "ArchiveResult": "folio.ops.archive",
    "Capture": "folio.ops.outputs",
    "CheckoutResult": "folio.ops.checkout",
    "PendingSetting": "folio.config",
    "DiffResult": "folio.ops.diff",
    "GcResult": "folio.ops.maintenance",
    "VerifyResult": "folio.ops.maintenance",
    "Entry": "folio.manifest",
    "Manifest": "folio.manifest",
    "TransferResult": "folio.ops.transfer",
    "VerifiedReader": "folio.ops.read",
    "VersionInfo": "folio.ops.read",
    "RecoveryRecord": "folio.ops.recovery",
    "Restored": "folio.ops.recovery",
    "RemoteGcResult": "folio.ops.remote_gc",
    "RemoteSpec": "folio.ops.remotes",
    "Side": "folio.revisions",
    "SnapshotInfo": "folio.ops.snapshots",
    "TargetStatus": "folio.worktree.scan",
    **dict.fromkeys(_ERRORS, "folio.errors"),
}

__all__ = [
    "AddResult", "ArchiveResult", "ArgumentError", "ArgumentTypeError", "BundleMetadata",
    "BundleWarning", "Capture",
    "ChangedMeanwhileError", "CheckoutResult", "CodecError", "CodecWarning", "ConfigError",
    "CorruptObjectError", "DataAccessor", "DiffResult", "Entry", "Folio", "FolioError",
    "FormatVersionError", "GcResult", "InvalidNameError", "ItemInfo", "ItemNameError",
    "ItemNotFoundError", "ItemPath", "LockTimeoutError", "Manifest", "ManifestError",
    "MissingObjectError", "NotARepositoryError", "NotAcceptedError", "ObjectError",
    "OverlapError", "OversizeError", "PathError", "PendingSetting", "PickleNotAllowedError",
    "ReadOnlyError", "RecoveryRecord", "RefConflictError", "RefError", "RemoteError",
    "RemoteGcResult", "RemoteSpec", "Repo",
    "Restored", "ShardMissingError", "Side", "SnapshotInfo", "TagExistsError", "TargetStatus",
    "TransferResult", "UnknownRevisionError", "UnsafeLinkError", "UnsavedChangesError",
    "UnsupportedTypeError", "UntrustedDataError", "VerifiedReader", "VerifyResult",
    "VersionInfo", "__version__", "register_codec",
]

if _typing.TYPE_CHECKING:
    from folio.bundle import BundleMetadata, BundleWarning, DataAccessor, Folio, ItemInfo, ItemPath
    from folio.codecs import CodecWarning, register_codec
    from folio.config import PendingSetting
    from folio.errors import (
        ArgumentError,
        ArgumentTypeError,
        ChangedMeanwhileError,
        CodecError,
        ConfigError,
        CorruptObjectError,
        FolioError,
        FormatVersionError,
        InvalidNameError,
        ItemNameError,
        ItemNotFoundError,
        LockTimeoutError,
        ManifestError,
        MissingObjectError,
        NotAcceptedError,
        NotARepositoryError,
        ObjectError,
        OverlapError,
        OversizeError,
        PathError,
        PickleNotAllowedError,
        ReadOnlyError,
        RefConflictError,
        RefError,
        RemoteError,
        ShardMissingError,
        TagExistsError,
        UnknownRevisionError,
        UnsafeLinkError,
        UnsavedChangesError,
        UnsupportedTypeError,
        UntrustedDataError,
    )
    from folio.manifest import Entry, Manifest
    from folio.ops.archive import ArchiveResult
    from folio.ops.checkout import CheckoutResult
    from folio.ops.diff import DiffResult
    from folio.ops.maintenance import GcResult, VerifyResult
    from folio.ops.outputs import Capture
    from folio.ops.read import VerifiedReader, VersionInfo
    from folio.ops.recovery import RecoveryRecord, Restored
    from folio.ops.remote_gc import RemoteGcResult
    from folio.ops.remotes import RemoteSpec
    from folio.ops.snapshots import SnapshotInfo
    from folio.ops.transfer import TransferResult
    from folio.repo import AddResult, Repo
    from folio.revisions import Side
    from folio.worktree.scan import TargetStatus


def __getattr__(name: str) -> _typing.Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'folio' has no attribute {name!r}")
    value = getattr(_import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
