"""The world of the hostile-repository suite: an origin, a victim clone, an attacker clone.

Built once per module at a fixed path, then copied whole for every attack, so every absolute
path inside it (git's ``remote.origin.url``, the committed directory remote, the hooks'
interpreter) stays right without rewriting anything. Beside the clones lie the trees a
hostile commit aims at: ``outside`` (old files, as gc's staging sweep would pick), an
attacker's store and remote (empty: nothing of the victim's may ever arrive there), and the
path of a sentinel that only code run by a pickle would create.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.reliability.harness import remove_tree

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
}
FOLIO = [sys.executable, "-m", "folio.cli"]
OLD = 3 * 86400  # seconds: older than gc's staging grace of a day
TIMEOUT = 60  # no command of this suite may run longer: an endless input is a failure


@dataclass(frozen=True)
class World:
    """Paths of one copy of the world; every attack gets a fresh copy at the same place."""

    root: Path

    @property
    def origin(self) -> Path:
        return self.root / "origin.git"

    @property
    def victim(self) -> Path:
        return self.root / "victim"

    @property
    def attacker(self) -> Path:
        return self.root / "attacker"

    @property
    def outside(self) -> Path:
        return self.root / "outside"

    @property
    def nas(self) -> Path:
        """The team's directory remote: the attacker, a team member, can write it too."""
        return self.root / "nas"

    @property
    def evil_store(self) -> Path:
        return self.root / "evil-store"

    @property
    def evil_remote(self) -> Path:
        return self.root / "evil-remote"

    @property
    def sentinel(self) -> Path:
        """Created only by code that a hostile pickle runs."""
        return self.root / "PWNED"

    def env(self, home: Path | None = None) -> dict[str, str]:
        """The environment of every command: no GIT_DIR or the like from a caller (a hook
        running the tests), a home of the world's own, a fixed git identity."""
        own = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        return {**own, **GIT_ENV, "HOME": str(home or self.root / "home")}

    def guarded(self) -> dict[str, str]:
        """Checksums of every tree outside the victim clone that a commit may aim at."""
        out = {}
        for tree in (self.outside, self.evil_store, self.evil_remote, self.attacker):
            for rel, value in tree_state(tree).items():
                out[f"{tree.name}/{rel}"] = value
        if self.sentinel.exists():
            out["PWNED"] = "exists"
        return out


def tree_state(top: Path) -> dict[str, str]:
    """path -> what a user would call its content: sha256, mode and mtime of a file, target
    of a link, 'dir' for a directory. Never follows a link."""
    out: dict[str, str] = {}
    if not os.path.lexists(top):
        return out
    cut = len(str(top)) + 1
    stack = [str(top)]
    while stack:
        current = stack.pop()
        with os.scandir(current) as it:
            for entry in it:
                rel = entry.path[cut:]
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    out[rel] = "link:" + os.readlink(entry.path)
                elif stat.S_ISDIR(st.st_mode):
                    out[rel] = "dir"
                    stack.append(entry.path)
                elif stat.S_ISREG(st.st_mode):
                    with open(entry.path, "rb") as f:
                        sha = hashlib.sha256(f.read()).hexdigest()
                    out[rel] = f"{sha} {st.st_mode:o} {st.st_mtime_ns}"
                else:
                    out[rel] = f"special {st.st_mode:o}"
    return out


def local_dir(clone: Path) -> Path:
    """Where the clone keeps its own parts: ``.git/folio``, or ``.folio`` for a folio older
    than that (so the suite judges an older tree by the same rules)."""
    new = clone / ".git" / "folio"
    return new if new.is_dir() and not new.is_symlink() else clone / ".folio"


def store_objects(clone: Path) -> set[str]:
    """The objects in a clone's own store (``<local dir>/objects/ab/cdef...``), links not
    followed: a store that is a link, or gone, holds none."""
    top = local_dir(clone) / "objects"
    if not all(os.path.lexists(p) and stat.S_ISDIR(os.lstat(p).st_mode)
               for p in (top.parent, top)):
        return set()
    out = set()
    with os.scandir(top) as fans:
        for fan in fans:
            if fan.is_dir(follow_symlinks=False) and len(fan.name) == 2:
                with os.scandir(fan.path) as it:
                    out.update(f"{fan.name}/{e.name}" for e in it
                               if e.is_file(follow_symlinks=False))
    return out


_hashed: dict[tuple[str, int, int, int], str] = {}


def misnamed_objects(clone: Path) -> list[str]:
    """Objects of the clone's own store whose bytes do not hash to their name."""
    top = local_dir(clone) / "objects"
    out = []
    for name in sorted(store_objects(clone)):
        path = top / name
        st = os.lstat(path)
        key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
        if key not in _hashed:
            with open(path, "rb") as f:
                _hashed[key] = hashlib.sha256(f.read()).hexdigest()
        if _hashed[key] != name.replace("/", ""):
            out.append(name)
    return out


