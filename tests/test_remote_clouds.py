"""Azure, HTTP(S) and GCS remotes end to end: the real CLI against Azurite, a WebDAV server
and a plain ``http.server``; GCS's URL, option and credential-error paths without a server."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from tests.conftest import run_folio
from tests.test_remote_cli import data_repo, folio_json, tree  # noqa: F401 (a fixture)

from folio.errors import RemoteError
from folio.remote import AzureBackend, GCSBackend, HTTPBackend, open_backend
from folio.repo import Repo

pytest_plugins = ["azurite", "webdav"]

WRITES = ("PUT", "POST", "DELETE")


def one_line_error(proc: object, *needles: str) -> str:
    stderr: str = proc.stderr  # type: ignore[attr-defined]
    assert proc.returncode == 1, stderr  # type: ignore[attr-defined]
    assert stderr.count("\n") == 1, stderr
    for needle in needles:
        assert needle in stderr, stderr
    return stderr


# -- Azure through Azurite --------------------------------------------------------------------
def test_push_noop_push_wipe_pull_fetch_verify_over_azure(azurite, data_repo: Repo) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    root = data_repo.root
    url = azurite.url()
    run_folio(root, "remote", "add", "az", url, "--emulator", "--endpoint", azurite.endpoint,
              check=True)
    config = (root / ".folio/config.toml").read_text()
    assert "emulator = true" in config and "key" not in config.lower()
    working = tree(root / "data")

    pushed = folio_json(root, "push")
    assert pushed["moved"] == pushed["objects"] == 44 and pushed["packs"] >= 1
    before = len(azurite.requests())
    again = folio_json(root, "push")
    assert (again["moved"], again["skipped"]) == (0, 44)
    assert not [m for m, _ in azurite.requests()[before:] if m in WRITES]

    shutil.rmtree(root / ".git/folio/objects")
    shutil.rmtree(root / "data")
    out = run_folio(root, "pull", check=True).stdout
    assert "Fetched 43 objects" in out
    assert tree(root / "data") == working
    run_folio(root, "fetch", "v1", check=True)
    verified = run_folio(root, "verify", "-r", "az", check=True)
    assert "not on remote" not in verified.stdout
    swept = folio_json(root, "gc", "--remote", "az", "--dry-run")  # dated listing works
    assert swept["dry_run"] is True and not swept["packs"] and not swept["loose"]

    blob = next(k for k, _ in open_backend(url, azurite.options).list() if k.startswith("packs/"))
    open_backend(url, azurite.options).delete(blob)  # the remote loses a pack
    lost = run_folio(root, "verify", "-r", "az")
    assert lost.returncode == 1 and "not on remote az" in lost.stdout + lost.stderr


def test_azure_urls_accounts_and_refused_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_NAME", raising=False)
    forms = {
        "az://data/team/x": "az://data/team/x",
        "azure://data/team": "azure://data/team",
        "abfss://data@acct01.dfs.core.windows.net/team": "abfss://data@acct01.dfs.core.windows.net/team",
        "https://acct01.blob.core.windows.net/data/team/": "https://acct01.blob.core.windows.net/data/team",
    }
    for url, shown in forms.items():
        backend = open_backend(url, {"account": "acct01"} if "//data" in url else {})
        assert isinstance(backend, AzureBackend) and backend.describe() == shown
        assert backend.container == "data" and backend.prefix in ("team", "team/x")
    with pytest.raises(RemoteError, match="needs its storage account"):
        open_backend("az://data/x")
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", "fromenv")
    assert isinstance(open_backend("az://data/x"), AzureBackend)
    for url, options, message in [
        ("az://data/x", {"account_key": "c2VjcmV0"}, "credentials in its config (account_key)"),
        ("az://data/x", {"sas_token": "sv=1&sig=s3cret"}, "never stores credentials"),
        ("https://acct01.blob.core.windows.net/data?sv=2020&sig=s3cret", {},
         "a signature in the URL's query"),
        ("az://Data_Bad/x", {}, "invalid Azure container name 'Data_Bad'"),
        ("az://data/x", {"region": "eu"}, "unknown option(s) for an azure remote: region"),
        ("az://data/x", {"endpoint": "http://127.0.0.1:1/a"}, "set allow_http = true"),
        ("https://acct01.blob.core.windows.net/data", {"account": "other"}, "contradicts"),
    ]:
        with pytest.raises(RemoteError) as err:
            open_backend(url, options)
        assert message in str(err.value) and "\n" not in str(err.value)
        assert "s3cret" not in str(err.value) and "c2VjcmV0" not in str(err.value)


def test_azure_credential_errors_name_what_was_used_or_looked_for(
        azurite, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    options = {"account": "devstoreaccount1", "endpoint": azurite.endpoint, "allow_http": True}
    url = f"az://{azurite.container}/creds"
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_KEY", "d3Jvbmcta2V5LXdyb25nLWtleQ==")
    with pytest.raises(RemoteError) as err:
        list(open_backend(url, options).list())
    assert "access denied (403 Forbidden: AuthorizationFailure)" in str(err.value)
    assert "credentials used: account key from AZURE_STORAGE_ACCOUNT_KEY" in str(err.value)
    assert "d3Jvbmc" not in str(err.value)

    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_KEY")
    monkeypatch.setenv("AZURE_MSI_ENDPOINT", "http://127.0.0.1:9/metadata/identity/oauth2/token")
    started = time.monotonic()
    with pytest.raises(RemoteError) as err:
        list(open_backend(url, options).list())
    message = str(err.value)
    assert message.startswith(f"{url}: list failed: no Azure credentials found")
    assert "AZURE_STORAGE_ACCOUNT_KEY" in message and "Azure CLI" in message
    assert "managed identity at http://127.0.0.1:9" in message and "\n" not in message
    assert time.monotonic() - started < 60


# -- HTTP(S): a WebDAV server publishing a directory remote -----------------------------------
def test_pull_fetch_verify_over_http_and_push_gc_refused(webdav, data_repo: Repo) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    root = data_repo.root
    published, url = webdav.fresh()
    run_folio(root, "remote", "add", "nas", str(published), check=True)
    run_folio(root, "push", "-r", "nas", check=True)
    run_folio(root, "remote", "add", "web", url, "--allow-http", "--default", check=True)
    working = tree(root / "data")

    shutil.rmtree(root / ".git/folio/objects")
    shutil.rmtree(root / "data")
    before = len(webdav.requests())
    out = run_folio(root, "pull", check=True).stdout
    assert "Fetched 43 objects" in out and tree(root / "data") == working
    methods = {m for m, _ in webdav.requests()[before:]}
    assert "PROPFIND" in methods and methods <= {"PROPFIND", "GET", "HEAD"}
    run_folio(root, "fetch", "v1", check=True)
    assert "not on remote" not in run_folio(root, "verify", "-r", "web", check=True).stdout

    listing = sorted(p.relative_to(published).as_posix() for p in published.rglob("*"))
    for command in (("push",), ("gc", "--remote", "web"), ("gc", "--remote", "web", "-n")):
        refused = run_folio(root, *command)
        one_line_error(refused, url, "read-only", "'web'")
    assert sorted(p.relative_to(published).as_posix() for p in published.rglob("*")) == listing


def test_plain_http_server_reads_but_cannot_list(plain_http, data_repo: Repo) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    published, url = plain_http.fresh()
    open_backend(str(published)).put_bytes("ab/cdef", b"served")
    backend = open_backend(url, {"allow_http": True})
    assert backend.head("ab/cdef") == 6 and backend.head("ab/none") is None
    assert backend.open("ab/cdef").read() == b"served"  # type: ignore[attr-defined]
    run_folio(data_repo.root, "remote", "add", "web", url, "--allow-http", check=True)
    shutil.rmtree(data_repo.root / ".git/folio/objects")
    refused = run_folio(data_repo.root, "pull", "--force")
    one_line_error(refused, url, "does not list directories (no WebDAV PROPFIND)")


def test_a_refused_depth_infinity_listing_is_explained() -> None:
    """Apache's mod_dav answers PROPFIND Depth: infinity with 403 unless told otherwise."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PROPFIND(self) -> None:
            assert self.headers["Depth"] == "infinity"
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/pub"
        with pytest.raises(RemoteError) as err:
            list(open_backend(url, {"allow_http": True}).list())
        assert str(err.value) == (f"{url}: list failed: 403 Forbidden: the server refused a "
                                  "whole-tree listing (PROPFIND with Depth: infinity, which "
                                  "Apache allows only with DavDepthInfinity On)")
    finally:
        server.shutdown()


