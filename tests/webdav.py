"""Real HTTP servers for the read-only http(s) remote, each in its own process on 127.0.0.1.

``webdav`` serves a directory with wsgidav on cheroot (WebDAV: PROPFIND listings, what
obstore's HTTPStore lists with), read-only and anonymous, as a team's web server would
publish a directory remote. ``plain_http`` is ``python -m http.server`` (GET and HEAD,
no listing). Both are session-scoped: tests push to a fresh subdirectory of the served
root through a directory remote, then pull over HTTP. The WebDAV server writes one line
per request it answers (``METHOD path``) to a log, so tests and benchmarks count them.

Run as a script (``python webdav.py ROOT LOG``) it is the server: it prints its port.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

_PORT = re.compile(rb"port (\d+)")


@dataclass
class HTTPServer:
    root: Path  # the served directory
    base: str  # http://127.0.0.1:PORT
    log: Path | None = None

    def fresh(self) -> tuple[Path, str]:
        """A new empty subdirectory and its URL, so tests never see each other's files."""
        name = "r-" + uuid.uuid4().hex[:12]
        return self.root / name, f"{self.base}/{name}"

    def requests(self) -> list[tuple[str, str]]:
        if self.log is None or not self.log.exists():
            return []
        return [tuple(line.split(" ", 1)) for line in  # type: ignore[misc]
                self.log.read_text().splitlines() if " " in line]


def start_server(cmd: list[str], cwd: Path) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    seen = b""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen += line
        match = _PORT.search(line)
        if match:
            return proc, int(match.group(1))
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"server did not start: {seen[-500:]!r}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def webdav() -> Iterator[HTTPServer]:
    pytest.importorskip("wsgidav", reason="wsgidav (test extra) is needed for WebDAV")
    pytest.importorskip("cheroot", reason="cheroot (test extra) is needed for WebDAV")
    root = Path(tempfile.mkdtemp(prefix="folio-webdav-"))
    log = root.parent / f"{root.name}.log"
    proc, port = start_server([sys.executable, __file__, str(root), str(log)], root)
    try:
        yield HTTPServer(root, f"http://127.0.0.1:{port}", log)
    finally:
        stop_server(proc)


@pytest.fixture(scope="session")
def plain_http() -> Iterator[HTTPServer]:
    root = Path(tempfile.mkdtemp(prefix="folio-http-"))
    proc, port = start_server([sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1",
                         "--directory", str(root), "0"], root)
    try:
        yield HTTPServer(root, f"http://127.0.0.1:{port}")
    finally:
        stop_server(proc)


def _counting(app: Any, log: Path) -> Callable[..., Iterable[bytes]]:
    out = log.open("a", buffering=1)

    def counted(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        out.write(f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}\n")
        return app(environ, start_response)  # type: ignore[no-any-return]

    return counted


def serve(root: str, log: str) -> None:
    from cheroot import wsgi
    from wsgidav.wsgidav_app import WsgiDAVApp

    app = WsgiDAVApp({
        "provider_mapping": {"/": {"root": root, "readonly": True}},
        "http_authenticator": {"domain_controller": None},
        "simple_dc": {"user_mapping": {"*": True}},  # anonymous, as a public web server
        "verbose": 0,
        "logging": {"enable": False},
        "dir_browser": {"enable": False},
    })
    server = wsgi.Server(("127.0.0.1", 0), _counting(app, Path(log)), numthreads=8)
    server.prepare()
    print(f"serving on port {server.bind_addr[1]}", flush=True)
    server.serve()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