def recovery_log(clone: Path) -> bytes:
    """The clone's recovery log, links not followed (a link or nothing: empty)."""
    path = local_dir(clone) / "logs" / "recovery.jsonl"
    parts = (path.parent.parent, path.parent, path)
    if not all(os.path.lexists(p) and not os.path.islink(p) for p in parts):
        return b""
    return path.read_bytes()


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Paths created, deleted or changed between two states, sorted."""
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


# -- running things ------------------------------------------------------------------------------
def run(cwd: Path, argv: Sequence[str], env: dict[str, str], *, stdin: bytes | None = None,
        timeout: float = TIMEOUT, preexec: Callable[[], None] | None = None
        ) -> subprocess.CompletedProcess[str]:
    """Run ``argv``; a command that outlives ``timeout`` counts as exit code -999."""
    try:
        done = subprocess.run(list(argv), cwd=cwd, env=env, input=stdin, capture_output=True,
                              timeout=timeout, preexec_fn=preexec)
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(list(argv), -999, _text(exc.stdout),
                                           _text(exc.stderr) + f"\n(killed after {timeout} s)")
    return subprocess.CompletedProcess(done.args, done.returncode, _text(done.stdout),
                                       _text(done.stderr))


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "backslashreplace")


def git(cwd: Path, env: dict[str, str], *args: str) -> str:
    done = run(cwd, ["git", *args], env)
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} in {cwd}: {done.stderr}")
    return done.stdout


def folio(cwd: Path, env: dict[str, str], *args: str) -> str:
    done = run(cwd, [*FOLIO, *args], env)
    if done.returncode != 0:
        raise AssertionError(f"folio {' '.join(args)} in {cwd}: {done.stderr}")
    return done.stdout


def python(cwd: Path, env: dict[str, str], code: str) -> str:
    done = run(cwd, [sys.executable, "-c", code], env)
    if done.returncode != 0:
        raise AssertionError(f"python in {cwd}: {done.stderr}")
    return done.stdout


# -- building the world ---------------------------------------------------------------------------
VICTIM_DATA = {
    "data/a.csv": b"a,b\n1,2\n3,4\n",
    "data/sub/b.bin": bytes(range(256)) * 4,
    "data/sub/c.txt": b"the victim's own words\n",
    "results.csv": b"run,score\n1,0.9\n",
}
SECRET = b"API_KEY=victims-own-secret\n"

BUNDLE_CODE = """
import numpy as np, folio
f = folio.Repo('.').folio('exp')
f.add_data('params', {'lr': 0.1, 'layers': [64, 64]})
f.add_data('weights', np.arange(12, dtype=np.int64).reshape(3, 4))
f.add_data('notes', 'the victim wrote this')
"""


def build(root: Path) -> World:
    """The origin, the victim's clone (data, a bundle, a snapshot, a directory remote, the
    hooks installed, everything pushed) and the attacker's clone of it."""
    world = World(root)
    root.mkdir(parents=True)
    (root / "home").mkdir()
    env = world.env()
    _outside(world)
    world.evil_store.mkdir()
    world.evil_remote.mkdir()
    git(root, env, "init", "-q", "--bare", "-b", "main", str(world.origin))
    git(root, env, "clone", "-q", str(world.origin), str(world.victim))
    victim = world.victim
    for rel, data in VICTIM_DATA.items():
        path = victim / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (victim / ".env").write_bytes(SECRET)
    (victim / ".gitignore").write_text(".env\n")
    folio(victim, env, "init")
    folio(victim, env, "remote", "add", "nas", str(world.nas))
    folio(victim, env, "add", "data", "results.csv")
    python(victim, env, BUNDLE_CODE)
    git(victim, env, "add", "-A")
    git(victim, env, "commit", "-q", "-m", "the victim's data")
    folio(victim, env, "snapshot", "v1", "-m", "the victim's first snapshot")
    folio(victim, env, "push")
    git(victim, env, "push", "-q", "origin", "main", "refs/folio/*:refs/folio/*")
    (victim / "results.csv").write_bytes(b"run,score\n1,0.8\n")  # an edit, then forced over:
    folio(victim, env, "checkout", "--force")  # the recovery log is its only record
    folio(victim, env, "install-hooks")
    git(root, env, "clone", "-q", str(world.origin), str(world.attacker))
    git(world.attacker, env, "fetch", "-q", "origin", "refs/folio/*:refs/folio/*")
    accept_remote(world.attacker, env)
    folio(world.attacker, env, "pull")
    return world


def accept_remote(clone: Path, env: dict[str, str]) -> None:
    """What a user of a new clone does once: accept the team's remote (where folio has
    ``folio accept``: a committed remote takes effect only once a clone accepts it)."""
    if run(clone, [*FOLIO, "accept", "--help"], env).returncode == 0:
        folio(clone, env, "accept", "remotes.nas")


def _outside(world: World) -> None:
    """Old files at the top and below: what a link to here would expose to deletion."""
    files = {"canary.txt": b"do not touch\n", "notes.folio": b"not a manifest\n",
             "0123456789abcdef.folio": b"looks like a shard\n",
             "ab/cdef": b"looks like an object\n", "sub/deep/canary.bin": os.urandom(64),
             "logs/recovery.jsonl": b"{}\n", "index": b"not an index\n"}
    old = os.path.getmtime(world.root) - OLD
    for rel, data in files.items():
        path = world.outside / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (old, old))


def fresh_copy(base: Path, root: Path) -> World:
    """A copy of the world built at ``root`` and kept at ``base``, back at ``root``."""
    if os.path.lexists(root):
        remove_tree(root)
    shutil.copytree(base, root, symlinks=True)
    return World(root)


@dataclass
class Outcome:
    """What one step did: its command, exit code, output, and what it broke."""

    step: str
    returncode: int
    stdout: str
    stderr: str
    problems: list[str] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return self.returncode == 1
