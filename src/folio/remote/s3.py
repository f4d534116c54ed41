"""S3 and S3-compatible remotes (AWS, MinIO, Ceph, R2, moto) through obstore.

obstore wraps the Rust ``object_store`` crate: requests run on a native runtime without the
GIL, multipart uploads and retries are built in, and the same calls reach GCS and Azure.
Each call is synchronous; folio gets its concurrency from a thread pool in transfer.py.

Credentials are never stored by folio: they come from the standard AWS environment
variables, web identity / container / instance roles (obstore's own chain), or, when boto3
is installed, an AWS profile (``profile`` option, ``AWS_PROFILE`` or ``~/.aws`` files).
A refusal (401/403) names the credentials used; none found names every source looked in
(docs/remotes.md, "Credential errors"). Never a secret value.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import obstore
from obstore.exceptions import AlreadyExistsError
from obstore.exceptions import BaseError as ObstoreError
from obstore.store import S3Store

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
_RETRY: dict[str, Any] = {
    "max_retries": 4,
    "retry_timeout": timedelta(seconds=120),
    "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=5)},
}
_XML_CODE = re.compile(r"<Code>([^<]+)</Code>")
_STATUS = re.compile(r"status code: (\d{3}[ A-Za-z]*)")
_NETWORK = re.compile(r"HTTP error: ([^,]+)")
_REQUEST = re.compile(r"Error performing ([A-Z]+) (\S+)")
_RETRIES = re.compile(r"after \d+ retries")
_HINTS = {
    "NoSuchBucket": "the bucket does not exist",
}
# Refusals of the credentials themselves (or of what they may do): the message then says
# which credentials were used, or which were looked for when none were found.
_DENIED_CODES = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                           "ExpiredToken", "InvalidToken", "TokenRefreshRequired",
                           "AllAccessDisabled"})
_DENIED_STATUS = re.compile(r"status code: (401|403)\b")
# Requests obstore's own credential chain makes (instance metadata, container, STS): an
# error there means no credentials were found before it, and this source failed too.
_CREDENTIAL_REQUEST = re.compile(r"/latest/api/token|/latest/meta-data|169\.254\.170\.2|"
                                 r"AssumeRoleWithWebIdentity|sts\.[a-z0-9-]*amazonaws|"
                                 r"credential", re.IGNORECASE)
DEFAULT_METADATA = "http://169.254.169.254"


class S3Backend:
    """Keys live under ``s3://bucket/prefix/``."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint: str | None = None,
                 region: str | None = None, profile: str | None = None,
                 allow_http: bool = False) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._credentials_used: str | None = None
        kwargs: dict[str, Any] = {"prefix": self.prefix or None, "retry_config": _RETRY,
                                  "client_options": dict(_CLIENT, allow_http=allow_http)}
        if endpoint:
            kwargs["endpoint"] = endpoint
        if region:
            kwargs["region"] = region
        if endpoint:
            # obstore lets AWS_ENDPOINT_URL_S3 override ``endpoint`` silently; the endpoint
            # chosen here (config, else environment: folio.remote.urls) is the one used.
            kwargs["aws_endpoint_url_s3"] = endpoint
        try:
            provider, self._credentials_used = _credentials(profile)
            kwargs["credential_provider"] = provider
            self._store = S3Store(bucket, **kwargs)
        except (ObstoreError, ValueError) as exc:
            raise RemoteError(f"cannot configure the S3 client: {_summary(exc)}",
                              path=self.describe()) from None

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

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

    def open(self, key: str) -> ChunkReader:
        with self._errors("read", key):
            result = obstore.get(self._store, check_key(key))
        return ChunkReader(self._guarded(key, result.stream(min_chunk_size=CHUNK)),
                           result.meta["size"])

    def _guarded(self, key: str, stream: Iterable[bytes]) -> Iterator[bytes]:
        # The body arrives after the headers: a dropped connection surfaces here.
        with self._errors("read", key):
            yield from stream

    def head(self, key: str) -> int | None:
        try:
            with self._errors("read", key):
                meta = obstore.head(self._store, check_key(key))
        except MissingObjectError:
            return None
        return int(meta["size"])

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
        # S3's conditional write (If-None-Match: *): of two racing writers, one gets 412.
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
        # Multipart: parts stay hidden until completion; if ``chunks`` raises, obstore
        # aborts the upload and the key never appears.
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
            code = _code(exc)
            if action == "read" and code in (None, "NoSuchKey"):
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
        code = _code(exc)
        text = str(exc)
        if code in _DENIED_CODES or _DENIED_STATUS.search(text):
            return (f"access denied ({_summary(exc)}); "
                    f"{_credential_report(self._credentials_used)}")
        if self._credentials_used is None and _CREDENTIAL_REQUEST.search(text):
            return (f"no AWS credentials found ({_summary(exc)}); "
                    f"{_credential_report(None, failed=True)}")
        hint = _HINTS.get(code or "")
        return f"{hint} ({_summary(exc)})" if hint else _summary(exc)


