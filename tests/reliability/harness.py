"""The crash-consistency harness: clone a template repository, SIGKILL a real folio command
at a random moment, then check every invariant of docs/format.md on what the kill left.

A *state* is what a user can see: the data files of the work tree, the manifest files, the
folio refs. A trial passes when the state after the kill is, file by file and target by
target, either the state before the command or the state after an uninterrupted run; when
the store is whole (``verify``) and holds nothing but complete objects under their names;
and when running the command again reaches exactly the uninterrupted final state.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from folio import manifest as mf
from folio.objects.store import is_oid
from folio.ops.maintenance import verify
from folio.ops.roots import named_objects
from folio.repo import Repo
from folio.revisions import Side
from folio.worktree.scan import DEBRIS

FOLIO = [sys.executable, "-m", "folio.cli"]
SKIP = (".git", ".folio")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- making and copying repositories ------------------------------------------------------------
def init_repo(root: Path) -> Repo:
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    return Repo.init(root)


def clone_dir(src: Path, dst: Path) -> Path:
    """Copy a directory of repositories in milliseconds: files are hard-linked where that is
    as good as a copy.

    Nothing folio does writes a file in place (every write is a rename over the name), so
    read-only objects and work-tree data can share their inodes with the template. Other
    files (git's and folio's own: refs, config, the stat cache, the recovery log that is
    appended to in place) are copied, keeping their mtimes.
    """
    cut = len(str(src)) + 1
    for dirpath, dirnames, filenames in os.walk(src):
        rel = dirpath[cut:]
        target = dst / rel if rel else dst
        target.mkdir(parents=True)
        own = any(part in SKIP for part in Path(rel).parts)
        for name in filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(path), target / name)
            elif not own or not st.st_mode & 0o222:
                os.link(path, target / name)
            else:
                shutil.copy2(path, target / name)
        for name in dirnames:
            if os.path.islink(os.path.join(dirpath, name)):
                os.symlink(os.readlink(os.path.join(dirpath, name)), target / name)
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
    return dst


def replace_with_link(path: Path, target: str | Path) -> Path:
    """Put a symlink to ``target`` at ``path``, removing whatever file or tree was there."""
    if path.is_dir() and not path.is_symlink():
        remove_tree(path)
    elif os.path.lexists(path):
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    return path


def remove_tree(path: Path) -> None:
    def unlock(func: Callable[..., object], p: str, _exc: object) -> None:
        os.chmod(os.path.dirname(p), 0o755)
        func(p)

    if not path.exists():
        return
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=unlock)
    else:
        shutil.rmtree(path, onerror=unlock)


# -- states ---------------------------------------------------------------------------------
@dataclass
class State:
    """What a user can see of a repository, by content hash."""

    files: dict[str, str]  # work-tree path -> sha256 (.git and .folio excluded)
    manifests: dict[str, bytes]  # target -> canonical encoding of the parsed manifest
    refs: dict[str, str] = field(default_factory=dict)  # refs/folio/* -> commit
    entries: dict[str, bytes] = field(default_factory=dict)  # location -> canonical entry


# Files are only ever replaced by a rename, never rewritten, so an inode with the same size
# and mtime holds the same bytes: trials share their templates' inodes and hash little.
_digests: dict[tuple[int, int, int, int], str] = {}


def file_digest(path: str, st: os.stat_result | None = None) -> str:
    st = st or os.stat(path)
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    found = _digests.get(key)
    if found is None:
        with open(path, "rb") as f:
            found = _digests[key] = digest(f.read())
    return found


def work_files(root: Path, *, cached: bool = True) -> dict[str, str]:
    """Every file below ``root`` (.git and .folio at the top excluded) -> sha256, or
    ``link:TARGET`` for a symlink. ``cached=False`` rehashes all (for files that someone
    might have rewritten in place, where the inode cache could be fooled)."""
    out: dict[str, str] = {}
    cut = len(str(root)) + 1
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    if entry.path[cut:] not in SKIP:  # .git and .folio at the top only
                        stack.append(entry.path)
                elif entry.is_symlink():
                    out[entry.path[cut:]] = "link:" + os.readlink(entry.path)
                elif cached:
                    out[entry.path[cut:]] = file_digest(entry.path, entry.stat())
                else:
                    with open(entry.path, "rb") as f:
                        out[entry.path[cut:]] = digest(f.read())
    return out


def canonical(manifest: mf.Manifest) -> bytes:
    """One encoding per meaning; a bundle item's ``created`` time is left out (a rerun
    that adds the same value keeps the first one's, which the measured run cannot know)."""
    for entry in manifest.entries.values():
        if entry.meta and "created" in entry.meta:
            entry.meta = {k: v for k, v in entry.meta.items() if k != "created"}
    files = mf.dump(manifest)
    return b"".join(files[k] for k in sorted(files))


