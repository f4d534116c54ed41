"""The one exception hierarchy of folio.

Every failure a user can cause or meet is a ``FolioError``; the CLI turns it into one line
on stderr and exit code 1. Anything else escaping is a bug.

    FolioError
    ├── NotARepositoryError        not inside a git work tree / folio not initialised
    ├── PathError                  a path escapes the repo, enters .git/.folio, bad symlink
    │   └── OverlapError           a new target overlaps an existing one
    ├── ManifestError              a manifest cannot be read (names file and line)
    │   └── FormatVersionError     unknown major version
    ├── ObjectError
    │   ├── CorruptObjectError     bytes do not match their sha256
    │   └── MissingObjectError     an object named by a manifest is not in the store
    ├── LockTimeoutError           another writer holds the lock (names the holder)
    ├── RefError
    │   ├── InvalidNameError       a tag or run name that git would refuse (a ValueError)
    │   ├── TagExistsError         tags are immutable
    │   ├── UnknownRevisionError   neither a tag, a run nor a git revision
    │   └── RefConflictError       compare-and-swap on a ref lost a race
    ├── UnsavedChangesError        checkout would overwrite content the store lacks
    ├── ConfigError                config.toml is malformed or a setting is invalid
    ├── RemoteError                remote unreachable, misconfigured or refusing
    ├── CodecError                 a value cannot be encoded or decoded
    │   ├── UnsupportedTypeError   no codec for this object (also a TypeError)
    │   └── PickleNotAllowedError  loading would run code from elsewhere
    ├── ItemNameError              an item name inside a bundle is not a safe relative path
    │                              (also a ValueError)
    ├── ItemNotFoundError          no such item (also a KeyError, for mapping users)
    ├── ArgumentError              a bad argument value (also a ValueError)
    │   └── ArgumentTypeError      an argument of the wrong type (also a TypeError)
    └── ReadOnlyError              a write to a bundle opened read-only or to a snapshot view

Bad names and bad arguments are also ValueError / TypeError, and a missing item also a
KeyError, so code written for DataFolio or AutoStore (``except KeyError``, ``except
ValueError``) keeps catching them; ``except FolioError`` catches them all.
"""

from __future__ import annotations

from pathlib import PurePath


class FolioError(Exception):
    """Root of every error folio raises on purpose.

    ``path`` and ``line`` locate the problem; ``str()`` is always a single line.
    """

    def __init__(
        self, message: str, *, path: str | PurePath | None = None, line: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        text = f"{where}{self.message}"
        return " ".join(text.split("\n"))


class NotARepositoryError(FolioError):
    """Raised outside a git work tree, or where folio needs an initialised repo."""


class PathError(FolioError):
    """A path that folio refuses to touch: outside the repo, inside .git or .folio, unsafe."""


class OverlapError(PathError):
    """A new target contains, or lies inside, an already tracked target."""


class ManifestError(FolioError):
    """A manifest that cannot be parsed: truncated, malformed or hostile."""


class FormatVersionError(ManifestError):
    """A manifest written by a newer, incompatible folio."""


class ObjectError(FolioError):
    """Problems with objects in a store."""


class CorruptObjectError(ObjectError):
    """Bytes read do not hash to the name they were stored under."""

    def __init__(self, message: str, *, path: str | PurePath | None = None,
                 expected: str | None = None, got: str | None = None) -> None:
        super().__init__(message, path=path)
        self.expected = expected
        self.got = got


class MissingObjectError(ObjectError):
    """An object that a manifest names is not in the store."""

    def __init__(self, message: str, *, path: str | PurePath | None = None,
                 oids: list[str] | None = None) -> None:
        super().__init__(message, path=path)
        self.oids = oids or []


class LockTimeoutError(FolioError):
    """The writer lock could not be taken in time."""


class RefError(FolioError):
    """Problems with snapshot and run refs."""


class InvalidNameError(RefError, ValueError):
    """A tag or run name that is not a valid git ref component."""


class TagExistsError(RefError):
    """A snapshot tag that already exists: tags are immutable."""


class UnknownRevisionError(RefError):
    """A name that is neither a snapshot tag, a run nor a git revision."""


class RefConflictError(RefError):
    """A ref moved while we were updating it (compare-and-swap failed)."""


class UnsavedChangesError(FolioError):
    """Checkout would overwrite tracked content that no object in the store holds."""

    def __init__(self, message: str, *, paths: list[str] | None = None) -> None:
        super().__init__(message)
        self.paths = paths or []


class ConfigError(FolioError):
    """A malformed config file or an invalid setting."""


class RemoteError(FolioError):
    """A remote that is unreachable, misconfigured or refusing."""


class CodecError(FolioError):
    """A value that cannot be encoded or decoded."""


class UnsupportedTypeError(CodecError, TypeError):
    """No registered codec handles this object."""


class PickleNotAllowedError(CodecError):
    """Loading would unpickle bytes that this repo does not trust."""


class ItemNameError(FolioError, ValueError):
    """An item name that is not a safe relative path inside its bundle."""


class ItemNotFoundError(FolioError, KeyError):
    """No item of that name; also a KeyError so mapping idioms keep working.

    Its message always says "not found" (peer libraries' users match on it).
    """

    def __str__(self) -> str:  # KeyError would repr() the message
        return FolioError.__str__(self)


class ArgumentError(FolioError, ValueError):
    """An argument whose value folio cannot use (also a ValueError, as Python's own)."""


class ArgumentTypeError(ArgumentError, TypeError):
    """An argument of the wrong type (also a TypeError)."""


class ReadOnlyError(FolioError):
    """A write to a bundle opened with ``read_only=True``, or to a snapshot's view."""


def summarize_paths(paths: list[str], limit: int = 3) -> str:
    """Name the first few paths and how many more, for one-line messages."""
    shown = ", ".join(paths[:limit])
    rest = len(paths) - limit
    return f"{shown} and {rest} more" if rest > 0 else shown


class UnsafeLinkError(PathError):
    """A symlink (or an entry of the wrong type) where folio keeps its own files: under
    ``.folio/``, in the object store or in a directory remote. folio never follows one."""


class OversizeError(FolioError):
    """An input (archive member, remote object, file) larger than the size it declared or
    than folio's bound for it: refused as soon as the extra bytes arrive, nothing kept."""


class NotAcceptedError(ConfigError):
    """A store path, link mode or remote from the committed config that this clone has not
    accepted (``folio accept``): a commit must not choose where bytes go."""


class ShardMissingError(ManifestError):
    """A shard the main manifest file names is not there: a writer replaced the manifest
    since the main file was read (a lock-free reader reads again), or it is damaged."""


class ChangedMeanwhileError(FolioError):
    """A working file changed after a command checked it and before it was replaced."""


class UntrustedDataError(PickleNotAllowedError):
    """An item whose bytes would be read as pointers or run code while decoded (an .npy of
    Python objects, a Parquet column of an extension type): trusted like a pickle, or not read."""