def test_http_urls_and_refusals() -> None:
    backend = open_backend("https://data.example.com/folio/team/")
    assert isinstance(backend, HTTPBackend) and backend.describe() == \
        "https://data.example.com/folio/team"
    for url, options, message in [
        ("http://data.example.com/x", {}, "plain http: set allow_http = true"),
        ("https://user:hunter2@data.example.com/x", {}, "user info in the URL"),
        ("https://data.example.com/x?token=hunter2", {}, "a signature in the URL's query"),
        ("https://data.example.com/x", {"endpoint": "https://e"}, "unknown option(s)"),
        ("https://data.example.com/a/../b", {}, "invalid http prefix component '..'"),
    ]:
        with pytest.raises(RemoteError) as err:
            open_backend(url, options)
        assert message in str(err.value) and "hunter2" not in str(err.value)
    with pytest.raises(RemoteError, match=r"write refused: an http\(s\) remote is read-only"):
        backend.put_bytes("ab/cd", b"x")


# -- GCS: no emulator that obstore can use (docs/remotes.md, "Emulators") ---------------------
def test_gcs_urls_options_and_refused_secrets() -> None:
    backend = open_backend("gs://my-bucket_1/team/data/")
    assert isinstance(backend, GCSBackend) and backend.describe() == "gs://my-bucket_1/team/data"
    for url, options, message in [
        ("gs://Bad/x", {}, "invalid GCS bucket name 'Bad'"),
        ("gs://bucket/x", {"region": "eu"}, "unknown option(s) for a gs remote: region"),
        ("gs://bucket/x", {"service_account_key": "{}"}, "never stores credentials"),
        ("gs://bucket/x", {"endpoint": "http://127.0.0.1:4443"}, "set allow_http = true"),
        ("gs://bucket/x?x=1", {}, "no ?query"),
    ]:
        with pytest.raises(RemoteError) as err:
            open_backend(url, options)
        assert message in str(err.value) and "\n" not in str(err.value)