def capture(root: Path) -> State:
    repo = Repo(root)
    parsed = repo.manifests()
    manifests = {t: canonical(m) for t, m in parsed.items()}
    refs = dict(repo.git.list_refs("refs/folio/"))
    entries = {m.location(e.path): json.dumps(e.to_json(), sort_keys=True).encode()
               for m in parsed.values() for e in m.entries.values()}
    return State(work_files(root), manifests, refs, entries)


# -- running and killing ----------------------------------------------------------------------
def timed_run(cwd: Path, argv: list[str]) -> float:
    start = time.monotonic()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - start
    assert done.returncode == 0, f"{argv}: {done.stderr}"
    return elapsed


def startup_time(cwd: Path) -> float:
    """How long the interpreter takes to reach folio's code: killing sooner tests nothing."""
    return timed_run(cwd, [sys.executable, "-c", "import folio.repo"])


@dataclass
class Killed:
    delay: float
    finished: bool  # the command completed before the signal
    elapsed: float  # until it ended, by itself or by the signal
    returncode: int | None
    stderr: str


def kill_after(cwd: Path, argv: list[str], delay: float, env: dict[str, str] | None = None
               ) -> Killed:
    """Start ``argv``, SIGKILL its whole process group after ``delay`` seconds."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True, env=env)
    try:
        proc.wait(timeout=delay)
        finished = True
    except subprocess.TimeoutExpired:
        finished = False
        os.killpg(proc.pid, signal.SIGKILL)
    elapsed = time.monotonic() - start
    _, err = proc.communicate(timeout=60)
    return Killed(delay, finished, elapsed, proc.returncode, err.decode(errors="replace"))


# -- invariants -----------------------------------------------------------------------------------
def check_store(repo: Repo, allowed_missing: Iterable[str] = (), *, full: bool = True) -> None:
    """The store holds only complete objects under their names, and misses nothing named
    (beyond ``allowed_missing``: objects that were missing before the command).

    ``full`` runs ``folio verify`` itself; otherwise the same checks run with objects
    hashed once per inode (a trial shares most of its objects with its template).
    """
    root = str(repo.store.root)
    present = set()
    if os.path.isdir(root):
        for fan in os.listdir(root):
            if fan == "chunks":  # chunk lists and their index (docs/format.md, "Chunk store")
                present |= set(repo.store.chunks.iter_oids())
                continue
            assert len(fan) == 2 and all(c in "0123456789abcdef" for c in fan), \
                f"stray entry in the object store: {fan}"
            with os.scandir(os.path.join(root, fan)) as it:
                for entry in it:
                    oid = fan + entry.name
                    assert is_oid(oid), f"not an object name in the store: {fan}/{entry.name}"
                    st = entry.stat(follow_symlinks=False)
                    assert stat.S_ISREG(st.st_mode) and not st.st_mode & 0o222, \
                        f"object {oid} is not a read-only regular file"
                    present.add(oid)
                    if not full:
                        assert file_digest(entry.path, st) == oid, f"corrupt object {oid}"
    if not full:
        missing = set(named_objects(repo)) - present - set(allowed_missing)
        assert not missing, f"missing objects: {sorted(missing)[:3]}"
        return
    result = verify(repo)
    assert not result.corrupt, f"corrupt objects: {result.corrupt}"
    missing = set(result.missing) - set(allowed_missing)
    assert not missing, f"missing objects: {sorted(missing)[:3]}"


def check_refs_parse(repo: Repo) -> None:
    """Every snapshot's manifests parse, and the working manifests parse."""
    repo.manifests()
    for name, _ in repo.git.list_refs("refs/folio/snapshots/"):
        side: Side = repo.resolve(name)
        assert side.manifests is not None


def check_between(now: State, old: State, new: State, *, what: str,
                  per_entry: bool = False) -> None:
    """Every file, every target (``per_entry``: every entry) and ref is wholly old or new."""
    for path in sorted(set(now.files) | set(old.files) | set(new.files)):
        if path not in old.files and path not in new.files and \
                DEBRIS.match(os.path.basename(path)):
            continue  # a killed write's staging file: never data (status and add skip it)
        got = now.files.get(path)
        assert got in (old.files.get(path), new.files.get(path)), \
            f"{what}: work-tree file {path} is neither old nor new"
    if per_entry:  # a command that records several changes one after the other
        for loc in sorted(set(now.entries) | set(old.entries) | set(new.entries)):
            assert now.entries.get(loc) in (old.entries.get(loc), new.entries.get(loc)), \
                f"{what}: manifest entry {loc} is neither old nor new"
    for target in sorted(set(now.manifests) | set(old.manifests) | set(new.manifests)):
        if per_entry:
            break
        got_m = now.manifests.get(target)
        assert got_m in (old.manifests.get(target), new.manifests.get(target)), \
            f"{what}: manifest of {target} is neither old nor new"
    for ref, sha in old.refs.items():  # new refs are the verb's to check (their commit
        assert now.refs.get(ref) == sha, f"{what}: ref {ref} moved"  # sha has a timestamp)


