"""Google Cloud Storage remotes (``gs://bucket/prefix``) through obstore.

Credentials are never stored by folio. They come from Google's application default
credentials chain, as object_store reads it: a service account file named by
``GOOGLE_SERVICE_ACCOUNT`` or ``GOOGLE_APPLICATION_CREDENTIALS``, else gcloud's
``application_default_credentials.json`` (``gcloud auth application-default login``), else
the metadata server of a GCE VM, GKE pod or Cloud Run job. A refusal names the
credentials used; none found names every source looked in.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import ClassVar

from obstore.store import GCSStore

from folio.remote.objstore import ObjectStoreBackend, store_kwargs

METADATA = "http://metadata.google.internal"
_FILE_ENV = ("GOOGLE_SERVICE_ACCOUNT", "GOOGLE_SERVICE_ACCOUNT_PATH",
             "GOOGLE_APPLICATION_CREDENTIALS")
_DENIED_CODES = frozenset({"AccessDenied", "InvalidSecurity", "UserProjectAccessDenied",
                           "AuthenticationRequired", "ExpiredToken"})
_CREDENTIAL_REQUEST = re.compile(r"metadata\.google\.internal|169\.254\.169\.254|"
                                 r"computeMetadata|oauth2\.googleapis|token",
                                 re.IGNORECASE)


def adc_file() -> Path:
    """Where ``gcloud auth application-default login`` leaves its credentials."""
    config = os.environ.get("CLOUDSDK_CONFIG") or os.path.expanduser("~/.config/gcloud")
    return Path(config) / "application_default_credentials.json"


class GCSBackend(ObjectStoreBackend):
    """Keys live under ``gs://bucket/prefix/``."""

    PROVIDER = "Google Cloud"
    MISSING_CODES = frozenset({"NoSuchKey"})
    DENIED_CODES = _DENIED_CODES
    HINTS: ClassVar[dict[str, str]] = {"NoSuchBucket": "the bucket does not exist"}
    CREDENTIAL_REQUEST = _CREDENTIAL_REQUEST

    def __init__(self, bucket: str, prefix: str = "", *, endpoint: str | None = None,
                 allow_http: bool = False) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._credentials_used = _source()
        kwargs = store_kwargs(self.prefix, allow_http)
        if endpoint:
            kwargs["base_url"] = endpoint
        if self._credentials_used and self._credentials_used.startswith("gcloud"):
            kwargs["application_credentials"] = str(adc_file())  # CLOUDSDK_CONFIG respected
        self._store = self._configure(lambda: GCSStore(bucket, **kwargs))

    def describe(self) -> str:
        return f"gs://{self.bucket}/{self.prefix}" if self.prefix else f"gs://{self.bucket}"

    def looked_for(self, *, failed: bool = False) -> str:
        state = "unreachable or no service account" if failed else "tried last"
        return (f"credentials looked for: {'/'.join(_FILE_ENV)} (not set), gcloud "
                f"application default credentials at {adc_file()} (not found), "
                f"metadata server at {METADATA} ({state})")


def _source() -> str | None:
    """Which credentials object_store will take; None: the metadata server (or nothing)."""
    for name in _FILE_ENV:
        if os.environ.get(name):
            return f"service account file from {name}"
    if os.environ.get("GOOGLE_SERVICE_ACCOUNT_KEY"):
        return "service account key from GOOGLE_SERVICE_ACCOUNT_KEY"
    if adc_file().is_file():
        return f"gcloud application default credentials ({adc_file()})"
    return None
