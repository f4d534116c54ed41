"""Remote URLs and options -> a Backend, with one-line errors for everything we refuse.

Accepted: ``s3://bucket[/prefix]``, ``gs://bucket[/prefix]``, Azure's ``az://``,
``azure://``, ``abfs[s]://`` and ``https://ACCOUNT.blob.core.windows.net/...`` forms, any
other ``http(s)://host/path`` (read-only), ``file:///abs/path`` and plain paths. Options
come from ``[remote.NAME]`` in config.toml, which is committed: secrets there are refused
outright, and so is user info in a URL. An S3 remote without an ``endpoint`` option takes
the one the environment gives (``AWS_ENDPOINT_URL_S3``, else ``AWS_ENDPOINT_URL``), plain
http included: the user set it. Any other plain-http endpoint needs ``allow_http``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from folio.errors import RemoteError
from folio.remote.azure import AzureBackend
from folio.remote.base import Backend
from folio.remote.gcs import GCSBackend
from folio.remote.http import HTTPBackend
from folio.remote.local import DirectoryBackend
from folio.remote.s3 import S3Backend

# AWS's own conventions, most specific first (the AWS CLI and SDKs read them this way).
ENDPOINT_ENV = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")
ALLOW_HTTP_ENV = "AWS_ALLOW_HTTP"
S3_OPTIONS = frozenset({"endpoint", "region", "profile", "allow_http"})
GCS_OPTIONS = frozenset({"endpoint", "allow_http"})
AZURE_OPTIONS = frozenset({"account", "endpoint", "allow_http", "emulator"})
HTTP_OPTIONS = frozenset({"allow_http"})
AZURE_SCHEMES = ("az", "azure", "abfs", "abfss", "adl")
_SECRETS = frozenset({"access_key_id", "secret_access_key", "session_token", "aws_access_key_id",
                      "aws_secret_access_key", "aws_session_token", "password", "secret", "token",
                      "account_key", "access_key", "master_key", "sas_token", "sas_key", "sas",
                      "client_secret", "bearer_token", "service_account_key", "credentials",
                      "connection_string", "key"})
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
_GCS_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]\Z")
_CONTAINER = re.compile(r"[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]\Z")
_ACCOUNT = re.compile(r"[a-z0-9]{3,24}\Z")
# https://ACCOUNT.blob.core.windows.net/... (and the dfs / Fabric hosts obstore knows)
_AZURE_HOST = re.compile(r"([a-z0-9]{3,24})\.(?:blob|dfs)\.(?:core\.windows\.net|"
                         r"fabric\.microsoft\.com)\Z")
# abfs[s]://FILESYSTEM@ACCOUNT.dfs.core.windows.net/...: the @ is not user info
_ABFS_NETLOC = re.compile(r"([a-z0-9-]+)@([a-z0-9]{3,24})\.(?:dfs|blob)\.(?:core\.windows\.net|"
                          r"fabric\.microsoft\.com)\Z")
_PREFIX_PART = re.compile(r"[A-Za-z0-9._ -]+\Z")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def open_backend(url: str, options: Mapping[str, Any] | None = None, *,
                 base: Path | None = None) -> Backend:
    """The backend for ``url``; relative paths resolve against ``base`` (default: cwd)."""
    options = dict(options or {})
    _refuse_secrets(url, options)
    match = _SCHEME.match(url)
    scheme = match.group(1).lower() if match else ""
    if scheme == "s3":
        return _s3(url, options)
    if scheme == "gs":
        return _gcs(url, options)
    if scheme in AZURE_SCHEMES or (scheme == "https" and _AZURE_HOST.match(_host(url))):
        return _azure(url, scheme, options)
    if scheme in ("http", "https"):
        return _http(url, scheme, options)
    if scheme == "file":
        return _directory(url, _file_url_path(url), options, base)
    if scheme:
        raise RemoteError(f"unsupported remote URL scheme {scheme!r}: use s3://, gs://, az://, "
                          "http(s)://, file:///path or a directory path", path=url)
    if not url.strip():
        raise RemoteError("empty remote URL")
    return _directory(url, url, options, base)


def _refuse_secrets(url: str, options: Mapping[str, Any]) -> None:
    found = sorted(k for k in options if k.lower() in _SECRETS)
    if _SCHEME.match(url) and "@" in urlsplit(url).netloc and not _ABFS_NETLOC.match(
            urlsplit(url).netloc.lower()):
        found.append("user info in the URL")
    if _SCHEME.match(url) and re.search(r"(^|&)(sig|se|sv|token|x-amz-signature|"
                                        r"x-goog-signature)=", urlsplit(url).query, re.I):
        found.append("a signature in the URL's query")
    if found:
        raise RemoteError(f"folio never stores credentials in its config ({', '.join(found)}); "
                          "credentials come from the provider's own chain (environment, "
                          "profile or CLI login, instance identity): docs/remotes.md",
                          path=_redact(url))


def _redact(url: str) -> str:
    """The URL without user info, so an error message never echoes a password."""
    if not _SCHEME.match(url):
        return url
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2], query="").geturl()


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _check_options(url: str, kind: str, options: Mapping[str, Any],
                   known: frozenset[str]) -> None:
    unknown = sorted(set(options) - known)
    if unknown:
        raise RemoteError(f"unknown option(s) for {kind} remote: {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(known))})", path=url)


def _prefix(url: str, parts: list[str], what: str) -> str:
    for part in parts:
        if part in (".", "..") or not _PREFIX_PART.match(part):
            raise RemoteError(f"invalid {what} prefix component {part!r}", path=url)
    return "/".join(parts)


def _no_query(url: str, kind: str) -> None:
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise RemoteError(f"{kind} URL takes no ?query or #fragment", path=url)


def _configured_endpoint(options: Mapping[str, Any], url: str,
                         allow_http: bool) -> str | None:
    """The ``endpoint`` option, checked: an http(s) URL, plain http only with allow_http."""
    endpoint = options.get("endpoint")
    if endpoint is None:
        return None
    endpoint = _endpoint_url(str(endpoint), "endpoint", url)
    if endpoint.startswith("http:") and not allow_http:
        raise RemoteError(f"endpoint {endpoint} is plain http: set allow_http = true to "
                          "send requests unencrypted", path=url)
    return endpoint


def _bucket_url(url: str, options: Mapping[str, Any], scheme: str, known: frozenset[str],
                rule: re.Pattern[str], allowed: str) -> tuple[str, str]:
    """``scheme://bucket/prefix`` checked: options, no query, bucket name, prefix parts."""
    kind = "GCS" if scheme == "gs" else scheme.upper()
    _check_options(url, f"a {scheme}" if scheme == "gs" else f"an {scheme}", options, known)
    _no_query(url, f"a {scheme}" if scheme == "gs" else f"an {scheme}")
    parts = urlsplit(url)
    bucket = parts.netloc
    if not rule.match(bucket) or ".." in bucket:
        raise RemoteError(f"invalid {kind} bucket name {bucket!r} (3-63 characters: "
                          f"{allowed})", path=url)
    return bucket, _prefix(url, [p for p in unquote(parts.path).split("/") if p], kind)


