"""Transfers that behave (issue 14, item 5): progress in bytes, Ctrl-C within a second with
the remote left consistent, credential errors that say what was looked for, and AWS's
endpoint environment variables. Real CLI subprocesses, real git, moto's S3 server."""

from __future__ import annotations

import hashlib
import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import git, run_folio, write

from folio.progress import NULL, TerminalProgress, for_stream
from folio.repo import Repo

pytest_plugins = ["s3server"]

MIB = 1 << 20
SECRET = "folio-test-secret"  # the session's AWS_SECRET_ACCESS_KEY (tests/s3server.py)


class Recorder:
    """A Progress that keeps every call (through the API, from the caller's thread)."""

    def __init__(self) -> None:
        self.starts: list[tuple[str, int | None, str]] = []
        self.advances: list[list[int]] = []

    def start(self, label: str, total: int | None = None, unit: str = "files") -> None:
        self.starts.append((label, total, unit))
        self.advances.append([])

    def advance(self, n: int = 1) -> None:
        self.advances[-1].append(n)

    def finish(self) -> None:
        pass

    def transfer(self, label: str) -> tuple[int | None, list[int]]:
        i = next(i for i, s in enumerate(self.starts) if s[0] == label)
        assert self.starts[i][2] == "bytes"
        return self.starts[i][1], self.advances[i]


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def folio(cwd: Path, *args: str, env: dict[str, str] | None = None,
          unset: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """The CLI with ``env`` added and ``unset`` removed from the environment."""
    full = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in unset}
    return subprocess.run([sys.executable, "-m", "folio.cli", *args], cwd=cwd, text=True,
                          capture_output=True, env=full)


def add_remote(repo: Repo, s3: Any, *extra: str) -> str:
    url = s3.url()
    run_folio(repo.root, "remote", "add", "s3", url, *extra, check=True)
    return url


def moto_keys(s3: Any, url: str) -> dict[str, bytes]:
    """Every visible object and pack key below the remote's prefix, with its bytes (push
    records, ``sets/``, are tested in test_remote_scale.py)."""
    prefix = url.split("/", 3)[3] + "/"
    client = s3.client()
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket,
                                                                  Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key[len(prefix):].startswith("sets/"):
                continue
            out[key[len(prefix):]] = client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
    return out


def assert_only_whole_objects(keys: dict[str, bytes]) -> None:
    """A loose key's bytes hash to its name: nothing partial is visible."""
    for key, data in keys.items():
        if not key.startswith(("packs/", "lists/")):  # a list is named by its file's id
            assert hashlib.sha256(data).hexdigest() == key.replace("/", ""), key


