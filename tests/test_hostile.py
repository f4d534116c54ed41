"""Hostile input: manifests, commits, snapshots, archives, pickles and configs from elsewhere.

Every case checks the same three things: the refusal is one line that names the file (and
the line, for manifests), exit code 1, no traceback; nothing was written outside the repo
(a canary directory beside it keeps its exact content, a sentinel file is never created);
and nothing was written inside it either (the work tree, the manifests and .git/hooks are
as they were).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import git, run_folio, write
from tests.reliability import harness as h

from folio.errors import PickleNotAllowedError
from folio.git.repo import GitRepo
from folio.repo import Repo

SNAPSHOT_TRAILERS = {"Folio-Kind": "snapshot", "Folio-Name": "evil"}


@dataclass
class Scene:
    repo: Repo
    outside: Path  # a canary directory beside the repo
    sentinel: Path  # must never exist
    payload: str  # sha256 of an object in the store that hostile entries name

    def before(self) -> dict[str, object]:
        root = self.repo.root
        hooks = sorted(p.name for p in (root / ".git/hooks").iterdir())
        return {"outside": h.work_files(self.outside, cached=False),
                "work": h.work_files(root, cached=False),
                "manifests": h.work_files(root / ".folio/manifests", cached=False),
                "hooks": hooks,
                "config": (root / ".folio/config.toml").read_bytes(),
                "refs": GitRepo(root).list_refs("refs/")}

    def assert_untouched(self, before: dict[str, object]) -> None:
        assert not self.sentinel.exists(), "the sentinel outside the repo was created"
        assert self.before() == before, "something was written"


@pytest.fixture
def scene(repo: Repo, tmp_path: Path) -> Iterator[Scene]:
    outside = tmp_path / "outside"
    write(outside / "canary.txt", "do not touch\n")
    write(outside / "sub/canary.bin", os.urandom(100))
    write(repo.root / "data/a.csv", "a,b\n1,2\n")
    repo.add(["data"])
    repo.add_remote("nas", str(tmp_path / "nas"))
    payload = repo.store.put_bytes(b"#!/bin/sh\ntouch pwned\n")
    yield Scene(repo, outside, tmp_path / "sentinel", payload)


def manifest(*entries: dict[str, object], target: str = "data", kind: str = "dir") -> bytes:
    lines = [{"folio": 1, "kind": kind, "target": target}, *entries]
    return b"".join(json.dumps(o).encode() + b"\n" for o in lines)


def entry(scene: Scene, path: str, **extra: object) -> dict[str, object]:
    return {"path": path, "size": 22, "sha256": scene.payload, **extra}


def hostile_manifests(scene: Scene) -> dict[str, tuple[bytes, int]]:
    """name -> (data.folio content, the line the error must name)."""
    good = {"path": "a.csv", "size": 8, "sha256": hashlib.sha256(b"a,b\n1,2\n").hexdigest()}
    out = str(scene.outside)
    return {
        "dotdot": (manifest(entry(scene, "../../outside/pwned")), 2),
        "dotdot-inside": (manifest(good, entry(scene, "b/../../../outside/pwned")), 3),
        "absolute": (manifest(entry(scene, out + "/pwned")), 2),
        "dot-git": (manifest(entry(scene, ".git/hooks/post-checkout")), 2),
        "dot-git-deep": (manifest(good, entry(scene, "x/.GIT/config")), 3),
        "empty-part": (manifest(entry(scene, "a//b")), 2),
        "nul": (manifest(entry(scene, "a\x00b")), 2),
        "duplicate": (manifest(good, good), 3),
        "unsorted": (manifest(entry(scene, "z"), good), 3),
        "oid-path": (manifest({"path": "x", "size": 1, "sha256": "../../../etc/passwd"}), 2),
        "oid-short": (manifest({"path": "x", "size": 1, "sha256": scene.payload[:63]}), 2),
        "oid-upper": (manifest({"path": "x", "size": 1, "sha256": scene.payload.upper()}), 2),
        "size": (manifest({"path": "x", "size": -1, "sha256": scene.payload}), 2),
        "long-line": (manifest(good, entry(scene, "x" * (2 << 20))), 3),
        "target-dotfolio": (manifest(entry(scene, "config.toml"), target=".folio"), 1),
        "target-mismatch": (manifest(entry(scene, "pwned"), target="outside"), 1),
        "truncated": (manifest(good)[:-1], 2),
        "version": (manifest(good).replace(b'"folio": 1', b'"folio": 2'), 1),
    }


CASES = ["dotdot", "dotdot-inside", "absolute", "dot-git", "dot-git-deep", "empty-part", "nul",
         "duplicate", "unsorted", "oid-path", "oid-short", "oid-upper", "size", "long-line",
         "target-dotfolio", "target-mismatch", "truncated", "version"]


def assert_refused(proc: subprocess.CompletedProcess[str], *where: str) -> None:
    err = proc.stderr
    assert proc.returncode == 1, (proc.returncode, err)
    assert err.startswith("folio: error:") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for part in where:
        assert part in err, f"{part!r} not in {err!r}"


@pytest.mark.parametrize("case", CASES)
def test_checkout_of_a_hostile_commit_or_snapshot(scene: Scene, case: str) -> None:
    data, line = hostile_manifests(scene)[case]
    git_repo = GitRepo(scene.repo.root)
    git_repo.write_snapshot({".folio/manifests/data.folio": data}, ref="refs/heads/pr",
                            message="a pull request", trailers={})
    git_repo.write_snapshot({"data.folio": data}, ref="refs/folio/snapshots/evil",
                            message="evil", trailers=SNAPSHOT_TRAILERS)
    before = scene.before()
    assert_refused(run_folio(scene.repo.root, "checkout", "evil"), f"data.folio:{line}:")
    for rev in ("pr", "evil"):
        for extra in ([], ["--force"], ["--link", "symlink"]):
            proc = h.cli(scene.repo.root, "checkout", rev, *extra)
            assert_refused(proc, f"data.folio:{line}:")
    assert_refused(h.cli(scene.repo.root, "diff", "evil"), f"data.folio:{line}:")
    assert_refused(h.cli(scene.repo.root, "pull", "evil"), f"data.folio:{line}:")
    scene.assert_untouched(before)


@pytest.mark.parametrize("case", CASES)
def test_status_and_pull_with_a_hostile_working_manifest(scene: Scene, case: str,
                                                          tmp_path: Path) -> None:
    data, line = hostile_manifests(scene)[case]
    (scene.repo.root / ".folio/manifests/data.folio").write_bytes(data)
    before = scene.before()
    assert_refused(run_folio(scene.repo.root, "status"), f"data.folio:{line}:")
    for argv in (["status"], ["pull"], ["checkout"], ["checkout", "--force"], ["add", "data"],
                 ["snapshot", "s1"], ["push"], ["verify"], ["ls"]):
        assert_refused(h.cli(scene.repo.root, *argv), f"data.folio:{line}:")
    scene.assert_untouched(before)


def test_tree_entries_git_itself_would_refuse(scene: Scene) -> None:
    """A commit made with plumbing can hold '..' and '.git' names that no checkout of git
    would write; folio reads such trees and refuses them by name."""
    root = scene.repo.root
    blob = _blob(root, manifest(entry(scene, "pwned"), target="../outside"))
    for name in ("..", ".git", ".GIT"):
        inner = _mktree(root, f"100644 blob {blob}\toutside.folio\n")
        manifests = _mktree(root, f"040000 tree {inner}\t{name}\n")
        folio = _mktree(root, f"040000 tree {manifests}\tmanifests\n")
        top = _mktree(root, f"040000 tree {folio}\t.folio\n")
        commit = git(root, "commit-tree", top, "-m", "evil", check=True).stdout.strip()
        before = scene.before()
        proc = run_folio(root, "checkout", commit)
        assert_refused(proc, "outside.folio")
        scene.assert_untouched(before)


def _blob(root: Path, data: bytes) -> str:
    done = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=root, input=data,
                          capture_output=True, check=True)
    return done.stdout.decode().strip()


def _mktree(root: Path, listing: str) -> str:
    done = subprocess.run(["git", "mktree"], cwd=root, input=listing.encode(),
                          capture_output=True, check=True)
    return done.stdout.decode().strip()


# -- symlinks ------------------------------------------------------------------------------------
def test_links_leading_outside_are_refused(scene: Scene) -> None:
    root = scene.repo.root
    cases = {
        "up": {"path": "evil", "link": "../../outside"},
        "absolute": {"path": "evil", "link": str(scene.outside)},
        "git": {"path": "evil", "link": "../.git/hooks"},
        "file-through-link": None,
    }
    for name, link in cases.items():
        if link is None:  # a link that stays inside, and a file "under" it
            data = manifest({"path": "d", "link": "."}, entry(scene, "d/pwned"))
        else:
            data = manifest(link)
        GitRepo(root).write_snapshot({"data.folio": data}, ref=f"refs/folio/snapshots/{name}",
                                     message=name, trailers=SNAPSHOT_TRAILERS)
        before = scene.before()
        proc = run_folio(root, "checkout", name)
        assert_refused(proc, "data/")
        scene.assert_untouched(before)


def test_a_symlinked_directory_leading_outside_is_never_written_through(scene: Scene) -> None:
    root = scene.repo.root
    (root / "data/sub").symlink_to(scene.outside)
    data = manifest({"path": "a.csv", "size": 8,
                     "sha256": hashlib.sha256(b"a,b\n1,2\n").hexdigest()},
                    entry(scene, "sub/pwned"))
    GitRepo(root).write_snapshot({"data.folio": data}, ref="refs/folio/snapshots/through",
                                 message="x", trailers=SNAPSHOT_TRAILERS)
    before = scene.before()
    assert_refused(run_folio(root, "checkout", "through"), "data/sub")
    assert_refused(run_folio(root, "checkout", "--force", "through"), "data/sub")
    assert_refused(run_folio(root, "add", "data"), "data/sub")
    assert_refused(run_folio(root, "add", "data/sub/canary.txt"), "outside the repository")
    assert_refused(run_folio(root, "status"), "data/sub")
    scene.assert_untouched(before)
    # and a target that is itself a link to outside
    (root / "data/sub").unlink()
    os.rename(root / "data", root / "data.real")
    (root / "data").symlink_to(scene.outside)
    before = scene.before()
    assert_refused(run_folio(root, "checkout", "--force"), "data")
    scene.assert_untouched(before)


# -- archives -------------------------------------------------------------------------------------
def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _special(name: str, kind: bytes, target: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def test_archives_with_escaping_entries_are_refused(scene: Scene, tmp_path: Path) -> None:
    root = scene.repo.root
    head = [_file("folio-archive.json", b'{"format": "folio-archive", "version": 1}'),
            _file("snapshot.json", b'{"tag": "evil", "message": "", "trailers": {}}'),
            _file("manifests/data.folio", manifest(entry(scene, "pwned")))]
    out = str(scene.outside)
    evil = {
        "dotdot": [_file("../outside/pwned", b"x")],
        "dotdot-deep": [_file("objects/../../outside/pwned", b"x")],
        "absolute": [_file(out + "/pwned", b"x")],
        "symlink": [_special("objects/ab", tarfile.SYMTYPE, out)],
        "hardlink": [_special("objects/ab/cd", tarfile.LNKTYPE, out + "/canary.txt")],
        "device": [_special("objects/dev", tarfile.CHRTYPE)],
        "fifo": [_special("objects/fifo", tarfile.FIFOTYPE)],
        "manifest-escape": [_file("manifests/../../outside/pwned.folio", b"x")],
        "unknown": [_file("hooks/post-checkout", b"#!/bin/sh\n")],
    }
    for name, members in evil.items():
        archive = _tar(tmp_path / f"{name}.tar", head + members)
        before = scene.before()
        proc = run_folio(root, "import", str(archive))
        assert_refused(proc, f"{name}.tar")
        scene.assert_untouched(before)
    zpath = tmp_path / "escape.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("folio-archive.json", '{"format": "folio-archive", "version": 1}')
        z.writestr("../outside/pwned", "x")
    before = scene.before()
    assert_refused(run_folio(root, "import", str(zpath)), "escape.zip")
    scene.assert_untouched(before)


# -- code from elsewhere --------------------------------------------------------------------------
class _Boom:
    def __init__(self, sentinel: str) -> None:
        self.sentinel = sentinel

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.sentinel}",))


def test_pickles_and_models_never_load_without_local_trust(scene: Scene) -> None:
    """A pull request can commit any manifest and any config.toml: neither may make folio
    unpickle. Only allow_pickle=True or config.local.toml (never committed) trust."""
    repo = scene.repo
    bundle = repo.folio("exp")
    bundle.add_data("ok", {"fine": True})
    payload = pickle.dumps(_Boom(str(scene.sentinel)))
    oid = repo.store.put_bytes(payload)
    m = repo.read_manifest("exp")
    types = ["pickle", "sklearn", "torch-model"]
    for kind in types:  # what a hostile pull request's manifest would say
        path = f"evil-{kind}.bin"
        m.entries[path] = type(next(iter(m.entries.values())))(path, len(payload), oid, kind)
        write(repo.root / "exp" / path, payload)
    repo.write_manifest(m)
    write(repo.root / ".folio/config.toml",
          (repo.root / ".folio/config.toml").read_text().replace("[core]",
                                                                 "[core]\ntrust_pickles = true"))
    bundle = Repo(repo.root).folio("exp")
    for kind in types:
        with pytest.raises(PickleNotAllowedError) as err:
            bundle.get_data(f"evil-{kind}.bin")
        assert "\n" not in str(err.value)
        with pytest.raises(PickleNotAllowedError):
            bundle[f"evil-{kind}.bin"]
    for argv in (["describe", "exp"], ["diff"], ["diff", "HEAD"], ["status"], ["ls"]):
        run_folio(repo.root, *argv)  # whatever they print, they must not unpickle
    code = ("import folio, sys; f = folio.Folio('exp'); "
            "[print(k, f.info(k).type) for k in f.keys()]; f.get_data('evil-pickle.bin')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo.root, capture_output=True,
                          text=True)
    assert proc.returncode == 1 and "PickleNotAllowedError" in proc.stderr
    assert not scene.sentinel.exists(), "a pickle from elsewhere ran code"
    # trust that is the user's own: the local config, or the explicit flag
    Repo(repo.root).config.update(["core"], {"trust_pickles": True}, local=True)
    assert Repo(repo.root).config.trust_pickles
    Repo(repo.root).folio("exp").get_data("evil-pickle.bin")
    assert scene.sentinel.exists()  # (it ran, as asked: that is what trust means)


# -- credentials -------------------------------------------------------------------------------
CANARY = "CANARYsecret0123456789abcdefCANARY"


def test_credentials_never_reach_a_file_or_a_log(scene: Scene, tmp_path: Path) -> None:
    """Secrets come from the environment; no command writes them anywhere or prints them,
    not even when it fails (an unreachable endpoint, a refused URL with user info)."""
    root = scene.repo.root
    env = {"AWS_SECRET_ACCESS_KEY": CANARY, "AWS_ACCESS_KEY_ID": "AKIA" + CANARY,
           "AWS_SESSION_TOKEN": "token" + CANARY, "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    outputs = []
    for argv in (
            ["remote", "add", "s3", "s3://folio-bucket/prefix", "--endpoint",
             "http://127.0.0.1:9", "--allow-http", "--region", "eu-west-1"],
            ["remote", "add", "userinfo", f"s3://AKIA:{CANARY}@folio-bucket/x"],
            ["remote", "add", "team", "s3://folio-bucket/y", "--profile", "team", "--local"],
            ["push", "--remote", "s3"], ["pull", "--remote", "s3"], ["fetch", "--remote", "s3"],
            ["verify", "--remote", "s3"], ["remote", "list", "--json"],
            ["push", "--remote", "team"], ["snapshot", "v1"], ["push", "--remote", "s3", "v1"],
            ["status", "--json"]):
        proc = run_folio(root, *argv, env=env)
        assert "Traceback" not in proc.stderr, proc.stderr
        outputs.append(proc.stdout + proc.stderr)
    assert not [o for o in outputs if CANARY in o], "a secret was printed"
    leaks = [str(Path(d, n).relative_to(root)) for d, _, names in os.walk(root) for n in names
             if CANARY.encode() in Path(d, n).read_bytes()]
    assert not leaks, f"a secret was written to {leaks}"
