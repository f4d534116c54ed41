"""What every obstore-backed remote shares: requests, retries, streaming, errors.

obstore wraps the Rust ``object_store`` crate: requests run on a native runtime without the
GIL, multipart uploads and retries are built in, and one API reaches S3, GCS, Azure and
plain HTTP. Each call is synchronous; folio gets its concurrency from a thread pool in
transfer.py. A provider's module (s3, gcs, azure, http) only builds its store and says how
its credentials are found; this class does the rest, so all of them pass the same contract
tests (tests/test_remote_backends.py).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import obstore
from obstore.exceptions import AlreadyExistsError
from obstore.exceptions import BaseError as ObstoreError

from folio.errors import MissingObjectError, RemoteError
from folio.hashing import CHUNK
from folio.remote.base import ChunkReader, check_key

PART_SIZE = 8 << 20  # multipart part size; memory per upload is about PART_SIZE * PART_JOBS
PART_JOBS = 4
_CLIENT = {
    "connect_timeout": "10s",
    "timeout": "30min",  # whole request: a multi-GiB streamed GET must not be cut at 30 s
    "read_timeout": "60s",  # ...but a stalled connection is noticed and retried
}
RETRY: Any = {  # obstore.store.RetryConfig
    "max_retries": 4,
    "retry_timeout": timedelta(seconds=120),
    "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=5)},
}
_XML_CODE = re.compile(r"<Code>([^<]+)</Code>")
_STATUS = re.compile(r"status code: (\d{3}[ A-Za-z]*)")
_NETWORK = re.compile(r"HTTP error: ([^,]+)")
_REQUEST = re.compile(r"Error performing ([A-Z]+) (\S+)")
_RETRIES = re.compile(r"after \d+ retries")
_DENIED_STATUS = re.compile(r"status code: (401|403)\b")
_SIGNATURE = re.compile(r"(sig|signature|x-amz-signature|x-goog-signature|token)=[^&\s]*",
                        re.IGNORECASE)


def client_options(allow_http: bool) -> Any:  # obstore.store.ClientConfig
    """obstore's HTTP client settings, the same for every provider."""
    return dict(_CLIENT, allow_http=allow_http)


def store_kwargs(prefix: str, allow_http: bool) -> dict[str, Any]:
    """What every bucket-like store is built with: prefix, retries, client settings."""
    return {"prefix": prefix or None, "retry_config": RETRY,
            "client_options": client_options(allow_http)}