# -- 1. progress in bytes -----------------------------------------------------------------
def test_terminal_progress_renders_bytes_rate_and_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    stream = FakeTty()
    bar = TerminalProgress(stream, clock=clock)
    bar.start("push", total=3 << 30, unit="bytes")
    for _ in range(20):  # 1.2 GiB in 20 s: 61.4 MiB/s, 1.8 GiB left -> about 0:30
        clock.now += 1.0
        bar.advance(int(1.2 * (1 << 30)) // 20)
    line = stream.getvalue().split("\r")[-1]
    assert line.startswith("push:  40.0% 1.2 GiB/3.0 GiB 61.4 MiB/s ETA 0:30"), line
    bar.finish()
    assert stream.getvalue().endswith("\n")
    # Piped: nothing. A terminal: the redrawn line.
    monkeypatch.delenv("JPY_PARENT_PID", raising=False)
    assert for_stream(io.StringIO()) is NULL
    assert isinstance(for_stream(FakeTty()), TerminalProgress)


def test_progress_in_a_notebook_is_plain_lines_every_few_seconds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JPY_PARENT_PID", "4242")  # what `!folio push` in Jupyter inherits
    stream = io.StringIO()  # a notebook's stderr is no terminal
    bar = for_stream(stream)
    assert isinstance(bar, TerminalProgress) and bar.plain
    clock = Clock()
    bar._now = clock  # white-box: a fake clock instead of minutes of sleeping
    bar.start("pull", total=100 * MIB, unit="bytes")
    for _ in range(30):
        clock.now += 1.0
        bar.advance(3 * MIB)
    bar.finish()
    lines = stream.getvalue().splitlines()
    assert 2 <= len(lines) <= 4  # every 10 s of 30, plus the last
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()
    assert lines[-1].startswith("pull:  90.0% 90.0 MiB/100.0 MiB 3.0 MiB/s ETA 0:03")


def test_push_and_pull_progress_advance_by_bytes(repo: Repo, s3: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from folio.remote import transfer

    # A network slower than loopback: progress is reported ten times a second, so a 64 MiB
    # object that moved in under 0.1 s would show as one step however it was counted.
    chunks, readinto = transfer._chunks, transfer._Counting.readinto

    def slow_chunks(*args: Any) -> Any:
        for chunk in chunks(*args):
            time.sleep(0.05)
            yield chunk

    def slow_readinto(self: Any, buffer: Any) -> Any:
        time.sleep(0.005)
        return readinto(self, buffer)

    monkeypatch.setattr(transfer, "_chunks", slow_chunks)
    monkeypatch.setattr(transfer._Counting, "readinto", slow_readinto)
    # One whole object streamed multipart (chunked objects travel as blocks and segments,
    # whose bytes are counted too: tests/test_chunk_segments.py): must advance before it ends
    repo.config.update(["core"], {"chunk_threshold": 0}, local=True)
    big = os.urandom(64 * MIB + 11)
    write(repo.root / "data/big.bin", big)
    for i in range(30):
        write(repo.root / f"data/small/{i}.txt", os.urandom(1000 + i))
    repo.add(["data"])
    add_remote(repo, s3, "--endpoint", s3.endpoint, "--allow-http")
    payload = len(big) + sum(1000 + i for i in range(30))

    pushed = Recorder()
    repo.push(progress=pushed)
    total, steps = pushed.transfer("push")
    assert total == payload and sum(steps) == payload
    assert max(steps) < len(big)  # the 64 MiB object was reported as it streamed

    for oid in list(repo.store.iter_oids()):
        repo.store.delete(oid)
    pulled = Recorder()
    repo.fetch(progress=pulled)
    total, steps = pulled.transfer("pull")
    assert total == payload and sum(steps) == payload
    assert max(steps) < len(big)
    assert (repo.root / "data/big.bin").read_bytes() == big


# -- 2. Ctrl-C ----------------------------------------------------------------------------
def interrupt_when(proc: subprocess.Popen[str], ready: Any, timeout: float = 60) -> float:
    """SIGINT ``proc`` once ``ready()``; the seconds it took to exit after that."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"ended before it could be interrupted: {proc.stderr}"
        assert time.monotonic() < deadline, "never got going"
        time.sleep(0.02)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    took = time.monotonic() - sent
    print(f"\nINTERRUPTED after {took:.3f} s", file=sys.stderr)
    return took


@pytest.fixture
def big_repo(repo: Repo, s3: Any) -> tuple[Repo, str]:
    """240 MiB in six streamed objects, plus small ones, and an S3 remote."""
    for i in range(6):
        write(repo.root / f"data/big{i}.bin", os.urandom(40 * MIB + i))
    for i in range(40):
        write(repo.root / f"data/small/{i}.txt", os.urandom(5000 + i))
    repo.add(["data"])
    return repo, add_remote(repo, s3, "--endpoint", s3.endpoint, "--allow-http")


def spawn(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "folio.cli", *args], cwd=root, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_ctrl_c_stops_a_push_within_a_second_and_a_rerun_finishes(
        big_repo: tuple[Repo, str], s3: Any) -> None:
    repo, url = big_repo
    mark = s3.requests.mark()
    proc = spawn(repo.root, "push")
    took = interrupt_when(proc, lambda: sum("partNumber=" in path for _, path in
                                            s3.requests.since(mark)) >= 2)
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 130, err
    assert took < 1.5, f"push took {took:.2f} s to stop"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("folio: interrupted; "), err
    assert lines[0].endswith("were sent, rerun to finish") or "object was sent" in lines[0]
    keys = moto_keys(s3, url)
    assert_only_whole_objects(keys)
    assert sum(not k.startswith("packs/") for k in keys) < 6  # it really was cut short

    rerun = run_folio(repo.root, "push", "--json", check=True)
    assert '"moved": 0' not in rerun.stdout
    assert_only_whole_objects(moto_keys(s3, url))
    verify = run_folio(repo.root, "verify", "-r", "s3")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "not on remote" not in verify.stdout


def test_ctrl_c_stops_a_pull_within_a_second_leaving_no_partial_object(
        big_repo: tuple[Repo, str], s3: Any) -> None:
    repo, _ = big_repo
    run_folio(repo.root, "push", check=True)
    store = repo.store
    wanted = set(store.iter_oids())
    for oid in wanted:
        store.delete(oid)
    mark = s3.requests.mark()
    proc = spawn(repo.root, "fetch")
    took = interrupt_when(proc, lambda: sum(
        method == "GET" and "list-type" not in path and "/packs/" not in path
        for method, path in s3.requests.since(mark)) >= 2)  # two big ones streaming
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 130, err
    assert took < 1.5, f"fetch took {took:.2f} s to stop"
    assert err.startswith("folio: interrupted; ") and "fetched, rerun to finish" in err, err
    here = set(store.iter_oids())
    assert here < wanted  # cut short
    for oid in here:  # every object in the store is whole (loose or chunked)
        assert hashlib.sha256(store.read_bytes(oid)).hexdigest() == oid
    assert not [p for p in store.staging.rglob("*") if not p.is_dir()]  # staging cleaned

    run_folio(repo.root, "fetch", check=True)
    assert set(store.iter_oids()) == wanted
    assert run_folio(repo.root, "verify").returncode == 0


# -- 3. credential errors -----------------------------------------------------------------
@pytest.fixture
def moto_checks_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's server authenticates every request (it knows no key, so any is refused)."""
    import moto.settings

    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)


def test_refused_credentials_say_which_were_used_never_the_secret(
        repo: Repo, s3: Any, moto_checks_keys: None) -> None:
    write(repo.root / "a.txt", "a")
    repo.add(["a.txt"])
    url = add_remote(repo, s3, "--endpoint", s3.endpoint, "--allow-http")
    proc = run_folio(repo.root, "push")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1, proc.stderr
    line = proc.stderr
    # The first request of a push is the LIST of its push record's prefix (sets/<id>).
    assert re.match(re.escape(f"folio: error: {url}: list ") + r"(sets/[0-9a-f]{64} )?"
                    + re.escape("failed: access denied (403 Forbidden: InvalidAccessKeyId); "
                                "credentials used: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
                                "from the environment"), line), line
    assert SECRET not in line and "folio-test-key" not in line


def test_missing_credentials_list_every_place_looked(repo: Repo, s3: Any) -> None:
    write(repo.root / "a.txt", "a")
    repo.add(["a.txt"])
    add_remote(repo, s3, "--endpoint", s3.endpoint, "--allow-http")
    # No keys, no profile; instance metadata on a closed port (as off EC2: unreachable).
    proc = folio(repo.root, "push", env={"AWS_METADATA_ENDPOINT": "http://127.0.0.1:9"},
                 unset=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1, proc.stderr
    line = proc.stderr
    assert "no AWS credentials found" in line
    for looked in ("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (not set)",
                   "AWS_PROFILE (not set) / default profile in /nonexistent/folio-test/"
                   "credentials (not found)",
                   "web identity (AWS_WEB_IDENTITY_TOKEN_FILE not set)",
                   "container credentials (AWS_CONTAINER_CREDENTIALS_* not set)",
                   "instance metadata at http://127.0.0.1:9 (unreachable or no role)"):
        assert looked in line, line


def test_the_pre_push_hook_shows_the_credential_error(
        repo: Repo, s3: Any, tmp_path: Path, moto_checks_keys: None) -> None:
    write(repo.root / "a.txt", "a")
    repo.add(["a.txt"])
    add_remote(repo, s3, "--endpoint", s3.endpoint, "--allow-http")
    run_folio(repo.root, "install-hooks", check=True)
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "data", "--no-verify")
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(repo.root, "remote", "add", "origin", str(tmp_path / "origin.git"))
    pushed = git(repo.root, "push", "origin", "HEAD", check=False)
    assert pushed.returncode != 0
    assert "access denied (403 Forbidden: InvalidAccessKeyId); credentials used: " \
           "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from the environment" in pushed.stderr
    assert SECRET not in pushed.stderr


# -- 4. AWS endpoint environment ----------------------------------------------------------
def test_endpoint_from_the_environment_pushes_and_pulls_over_http(repo: Repo, s3: Any) -> None:
    write(repo.root / "data/a.bin", os.urandom(3 * MIB))
    write(repo.root / "data/b.txt", "b")
    repo.add(["data"])
    url = add_remote(repo, s3)  # no endpoint in the config: AWS's would be used
    env = {"AWS_ENDPOINT_URL": s3.endpoint}
    pushed = folio(repo.root, "push", env=env)
    assert pushed.returncode == 0, pushed.stderr
    assert len(moto_keys(s3, url)) == 3  # a.bin loose; b.txt in a pack and its index
    for oid in list(repo.store.iter_oids()):
        repo.store.delete(oid)
    (repo.root / "data/a.bin").unlink()
    # AWS_ENDPOINT_URL_S3 wins over AWS_ENDPOINT_URL (here a dead port).
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ENDPOINT_URL_S3": s3.endpoint}
    pulled = folio(repo.root, "pull", env=env)
    assert pulled.returncode == 0, pulled.stderr
    assert (repo.root / "data/a.bin").stat().st_size == 3 * MIB


def test_configured_endpoint_wins_over_the_environment(repo: Repo, s3: Any) -> None:
    write(repo.root / "a.txt", "a")
    repo.add(["a.txt"])
    url = add_remote(repo, s3, "--endpoint", s3.endpoint, "--allow-http")
    # obstore alone would send these requests to AWS_ENDPOINT_URL_S3, a dead port here.
    pushed = folio(repo.root, "push", env={"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9"})
    assert pushed.returncode == 0, pushed.stderr
    assert len(moto_keys(s3, url)) == 2  # a pack and its index


def test_bad_endpoint_environment_is_one_line(repo: Repo, s3: Any) -> None:
    write(repo.root / "a.txt", "a")
    repo.add(["a.txt"])
    url = add_remote(repo, s3)
    bad = folio(repo.root, "push", env={"AWS_ENDPOINT_URL": "ftp://example.com"})
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    assert bad.stderr == (f"folio: error: {url}: AWS_ENDPOINT_URL must be an http(s) URL, "
                          "got 'ftp://example.com'\n")
    refused = folio(repo.root, "push", env={"AWS_ENDPOINT_URL": s3.endpoint,
                                             "AWS_ALLOW_HTTP": "false"})
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "is plain http but AWS_ALLOW_HTTP is false" in refused.stderr
    # A committed http endpoint still needs allow_http, whatever the environment says.
    added = run_folio(repo.root, "remote", "add", "plain", "s3://folio-test/x",
                      "--endpoint", s3.endpoint)
    assert added.returncode == 1 and "plain http" in added.stderr
