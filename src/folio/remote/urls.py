"""Remote URLs and options -> a Backend, with one-line errors for everything we refuse.

Accepted: ``s3://bucket[/prefix]``, ``file:///abs/path`` and plain paths. Options come from
``[remote.NAME]`` in config.toml, which is committed: secrets there are refused outright.
An S3 remote without an ``endpoint`` option takes the one the environment gives
(``AWS_ENDPOINT_URL_S3``, else ``AWS_ENDPOINT_URL``), plain http included: the user set it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from folio.errors import RemoteError
from folio.remote.base import Backend
from folio.remote.local import DirectoryBackend
from folio.remote.s3 import S3Backend

# AWS's own conventions, most specific first (the AWS CLI and SDKs read them this way).
ENDPOINT_ENV = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")
ALLOW_HTTP_ENV = "AWS_ALLOW_HTTP"
S3_OPTIONS = frozenset({"endpoint", "region", "profile", "allow_http"})
_SECRETS = frozenset({"access_key_id", "secret_access_key", "session_token", "aws_access_key_id",
                      "aws_secret_access_key", "aws_session_token", "password", "secret", "token"})
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
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
    if scheme == "file":
        return _directory(url, _file_url_path(url), options, base)
    if scheme:
        raise RemoteError(f"unsupported remote URL scheme {scheme!r}: use s3://bucket/prefix, "
                          "file:///path or a directory path", path=url)
    if not url.strip():
        raise RemoteError("empty remote URL")
    return _directory(url, url, options, base)


def _refuse_secrets(url: str, options: Mapping[str, Any]) -> None:
    found = sorted(k for k in options if k.lower() in _SECRETS)
    if _SCHEME.match(url) and "@" in urlsplit(url).netloc:
        found.append("user info in the URL")
    if found:
        raise RemoteError(f"folio never stores credentials in its config ({', '.join(found)}); "
                          "use AWS_* environment variables, an AWS profile or an instance role",
                          path=_redact(url))


def _redact(url: str) -> str:
    """The URL without user info, so an error message never echoes a password."""
    if not _SCHEME.match(url):
        return url
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _s3(url: str, options: dict[str, Any]) -> S3Backend:
    unknown = sorted(set(options) - S3_OPTIONS)
    if unknown:
        raise RemoteError(f"unknown option(s) for an s3 remote: {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(S3_OPTIONS))})", path=url)
    parts = urlsplit(url)
    bucket = parts.netloc
    if parts.query or parts.fragment:
        raise RemoteError("an s3 URL takes no ?query or #fragment", path=url)
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise RemoteError(f"invalid S3 bucket name {bucket!r} (3-63 characters: lowercase "
                          "letters, digits, dots, hyphens)", path=url)
    prefix_parts = [p for p in unquote(parts.path).split("/") if p]
    for part in prefix_parts:
        if part in (".", "..") or not _PREFIX_PART.match(part):
            raise RemoteError(f"invalid S3 prefix component {part!r}", path=url)
    endpoint = options.get("endpoint")
    allow_http = _flag(options.get("allow_http", False), "allow_http", url) or \
        _env_flag(ALLOW_HTTP_ENV, url) is True
    if endpoint is not None:
        endpoint = _endpoint_url(str(endpoint), "endpoint", url)
        if endpoint.startswith("http:") and not allow_http:
            raise RemoteError(f"endpoint {endpoint} is plain http: set allow_http = true to "
                              "send requests unencrypted", path=url)
    else:
        endpoint, allow_http = _env_endpoint(url, allow_http)
    return S3Backend(bucket, "/".join(prefix_parts), endpoint=endpoint,
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
