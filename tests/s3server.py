"""A real S3 endpoint for tests: moto's server mode on 127.0.0.1, one per test session.

Use it from a test module with ``pytest_plugins = ["s3server"]`` and the ``s3`` fixture.
Every HTTP request the server answers is recorded (from werkzeug's access log), so tests
can count what a push or pull really sent. AWS_* variables are set to dummy values for
the session only; nothing reaches a real AWS account.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

BUCKET = "folio-test"
_REQUEST = re.compile(r"(GET|PUT|POST|DELETE|HEAD) (\S+)")


class RequestLog(logging.Handler):
    """Collects ``(method, path)`` for each request the server logged."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen: list[tuple[str, str]] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        match = _REQUEST.search(str(record.args[0]) if record.args else record.getMessage())
        if match:
            with self._guard:
                self.seen.append((match.group(1), match.group(2)))

    def mark(self) -> int:
        with self._guard:
            return len(self.seen)

    def since(self, mark: int) -> list[tuple[str, str]]:
        with self._guard:
            return list(self.seen[mark:])


@dataclass
class S3Server:
    endpoint: str
    bucket: str
    requests: RequestLog
    options: dict[str, Any] = field(default_factory=dict)

    def url(self, prefix: str | None = None) -> str:
        """A fresh, unique prefix in the bucket, so tests never see each other's keys."""
        return f"s3://{self.bucket}/{prefix or 'test-' + uuid.uuid4().hex[:12]}"

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")


_ENV = {
    "AWS_ACCESS_KEY_ID": "folio-test-key",
    "AWS_SECRET_ACCESS_KEY": "folio-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/folio-test/config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/folio-test/credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}
_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT", "AWS_ENDPOINT_URL",
          "AWS_ENDPOINT_URL_S3", "AWS_BUCKET", "AWS_BUCKET_NAME")


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    log = logging.getLogger("werkzeug")
    saved = (log.level, log.propagate, list(log.handlers))
    requests = RequestLog()
    log.setLevel(logging.INFO)
    log.propagate = False  # count requests without printing them
    log.handlers = [requests]
    with pytest.MonkeyPatch.context() as env:
        for name, value in _ENV.items():
            env.setenv(name, value)
        for name in _UNSET:
            env.delenv(name, raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            s3 = S3Server(endpoint, BUCKET, requests, {"endpoint": endpoint, "allow_http": True})
            s3.client().create_bucket(Bucket=BUCKET)
            yield s3
        finally:
            server.stop()
            log.setLevel(saved[0])
            log.propagate = saved[1]
            log.handlers = saved[2]