def _gcs(url: str, options: dict[str, Any]) -> GCSBackend:
    bucket, prefix = _bucket_url(url, options, "gs", GCS_OPTIONS, _GCS_BUCKET,
                                 "lowercase letters, digits, dots, hyphens, underscores")
    allow_http = _flag(options.get("allow_http", False), "allow_http", url)
    return GCSBackend(bucket, prefix, endpoint=_configured_endpoint(options, url, allow_http),
                      allow_http=allow_http)


def _azure(url: str, scheme: str, options: dict[str, Any]) -> AzureBackend:
    """``az|azure|adl|abfs[s]://container/prefix``, ``abfs[s]://fs@ACCOUNT.dfs.../prefix``
    or ``https://ACCOUNT.blob.core.windows.net/container/prefix``."""
    _check_options(url, "an azure", options, AZURE_OPTIONS)
    _no_query(url, "an azure")
    parts = urlsplit(url)
    path = [p for p in unquote(parts.path).split("/") if p]
    account = None
    netloc = parts.netloc.lower()
    if scheme == "https":
        account = _AZURE_HOST.match(netloc).group(1)  # type: ignore[union-attr]
        if not path:
            raise RemoteError("an Azure URL needs a container: https://ACCOUNT.blob.core."
                              "windows.net/CONTAINER[/prefix]", path=url)
        container, path = path[0], path[1:]
    elif (abfs := _ABFS_NETLOC.match(netloc)) and scheme in ("abfs", "abfss"):
        container, account = abfs.group(1), abfs.group(2)
    else:
        container = parts.netloc
    if not _CONTAINER.match(container):
        raise RemoteError(f"invalid Azure container name {container!r} (3-63 characters: "
                          "lowercase letters, digits, single hyphens)", path=url)
    option_account = _text(options.get("account"), "account", url)
    if option_account and account and option_account != account:
        raise RemoteError(f"the account option ({option_account!r}) contradicts the URL's "
                          f"account {account!r}", path=url)
    account = account or option_account
    if account and not _ACCOUNT.match(account):
        raise RemoteError(f"invalid Azure storage account name {account!r} (3-24 lowercase "
                          "letters and digits)", path=url)
    emulator = _flag(options.get("emulator", False), "emulator", url)
    allow_http = emulator or _flag(options.get("allow_http", False), "allow_http", url)
    if not (account or emulator or os.environ.get("AZURE_STORAGE_ACCOUNT_NAME")):
        raise RemoteError("an Azure remote needs its storage account: the account option, "
                          "AZURE_STORAGE_ACCOUNT_NAME, or an https://ACCOUNT.blob.core."
                          "windows.net/CONTAINER URL", path=url)
    return AzureBackend(url.rstrip("/"), container, _prefix(url, path, "Azure"),
                        account=account, endpoint=_configured_endpoint(options, url, allow_http),
                        allow_http=allow_http, emulator=emulator)


