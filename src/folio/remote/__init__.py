"""Remotes: where objects go on push and come from on pull (S3, GCS, Azure, HTTP, directories).

Layers, lowest first: ``base`` (the Backend protocol and key layout) <- ``local`` and
``objstore`` <- ``s3`` / ``gcs`` / ``azure`` / ``http`` (backends) <- ``urls`` (URL ->
backend); ``packfile`` (pack index format) <- ``catalog``
(what a remote holds) <- ``plan`` (grouping into requests) <- ``transfer`` (push/pull).
"""

from folio.remote.azure import AzureBackend
from folio.remote.base import Backend
from folio.remote.gcs import GCSBackend
from folio.remote.http import HTTPBackend
from folio.remote.local import DirectoryBackend
from folio.remote.s3 import S3Backend
from folio.remote.transfer import TransferStats, fetch_object, pull, push, remote_has
from folio.remote.urls import open_backend

__all__ = [
    "AzureBackend",
    "Backend",
    "DirectoryBackend",
    "GCSBackend",
    "HTTPBackend",
    "S3Backend",
    "TransferStats",
    "fetch_object",
    "open_backend",
    "pull",
    "push",
    "remote_has",
]