def check_equal(now: State, new: State, *, what: str, refs: bool = False) -> None:
    assert now.files == new.files, f"{what}: work tree differs: " + _diff(now.files, new.files)
    assert now.manifests == new.manifests, f"{what}: manifests differ: " + _diff(
        now.manifests, new.manifests)
    if refs:
        assert set(now.refs) == set(new.refs), f"{what}: refs differ"


def _diff(a: dict[str, object], b: dict[str, object]) -> str:
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


def git_fsck(root: Path) -> None:
    done = subprocess.run(["git", "fsck", "--no-dangling", "--no-progress"], cwd=root,
                          capture_output=True, text=True)
    assert done.returncode == 0, f"git fsck: {done.stdout}{done.stderr}"


# -- the data every template starts from ----------------------------------------------------------
BIG = (5 << 20) + 7  # above the store's 4 MiB small-file limit: the streaming, staged path
MANY = 2100  # above manifest.SHARD_THRESHOLD: a sharded target


def write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".writing")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def version_a(root: Path, many: bool = True) -> None:
    """data/ (30 files and one big one), many/ (sharded)."""
    import random

    rng = random.Random("version-a")
    for i in range(30):
        write_file(root / f"data/f{i:03d}.bin", rng.randbytes(20_000 + i))
    write_file(root / "data/sub/notes.txt", b"notes\n")
    write_file(root / "data/big.bin", rng.randbytes(BIG))
    for i in range(MANY if many else 0):
        write_file(root / f"many/d{i % 10}/x{i:04d}.txt", f"row {i}\n".encode())


def version_b(root: Path, many: bool = True) -> None:
    """Changes, additions and deletions in every target, and a new file target."""
    import random

    rng = random.Random("version-b")
    for i in range(6):
        write_file(root / f"data/f{i:03d}.bin", rng.randbytes(20_000 + i))
    for i in range(30, 34):
        write_file(root / f"data/f{i:03d}.bin", rng.randbytes(15_000))
    for i in range(27, 30):
        (root / f"data/f{i:03d}.bin").unlink()
    write_file(root / "data/big.bin", rng.randbytes(BIG))
    for i in range(3 if many else 0):
        write_file(root / f"many/d{i % 10}/x{i:04d}.txt", b"changed\n")
    for i in (MANY, MANY + 1) if many else ():
        write_file(root / f"many/d{i % 10}/x{i:04d}.txt", f"new row {i}\n".encode())
    for i in (MANY - 2, MANY - 1) if many else ():
        (root / f"many/d{i % 10}/x{i:04d}.txt").unlink()
    write_file(root / "extra.csv", b"a,b\n1,2\n")


def age_tree(root: Path, seconds: float = 10.0) -> None:
    """Make every work-tree file look older than the racy-clean window, as real data is."""
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath == str(root):
            dirnames[:] = [d for d in dirnames if d not in SKIP]
        for name in filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - int(seconds * 1e9)),
                     follow_symlinks=False)


# -- bundles ----------------------------------------------------------------------------------
# Runs in a killed subprocess (``python -c SCRIPT ROOT SEED``) and, to finish, in-process.
ITEMS_SCRIPT = """
import sys
import numpy as np
from folio.repo import Repo

def write_items(root, seed):
    f = Repo(root).folio("exp")
    rng = np.random.default_rng(seed)
    for i in range(5):
        f.add_data(f"arr{i}", rng.standard_normal(60_000 + i), description=f"array {i}")
    f.add_data("big", rng.integers(0, 255, 5_000_000, dtype=np.uint8))
    f.add_data("params", {"seed": seed, "lr": 0.1}, inputs=["arr0"])
    f.add_data("notes", f"seed {seed}\\n" * 500)
    f.add_data(f"only{seed}", [seed] * 100)

if __name__ == "__main__":
    write_items(sys.argv[1], int(sys.argv[2]))
"""


def write_items(root: Path, seed: int) -> None:
    scope: dict[str, object] = {"__name__": "items"}
    exec(ITEMS_SCRIPT, scope)
    scope["write_items"](str(root), seed)  # type: ignore[operator]


# -- the command line, in this process -----------------------------------------------------------
def cli(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """``folio ARGV`` through click's runner, in this process: the same code and error
    handling as the real command, without the interpreter start-up. An exception that
    escapes the command shows as a traceback on stderr, as it would in a real process."""
    import traceback

    from click.testing import CliRunner

    from folio.cli import main

    old = os.getcwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(main, list(argv), catch_exceptions=True)
    finally:
        os.chdir(old)
    stderr = result.stderr
    code = result.exit_code
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "Traceback (most recent call last):\n" + "".join(
            traceback.format_exception(result.exception))
        code = 1
    return subprocess.CompletedProcess(["folio", *argv], code, result.stdout, stderr)