class ObjectStoreBackend:
    """A :class:`folio.remote.base.Backend` over one obstore store.

    Subclasses set ``_store`` (and ``_credentials_used`` where folio chose the credentials)
    in ``__init__``, implement :meth:`describe`, and fill the class attributes below.
    """

    PROVIDER: ClassVar[str] = "object store"  # "AWS", "Azure", ... for messages
    MISSING_CODES: ClassVar[frozenset[str]] = frozenset()  # error codes of an absent key
    DENIED_CODES: ClassVar[frozenset[str]] = frozenset()  # the credentials were refused
    HINTS: ClassVar[dict[str, str]] = {}  # error code -> what it means, in words
    # Requests the provider's own credential chain makes (a metadata service, a token
    # endpoint): an error there means no credentials were found before it.
    CREDENTIAL_REQUEST: ClassVar[re.Pattern[str] | None] = None

    _store: Any
    _credentials_used: str | None = None

    def describe(self) -> str:
        raise NotImplementedError

    def _configure(self, build: Any) -> Any:
        """Run ``build()`` (a store constructor), turning a configuration error into one
        line that names the credentials chosen, if folio chose them."""
        try:
            return build()
        except (ObstoreError, ValueError) as exc:
            used = self._credentials_used
            raise RemoteError(f"cannot configure the {self.PROVIDER} client: {summary(exc)}"
                              + (f" (credentials: {used})" if used else ""),
                              path=self.describe()) from None

    # -- reading --------------------------------------------------------------------------
    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        for key, size, _ in self.list_dated(prefix):
            yield key, size

    def list_dated(self, prefix: str = "") -> Iterator[tuple[str, int, float]]:
        with self._errors("list", prefix):
            pages = obstore.list(self._store, check_key(prefix) if prefix else None,
                                 chunk_size=1000)
            for page in pages:
                for meta in page:
                    yield meta["path"], meta["size"], meta["last_modified"].timestamp()

    def head(self, key: str) -> int | None:
        """The object's size, or None when it is absent: one HEAD request."""
        try:
            with self._errors("read", key):
                return int(obstore.head(self._store, check_key(key))["size"])
        except MissingObjectError:
            return None

    def open(self, key: str) -> ChunkReader:
        with self._errors("read", key):
            result = obstore.get(self._store, check_key(key))
        return ChunkReader(self._guarded(key, result.stream(min_chunk_size=CHUNK)),
                           result.meta["size"])

    def _guarded(self, key: str, stream: Iterable[bytes]) -> Iterator[bytes]:
        # The body arrives after the headers: a dropped connection surfaces here.
        with self._errors("read", key):
            yield from stream

    def get_range(self, key: str, start: int, end: int) -> memoryview:
        if end <= start:
            return memoryview(b"")
        with self._errors("read", key):
            return memoryview(obstore.get_range(self._store, check_key(key), start=start, end=end))

    # -- writing --------------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes | memoryview) -> None:
        with self._errors("write", key):
            obstore.put(self._store, check_key(key), data, use_multipart=False)

    def put_new(self, key: str, data: bytes) -> bool:
        # A conditional write (S3 If-None-Match: *, Azure and GCS alike): of two racing
        # writers, one is refused and gets False.
        try:
            with self._errors("write", key):
                obstore.put(self._store, check_key(key), data, mode="create",
                            use_multipart=False)
        except RemoteError as exc:
            if isinstance(exc.__cause__ or exc.__context__, AlreadyExistsError):
                return False
            raise
        return True

    def put_file(self, key: str, path: Path) -> None:
        with self._errors("write", key):
            obstore.put(self._store, check_key(key), Path(path), chunk_size=PART_SIZE,
                        max_concurrency=PART_JOBS)

    def put_stream(self, key: str, chunks: Iterable[bytes | memoryview]) -> None:
        # Multipart (Azure: staged blocks): parts stay hidden until completion; if
        # ``chunks`` raises, obstore aborts the upload and the key never appears.
        with self._errors("write", key):
            obstore.put(self._store, check_key(key), iter(chunks), chunk_size=PART_SIZE,
                        max_concurrency=PART_JOBS)

    def delete(self, key: str) -> None:
        with self._errors("delete", key):
            obstore.delete(self._store, check_key(key))

    # -- errors ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _errors(self, action: str, key: str) -> Iterator[None]:
        """Turn obstore's multi-line errors into one-line folio errors naming the remote."""
        try:
            yield
        except FileNotFoundError as exc:  # obstore's NotFound
            if action == "delete":
                return  # absent already (Azure says 404 where S3 says nothing): done
            code = error_code(exc)
            if action == "read" and (code is None or code in self.MISSING_CODES):
                raise MissingObjectError(f"{key} is not on the remote",
                                         path=self.describe()) from None
            raise self._failure(action, key, exc) from None
        except (ObstoreError, OSError) as exc:
            raise self._failure(action, key, exc) from None

    def _failure(self, action: str, key: str, exc: BaseException) -> RemoteError:
        what = f"{action} {key}" if key else action
        return RemoteError(f"{what} failed: {self._detail(exc)}", path=self.describe())

    def _detail(self, exc: BaseException) -> str:
        """What went wrong; for a credential problem, which credentials (never their values)."""
        code = error_code(exc)
        text = str(exc)
        if code in self.DENIED_CODES or _DENIED_STATUS.search(text):
            none = "" if self._credentials_used else f"no {self.PROVIDER} credentials found; "
            return f"access denied ({summary(exc)}); {none}{self.credential_report()}"
        if (self._credentials_used is None and self.CREDENTIAL_REQUEST is not None
                and self.CREDENTIAL_REQUEST.search(text)):
            return (f"no {self.PROVIDER} credentials found ({summary(exc)}); "
                    f"{self.credential_report(failed=True)}")
        hint = self.HINTS.get(code or "")
        return f"{hint} ({summary(exc)})" if hint else summary(exc)

    def credential_report(self, *, failed: bool = False) -> str:
        """Which credentials were used, or every source looked in (names, never values)."""
        if self._credentials_used is not None:
            return f"credentials used: {self._credentials_used}"
        return self.looked_for(failed=failed)

    def looked_for(self, *, failed: bool = False) -> str:
        """Every place the provider's chain looks, with what was found there."""
        return "no credentials are used"


def error_code(exc: BaseException) -> str | None:
    """The provider's error code from an XML error body (S3, GCS's XML API, Azure)."""
    match = _XML_CODE.search(str(exc))
    return match.group(1) if match else None


def summary(exc: BaseException) -> str:
    """obstore's multi-line error condensed: HTTP status and code, or the network failure."""
    # A SAS token or presigned URL from the environment may be in the request's URL.
    text = _SIGNATURE.sub(r"\1=<redacted>", " ".join(str(exc).split("\n", 1)[0].split()))
    text = text or type(exc).__name__
    code = error_code(exc)
    status = _STATUS.search(text)
    if status:
        return f"{status.group(1).strip()}: {code}" if code else status.group(1).strip()
    network = _NETWORK.search(text)
    if network:
        request = _REQUEST.search(text)
        retries = _RETRIES.search(text)
        url = request.group(2).split("?", 1)[0] if request else ""
        where = f" ({request.group(1)} {url})" if request else ""
        tries = f", {retries.group(0)}" if retries else ""
        return f"{network.group(1).strip()}{where}{tries}"
    return text[:300]