def _http(url: str, scheme: str, options: dict[str, Any]) -> HTTPBackend:
    _check_options(url, "an http", options, HTTP_OPTIONS)
    _no_query(url, "an http")
    parts = urlsplit(url)
    if not parts.hostname:
        raise RemoteError("an http remote URL needs a host: https://host/path", path=url)
    _prefix(url, [p for p in unquote(parts.path).split("/") if p], "http")
    allow_http = _flag(options.get("allow_http", False), "allow_http", url)
    if scheme == "http" and not allow_http:
        raise RemoteError("plain http: set allow_http = true to read unencrypted", path=url)
    return HTTPBackend(url, allow_http=allow_http)


def _s3(url: str, options: dict[str, Any]) -> S3Backend:
    bucket, prefix = _bucket_url(url, options, "s3", S3_OPTIONS, _BUCKET,
                                 "lowercase letters, digits, dots, hyphens")
    allow_http = _flag(options.get("allow_http", False), "allow_http", url) or \
        _env_flag(ALLOW_HTTP_ENV, url) is True
    endpoint = _configured_endpoint(options, url, allow_http)
    if endpoint is None:
        endpoint, allow_http = _env_endpoint(url, allow_http)
    return S3Backend(bucket, prefix, endpoint=endpoint,
                     region=_text(options.get("region"), "region", url),
                     profile=_text(options.get("profile"), "profile", url),
                     allow_http=allow_http)


def _env_endpoint(url: str, allow_http: bool) -> tuple[str | None, bool]:
    """The endpoint the environment gives (AWS's variables, most specific first), and
    whether plain http may be used: an endpoint the user set is used as given, http
    included, unless ``AWS_ALLOW_HTTP`` says false. A committed endpoint never gets this."""
    for name in ENDPOINT_ENV:
        value = os.environ.get(name, "").strip()
        if value:
            endpoint = _endpoint_url(value, name, url)
            if endpoint.startswith("http:"):
                if _env_flag(ALLOW_HTTP_ENV, url) is False:
                    raise RemoteError(f"{name}={endpoint} is plain http but "
                                      f"{ALLOW_HTTP_ENV} is false", path=url)
                allow_http = True
            return endpoint, allow_http
    return None, allow_http


def _endpoint_url(value: str, name: str, url: str) -> str:
    ep = urlsplit(value)
    if ep.scheme not in ("http", "https") or not ep.netloc:
        raise RemoteError(f"{name} must be an http(s) URL, got {value!r}", path=url)
    return value


def _env_flag(name: str, url: str) -> bool | None:
    """A true/false environment variable; None when unset or empty."""
    value = os.environ.get(name, "").strip()
    return _flag(value, name, url) if value else None


def _file_url_path(url: str) -> str:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise RemoteError(f"file URLs name a local path (file:///path), not host "
                          f"{parts.netloc!r}", path=url)
    if not parts.path:
        raise RemoteError("file URL without a path", path=url)
    return unquote(parts.path)


def _directory(url: str, path: str, options: Mapping[str, Any],
               base: Path | None) -> DirectoryBackend:
    if options:
        raise RemoteError(f"a directory remote takes no options (got {', '.join(sorted(options))})",
                          path=url)
    if "\0" in path:
        raise RemoteError("remote path contains a NUL byte", path=url)
    root = Path(os.path.expanduser(path))
    if not root.is_absolute():
        root = (base or Path.cwd()) / root
    root = Path(os.path.normpath(root))
    if root.exists() and not root.is_dir():
        raise RemoteError("remote path exists and is not a directory", path=str(root))
    return DirectoryBackend(root)


def _flag(value: Any, name: str, url: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    raise RemoteError(f"option {name} must be true or false, got {value!r}", path=url)


def _text(value: Any, name: str, url: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise RemoteError(f"option {name} must be a non-empty string, got {value!r}", path=url)
    return value.strip()
