"""moto's S3 server in its own process, counting the payload bytes of every request it answers.

Usage (the benchmark starts it): python benchmarks/s3count.py --port N --log FILE

The server is moto's own WSGI app (as `python -m moto.server` runs it) behind a thin WSGI
wrapper that appends one line per request to FILE, once the response has been sent:
``METHOD PATH REQUEST_BYTES RESPONSE_BYTES``. Request bytes are the body the client sent
(Content-Length, or what was read when the body came chunked); response bytes are the body
the server wrote, counted in 256 KiB slices (a client that hangs up early is charged what it
was sent before, give or take the socket buffers). Headers are not counted: the figures
are payload, what a metered link or S3's transfer bill counts. :class:`CountingServer`
starts it and reads the log back.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from measure import free_port, start_http_server, stop_server  # noqa: E402

SLICE = 256 << 10


class _CountingInput:
    """wsgi.input that counts what the app reads."""

    def __init__(self, raw: Any) -> None:
        self.raw, self.count = raw, 0

    def read(self, *args: Any) -> bytes:
        data = self.raw.read(*args)
        self.count += len(data)
        return bytes(data)

    def readline(self, *args: Any) -> bytes:
        data = self.raw.readline(*args)
        self.count += len(data)
        return bytes(data)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


def counting(app: Callable[..., Iterable[bytes]], log: Path) -> Callable[..., Iterator[bytes]]:
    """Wrap WSGI ``app``: one log line per request, written after its body went out."""
    guard = threading.Lock()
    out = log.open("a", buffering=1)

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        body = _CountingInput(environ["wsgi.input"])
        environ["wsgi.input"] = body
        sent = 0
        try:
            for piece in app(environ, start_response):
                # Slices, counted once the server asked for the next one (so the last was
                # written): a client that hangs up mid-body is charged only what it was
                # sent, give or take the socket buffers, not the whole object.
                for start in range(0, len(piece), SLICE):
                    part = piece[start:start + SLICE]
                    yield part
                    sent += len(part)
        finally:
            length = environ.get("CONTENT_LENGTH") or ""
            received = int(length) if length.isdigit() else body.count
            with guard:
                out.write(f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')} "
                          f"{received} {sent}\n")

    return wrapped


def serve(port: int, log: Path) -> None:
    """Run moto's S3 app on 127.0.0.1:``port`` until killed."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import run_simple

    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", port, counting(app, log), threaded=True)


@dataclass
class Traffic:
    """What the server saw between two marks."""

    requests: int
    received: int  # payload bytes clients sent (uploads)
    sent: int  # payload bytes the server returned (downloads)


class CountingServer:
    """The counting server in a subprocess on a free port, with bucket ``bucket`` made."""

    def __init__(self, workdir: Path, bucket: str) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"s3count-{self.port}.log"
        self.log.write_text("")
        self.proc = start_http_server(
            [sys.executable, str(HERE / "s3count.py"), "--port", str(self.port),
             "--log", str(self.log)],
            self.endpoint, workdir / f"s3count-{self.port}.out", bucket, "counting S3 server")

    def _lines(self) -> list[str]:
        return self.log.read_text().splitlines()

    def mark(self) -> int:
        """The log position now: pass it to :meth:`since` after a command."""
        return len(self._lines())

    def since(self, mark: int) -> Traffic:
        """Traffic after ``mark``; waits until the log has been still for half a second, since
        a request's line is written just after its last byte reached the client."""
        lines, still = self._lines(), 0.0
        while still < 0.5:
            time.sleep(0.1)
            now = self._lines()
            still = still + 0.1 if len(now) == len(lines) else 0.0
            lines = now
        rows = [line.rsplit(" ", 2) for line in lines[mark:]]
        return Traffic(len(rows), sum(int(r[1]) for r in rows), sum(int(r[2]) for r in rows))

    def stop(self) -> None:
        stop_server(self.proc)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", type=Path, required=True)
    args = ap.parse_args()
    serve(args.port, args.log)