def _credential_report(used: str | None, *, failed: bool = False) -> str:
    """Which credentials were used, or every source looked in, with what was found there.

    obstore's chain (object_store's AmazonS3Builder) reads, in order: the AWS_ACCESS_KEY_ID
    variables, a web identity token, container credentials, then instance metadata; folio
    puts boto3's profile chain before it when boto3 is installed (:func:`_credentials`).
    """
    if used is not None:
        return f"credentials used: {used}"
    env = os.environ
    profile = env.get("AWS_PROFILE")
    files = env.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
    if _has_boto3():
        profiles = (f"profile {profile!r} (AWS_PROFILE) in {files} (not found)" if profile
                    else f"AWS_PROFILE (not set) / default profile in {files} (not found)")
    else:
        profiles = "AWS profiles in ~/.aws (not read: boto3 is not installed)"
    web = ("web identity (AWS_WEB_IDENTITY_TOKEN_FILE set)"
           if env.get("AWS_WEB_IDENTITY_TOKEN_FILE") else
           "web identity (AWS_WEB_IDENTITY_TOKEN_FILE not set)")
    container = ("container credentials (AWS_CONTAINER_CREDENTIALS_* set)"
                 if env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
                 or env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI") else
                 "container credentials (AWS_CONTAINER_CREDENTIALS_* not set)")
    metadata = env.get("AWS_METADATA_ENDPOINT") or DEFAULT_METADATA
    state = "unreachable or no role" if failed else "tried last"
    return ("credentials looked for: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (not set), "
            f"{profiles}, {web}, {container}, instance metadata at {metadata} ({state})")


def _has_boto3() -> bool:
    import importlib.util

    return importlib.util.find_spec("boto3") is not None


def _credentials(profile: str | None) -> tuple[Any, str | None]:
    """A boto3-backed credential provider where the AWS profile chain applies, else None;
    and where the credentials come from, for error messages (None: obstore's own chain).

    obstore alone reads AWS_* variables, web identity, container and instance roles but not
    ``~/.aws`` profiles; boto3 (optional) covers those, including SSO and assume-role.
    """
    if not profile and os.environ.get("AWS_ACCESS_KEY_ID"):
        # environment keys: obstore's fast path, no boto3 needed
        return None, "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from the environment"
    try:
        import boto3
        import botocore.exceptions
        from obstore.auth.boto3 import Boto3CredentialProvider
    except ImportError:
        if profile:
            raise RemoteError(f"the profile option ({profile!r}) needs boto3: "
                              "pip install boto3") from None
        return None, None
    try:
        session = boto3.Session(profile_name=profile)
        found = session.get_credentials()
        if found is None:
            return None, None  # let obstore try instance and container roles
        name = profile or os.environ.get("AWS_PROFILE")
        where = f"AWS profile {name!r}" if name else "boto3's default chain"
        return Boto3CredentialProvider(session), f"{where} (found by boto3: {found.method})"
    except botocore.exceptions.BotoCoreError as exc:
        raise RemoteError(f"AWS profile {profile!r}: {exc}") from None


def _code(exc: BaseException) -> str | None:
    match = _XML_CODE.search(str(exc))
    return match.group(1) if match else None


def _summary(exc: BaseException) -> str:
    """obstore's multi-line error condensed: HTTP status and S3 code, or the network failure."""
    text = " ".join(str(exc).split("\n", 1)[0].split()) or type(exc).__name__
    code = _code(exc)
    status = _STATUS.search(text)
    if status:
        return f"{status.group(1).strip()}: {code}" if code else status.group(1).strip()
    network = _NETWORK.search(text)
    if network:
        request = _REQUEST.search(text)
        retries = _RETRIES.search(text)
        where = f" ({request.group(1)} {request.group(2)})" if request else ""
        tries = f", {retries.group(0)}" if retries else ""
        return f"{network.group(1).strip()}{where}{tries}"
    return text[:300]
