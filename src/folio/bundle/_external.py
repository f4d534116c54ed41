"""Reading what a reference names: a local file, or an object in S3 (``s3://bucket/key``).

References are not folio's data, so nothing here is verified by hash. S3 goes through
folio's own S3 backend (folio.remote: obstore), with the standard AWS credentials and
endpoint variables (``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` for MinIO or moto);
other schemes (https://, gs://) are refused: read ``data.<name>.path`` yourself.
"""

from __future__ import annotations

import os
from pathlib import Path

from folio.bundle._io import read_regular
from folio.errors import FolioError, PathError


def local_path(uri: str, root: Path) -> Path | None:
    """The local file a reference names, or None for remote URIs (s3://, https://...)."""
    if uri.startswith("file://"):
        return Path(uri[len("file://"):])
    if "://" in uri:
        return None
    path = Path(os.path.expanduser(uri))
    return path if path.is_absolute() else root / path


def read_uri(uri: str, name: str, root: Path, *, tables: bool) -> bytearray:
    """The bytes at ``uri``; errors name item ``name`` and the URI."""
    local = local_path(uri, root)
    if local is not None:
        return _read_local(local, name)
    if uri.startswith("s3://") and tables:
        return _read_s3(uri, name)
    readable = "s3:// tables" if tables else "tables recorded by reference_table()"
    raise FolioError(f"item {name!r} is a reference to {uri}; folio does not fetch external "
                     f"data other than local files and {readable}: read data[name].path "
                     "with your own reader")


def _read_local(path: Path, name: str) -> bytearray:
    try:
        return read_regular(path)
    except PathError as exc:  # a FIFO or a device: never read without end
        raise PathError(f"item {name!r}: the referenced file {exc.message}",
                        path=str(path)) from None
    except OSError as exc:
        raise FolioError(f"item {name!r}: cannot read the referenced file: "
                         f"{exc.strerror or exc}", path=str(path)) from None


def _read_s3(uri: str, name: str) -> bytearray:
    from folio.remote.urls import open_backend

    bucket, _, key = uri[len("s3://"):].partition("/")
    if not key or key.endswith("/"):
        raise FolioError(f"item {name!r}: {uri} names no object (s3://bucket/key)")
    out, buffer = bytearray(), bytearray(1 << 20)
    try:
        reader = open_backend(f"s3://{bucket}").open(key)
        try:
            while n := reader.readinto(buffer):
                out += memoryview(buffer)[:n]
        finally:
            reader.close()
    except FolioError as exc:
        raise type(exc)(f"item {name!r}: cannot read the referenced table: {exc.message}",
                        path=uri) from None
    except ValueError:  # the backend's key check: parts of [A-Za-z0-9._-] only
        raise FolioError(f"item {name!r}: folio's S3 backend reads keys made of letters, "
                         "digits, '.', '_' and '-' between slashes only; read "
                         "data[name].path with your own reader", path=uri) from None
    return out
