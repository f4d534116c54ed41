"""Remotes: where objects go on push and come from on pull (S3-compatible stores, directories).

Layers, lowest first: ``base`` (the Backend protocol and key layout) <- ``local`` / ``s3``
(backends) <- ``urls`` (URL -> backend); ``packfile`` (pack index format) <- ``catalog``
(what a remote holds) <- ``plan`` (grouping into requests) <- ``transfer`` (push/pull).
"""

from folio.remote.base import Backend
from folio.remote.local import DirectoryBackend
from folio.remote.s3 import S3Backend
from folio.remote.transfer import TransferStats, fetch_object, pull, push, remote_has
from folio.remote.urls import open_backend

__all__ = [
    "Backend",
    "DirectoryBackend",
    "S3Backend",
    "TransferStats",
    "fetch_object",
    "open_backend",
    "pull",
    "push",
    "remote_has",
]