def test_gcs_credential_errors_name_what_was_used_or_looked_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GOOGLE_SERVICE_ACCOUNT", "GOOGLE_SERVICE_ACCOUNT_PATH",
                 "GOOGLE_SERVICE_ACCOUNT_KEY", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    backend = open_backend("gs://folio-bucket/x")
    report = backend.looked_for(failed=True)  # type: ignore[attr-defined]
    assert "GOOGLE_APPLICATION_CREDENTIALS" in report
    assert f"{tmp_path / 'gcloud'}/application_default_credentials.json (not found)" in report
    assert "metadata server at http://metadata.google.internal" in report

    bad = tmp_path / "sa.json"
    bad.write_text(json.dumps({"type": "service_account", "private_key": "not a key",
                               "client_email": "ci@example.iam.gserviceaccount.com"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(bad))
    with pytest.raises(RemoteError) as err:
        list(open_backend("gs://folio-bucket/x").list())
    message = str(err.value)
    assert message.startswith("gs://folio-bucket/x:") and "\n" not in message
    assert "not a key" not in message
    assert "credentials: service account file from GOOGLE_APPLICATION_CREDENTIALS" in message


# -- folio remote add: options per scheme --------------------------------------------------------
def test_remote_add_records_each_schemes_options_and_refuses_others(repo: Repo) -> None:
    root = repo.root
    run_folio(root, "remote", "add", "blob", "az://data/team", "--account", "acct01",
              check=True)
    run_folio(root, "remote", "add", "gcs", "gs://team-data/x", check=True)
    run_folio(root, "remote", "add", "web", "https://data.example.com/folio", check=True)
    remotes = {r["name"]: r for r in folio_json(root, "remote", "list")}
    assert remotes["blob"]["url"] == "az://data/team"
    assert remotes["blob"]["options"] == {"account": "acct01"}
    assert remotes["gcs"]["options"] == remotes["web"]["options"] == {}
    for args, message in [
        (("g2", "gs://team-data/x", "--region", "eu"), "unknown option(s) for a gs remote: region"),
        (("w2", "https://data.example.com/x", "--account", "a1b2c"),
         "unknown option(s) for an http remote: account"),
        (("w3", "http://data.example.com/x"), "plain http: set allow_http = true"),
        (("a2", "az://data/x", "--profile", "p"), "unknown option(s) for an azure remote: profile"),
    ]:
        one_line_error(run_folio(root, "remote", "add", *args), message)
    assert "g2" not in (root / ".folio/config.toml").read_text()
