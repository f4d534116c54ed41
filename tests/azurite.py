"""A real Azure Blob endpoint for tests: Azurite (npm ``azurite``), one per test session.

Use it with ``pytest_plugins = ["azurite"]`` and the ``azurite`` fixture. The binary is
found through ``FOLIO_AZURITE`` (what .ci/run exports), else ``.ci-node/`` in the checkout
(``npm install --prefix .ci-node azurite``), else PATH; without one the tests that need it
skip, saying so. Azurite listens on a port the OS picks and keeps blobs in memory; every
request it answers is counted from its debug log, so tests and benchmarks can see what a
push or pull really sent. Containers are created with a Shared Key signed request
(Azurite's published development key), since obstore cannot create one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path

import pytest

from folio.remote.azure import EMULATOR_ACCOUNT, EMULATOR_KEY

ROOT = Path(__file__).resolve().parent.parent
CONTAINER = "folio-test"
_LISTENING = re.compile(r"listens on (http://127\.0\.0\.1:(\d+))")
_LOGGED = re.compile(r"BlobStorageContextMiddleware: RequestMethod=([A-Z]+) RequestURL=(\S+)")
# An account-free environment: nothing from the machine's own Azure login leaks in.
_UNSET = ("AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_ACCESS_KEY",
          "AZURE_STORAGE_MASTER_KEY", "AZURE_STORAGE_TOKEN", "AZURE_STORAGE_SAS_TOKEN",
          "AZURE_STORAGE_SAS_KEY", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID",
          "AZURE_FEDERATED_TOKEN_FILE", "AZURE_STORAGE_ENDPOINT", "AZURE_ENDPOINT",
          "AZURE_STORAGE_USE_EMULATOR", "AZURITE_BLOB_STORAGE_URL")


def azurite_binary() -> str | None:
    for candidate in (os.environ.get("FOLIO_AZURITE"),
                      str(ROOT / ".ci-node" / "node_modules" / ".bin" / "azurite-blob"),
                      shutil.which("azurite-blob")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass
class Azurite:
    endpoint: str  # http://127.0.0.1:PORT/devstoreaccount1
    log: Path
    container: str = CONTAINER
    options: dict[str, object] = field(default_factory=dict)

    def url(self, prefix: str | None = None) -> str:
        """A fresh, unique prefix in the container, so tests never see each other's keys."""
        return f"az://{self.container}/{prefix or 'test-' + uuid.uuid4().hex[:12]}"

    def requests(self) -> list[tuple[str, str]]:
        """``(method, url)`` of every request Azurite has answered so far."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [(m.group(1), m.group(2)) for m in _LOGGED.finditer(text)]

    def create_container(self, name: str) -> None:
        _signed_put(self.endpoint, name)


def _signed_put(endpoint: str, container: str) -> None:
    """Create Blob Container, signed with Shared Key (the canonical form Azure documents;
    for path-style emulator URLs the account appears twice in the resource)."""
    date = formatdate(usegmt=True)
    headers = {"x-ms-date": date, "x-ms-version": "2021-08-06"}
    canonical = "".join(f"{k}:{v}\n" for k, v in sorted(headers.items()))
    resource = f"/{EMULATOR_ACCOUNT}/{EMULATOR_ACCOUNT}/{container}\nrestype:container"
    to_sign = "PUT\n" + "\n" * 11 + canonical + resource
    digest = hmac.new(base64.b64decode(EMULATOR_KEY), to_sign.encode(), hashlib.sha256).digest()
    request = urllib.request.Request(
        f"{endpoint}/{container}?restype=container", method="PUT",
        headers={**headers, "Content-Length": "0",
                 "Authorization": f"SharedKey {EMULATOR_ACCOUNT}:"
                                  f"{base64.b64encode(digest).decode()}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201, response.status


def start_azurite(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start Azurite's blob service on a free port; its endpoint once it listens."""
    binary = azurite_binary()
    if binary is None:
        raise FileNotFoundError("azurite-blob")
    out = workdir / "azurite.out"
    proc = subprocess.Popen(
        [binary, "--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence",
         "--skipApiVersionCheck", "--loose", "--disableTelemetry",
         "--debug", str(workdir / "debug.log")],
        stdout=out.open("wb"), stderr=subprocess.STDOUT, cwd=workdir)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = _LISTENING.search(out.read_text(errors="replace"))
        if match:
            return proc, f"{match.group(1)}/{EMULATOR_ACCOUNT}"
        if proc.poll() is not None:
            break
        time.sleep(0.05)  # start-up poll, not a wait for a result
    proc.kill()
    raise RuntimeError(f"Azurite did not start: {out.read_text(errors='replace')[-500:]}")


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    if azurite_binary() is None:
        pytest.skip("Azurite not installed: `npm install --prefix .ci-node azurite` "
                    "(what .ci/run does) or set FOLIO_AZURITE to azurite-blob")
    workdir = Path(tempfile.mkdtemp(prefix="folio-azurite-"))
    proc, endpoint = start_azurite(workdir)
    saved = {name: os.environ.pop(name) for name in _UNSET if name in os.environ}
    saved_cli = os.environ.get("AZURE_USE_AZURE_CLI")
    os.environ["AZURE_USE_AZURE_CLI"] = "false"  # a developer's `az login` must not be used
    try:
        server = Azurite(endpoint, workdir / "debug.log",
                         options={"emulator": True, "endpoint": endpoint})
        server.create_container(CONTAINER)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        os.environ.update(saved)
        if saved_cli is None:
            os.environ.pop("AZURE_USE_AZURE_CLI", None)
        else:
            os.environ["AZURE_USE_AZURE_CLI"] = saved_cli
        shutil.rmtree(workdir, ignore_errors=True)
