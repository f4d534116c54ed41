"""Read-only remotes over plain HTTP(S): a web server publishing what folio pushed elsewhere.

A team pushes to a directory (or a bucket) that a web server also serves; readers pull
from ``https://host/path`` with no credentials at all. obstore's HTTPStore reads with
GET (ranged for packs) and HEAD, and lists with one WebDAV ``PROPFIND`` (``Depth:
infinity``), so the server must speak WebDAV for a pull to find packs (wsgidav, Apache
mod_dav with ``DavDepthInfinity On``, rclone serve webdav); a plain file server refuses the
listing, which folio reports in one line.

Nothing is ever written through HTTP: push and remote gc refuse before any request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NoReturn
from urllib.parse import unquote, urlsplit

from obstore.store import HTTPStore

from folio.errors import RemoteError
from folio.remote.objstore import RETRY, ObjectStoreBackend, client_options

_NO_LISTING = re.compile(r"failed: (405|501)\b")  # Method Not Allowed / Not Implemented
_REFUSED = re.compile(r"failed: access denied \(403")


class HTTPBackend(ObjectStoreBackend):
    """Keys live below ``url``; reads only."""

    PROVIDER = "HTTP"
    read_only = True

    def __init__(self, url: str, *, allow_http: bool = False) -> None:
        self.url = url.rstrip("/")
        # object_store's HttpStore lists paths from the server's root, not from the URL's
        # path (obstore 0.12): folio's keys are below it, so that part is taken off.
        self._listed_prefix = unquote(urlsplit(self.url).path).strip("/")
        self._credentials_used = "none (HTTP remotes are read anonymously)"
        self._store = self._configure(lambda: HTTPStore(
            self.url, client_options=client_options(allow_http), retry_config=RETRY))

    def describe(self) -> str:
        return self.url

    def list_dated(self, prefix: str = "") -> Iterator[tuple[str, int, float]]:
        cut = len(self._listed_prefix) + 1 if self._listed_prefix else 0
        try:
            for key, size, mtime in super().list_dated(prefix):
                if cut and key.startswith(self._listed_prefix + "/"):
                    key = key[cut:]
                yield key, size, mtime
        except RemoteError as exc:
            if _NO_LISTING.search(str(exc)):
                raise RemoteError(
                    "list failed: the server does not list directories (no WebDAV PROPFIND); "
                    "an http remote needs a WebDAV server such as wsgidav, Apache mod_dav "
                    "or rclone serve webdav", path=self.describe()) from None
            if _REFUSED.search(str(exc)):
                raise RemoteError(
                    "list failed: 403 Forbidden: the server refused a whole-tree listing "
                    "(PROPFIND with Depth: infinity, which Apache allows only with "
                    "DavDepthInfinity On)", path=self.describe()) from None
            raise

    # -- writing: refused -----------------------------------------------------------------
    def refuse_write(self, action: str = "write") -> NoReturn:
        raise RemoteError(
            f"{action} refused: an http(s) remote is read-only (pull, fetch and verify "
            "--remote work; push and gc go to the store it serves: s3, gs, az or a directory)",
            path=self.describe())

    def put_bytes(self, key: str, data: bytes | memoryview) -> None:
        self.refuse_write()

    def put_new(self, key: str, data: bytes) -> bool:
        self.refuse_write()

    def put_file(self, key: str, path: Path) -> None:
        self.refuse_write()

    def put_stream(self, key: str, chunks: Iterable[bytes | memoryview]) -> None:
        self.refuse_write()

    def delete(self, key: str) -> None:
        self.refuse_write("delete")
