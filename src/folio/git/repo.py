"""Bytes and refs in the user's git repository: the only module that imports pygit2.

It knows nothing of manifest formats. Snapshots are commits written straight into the
object database (blobs, trees, one commit) and named by a ref moved only by
compare-and-swap; the user's index, HEAD, branches and work tree are never touched.
pygit2 is imported inside the methods so that importing ``folio.git`` stays cheap.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

from folio.errors import (
    InvalidNameError,
    NotARepositoryError,
    PathError,
    RefConflictError,
    RefError,
    RemoteError,
    TagExistsError,
    UnknownRevisionError,
)

if TYPE_CHECKING:
    import pygit2

MANIFESTS_PREFIX = ".folio/manifests"
FOLIO_REFS = "refs/folio/"
SNAPSHOTS_PREFIX = "refs/folio/snapshots/"
RUNS_PREFIX = "refs/folio/runs/"
FOLIO_REFSPEC = "refs/folio/*:refs/folio/*"
# Where `folio fetch` mirrors a git remote's refs/folio/* (refs/folio-remotes/<remote>/...):
# outside refs/folio/, so no listing, gc root or push of refs/folio/* ever sees it.
MIRROR_PREFIX = "refs/folio-remotes/"

# Trailer names folio writes into snapshot and run commits (callers choose which to fill).
TRAILER_KIND = "Folio-Kind"  # "snapshot" or "run"
TRAILER_NAME = "Folio-Name"  # the tag or run id, so an exported commit still says what it was
TRAILER_CODE_COMMIT = "Folio-Code-Commit"  # HEAD when captured; absent on an unborn branch
TRAILER_CODE_DIRTY = "Folio-Code-Dirty"  # "true" if tracked code differed from HEAD
TRAILER_FILES = "Folio-Files"  # file count, so `folio tags` need not parse manifests
TRAILER_BYTES = "Folio-Bytes"  # total size in bytes, likewise

FALLBACK_NAME = "folio"
FALLBACK_EMAIL = "folio@localhost"

_TRAILER_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_TRAILER_LINE = re.compile(r"([A-Za-z0-9][A-Za-z0-9-]*): (.*)")
_TREE_MODE = 0o040000
_BLOB_MODE = 0o100644

_Tree = dict[str, Union["_Tree", bytes]]


@dataclass(frozen=True)
class CommitInfo:
    """What folio needs from a commit: its message split from its trailers, and its origin."""

    sha: str
    tree: str
    message: str
    trailers: dict[str, str]
    time: int  # committer time, epoch seconds
    offset: int  # committer UTC offset, minutes
    author: str  # "Name <email>"
    parents: tuple[str, ...]


def format_message(message: str, trailers: Mapping[str, str]) -> str:
    """``message``, a blank line, then one ``Key: value`` line per trailer (git style)."""
    body = message.rstrip()
    for key, value in trailers.items():
        if not _TRAILER_KEY.fullmatch(key):
            raise ValueError(f"invalid trailer key {key!r}")
        if "\n" in value or "\r" in value:
            raise ValueError(f"trailer {key} must be one line")
    if not trailers:
        return body + "\n"
    lines = "\n".join(f"{key}: {value}" for key, value in trailers.items())
    return f"{body}\n\n{lines}\n"


def parse_trailers(raw: str) -> tuple[str, dict[str, str]]:
    """Split a commit message into (message, trailers).

    As in git, trailers are the last paragraph, only if every line is ``Key: value`` and
    it is not the only paragraph (a title alone is never a trailer block).
    """
    text = raw.rstrip("\n")
    cut = text.rfind("\n\n")
    if cut < 0:
        return text, {}
    trailers: dict[str, str] = {}
    for line in text[cut + 2 :].split("\n"):
        match = _TRAILER_LINE.fullmatch(line)
        if match is None:
            return text, {}
        trailers[match.group(1)] = match.group(2)
    return text[:cut].rstrip("\n"), trailers


class GitRepo:
    """A git repository (found from any path inside its work tree) seen as bytes and refs."""

    def __init__(self, path: str | Path = ".") -> None:
        import pygit2

        found = pygit2.discover_repository(str(path))
        if found is None:
            raise NotARepositoryError("not inside a git repository", path=str(path))
        try:
            self._repo = pygit2.Repository(found)
        except pygit2.GitError as exc:  # e.g. safe.directory ownership, a corrupt .git
            raise NotARepositoryError(f"cannot open git repository: {exc}", path=found) from None

    @property
    def workdir(self) -> Path | None:
        """Top of the work tree, or None for a bare repository."""
        return Path(self._repo.workdir) if self._repo.workdir else None

    @property
    def git_dir(self) -> Path:
        """The repository's git directory."""
        return Path(self._repo.path)

    # -- config ---------------------------------------------------------------------------

    def get_config(self, key: str) -> str | None:
        """The value git would see for ``key`` (any level), or None if unset."""
        config = self._repo.config
        return str(config[key]) if key in config else None

    def set_config(self, key: str, value: str | bool | int) -> None:
        """Set ``key`` in this repository's own config (never the user's global one)."""
        self._repo.config[key] = value

    # -- HEAD and revisions ---------------------------------------------------------------

    def head_commit(self) -> str | None:
        """The commit HEAD names, or None on an unborn branch."""
        import pygit2

        if self._repo.head_is_unborn:
            return None
        return str(self._repo.head.peel(pygit2.Commit).id)

    def is_dirty(self, ignore_prefixes: Sequence[str] = (".folio/",)) -> bool:
        """True if the index or tracked work-tree files differ from HEAD.

        Untracked files are not looked at (that is what keeps this fast on data-heavy
        trees), nor are paths under ``ignore_prefixes``.
        """
        import pygit2

        if self._repo.is_bare:
            raise NotARepositoryError("a bare repository has no work tree", path=self._repo.path)
        prefixes = tuple(ignore_prefixes)
        for path, flags in self._repo.status(untracked_files="no").items():
            if flags in (pygit2.enums.FileStatus.CURRENT, pygit2.enums.FileStatus.IGNORED):
                continue
            if not (prefixes and path.startswith(prefixes)):
                return True
        return False

    def resolve_commit(self, rev: str) -> str:
        """The full sha of the commit that git revision ``rev`` names."""
        return str(self._commit(rev).id)

    def _commit(self, rev: str) -> pygit2.Commit:
        import pygit2

        if not rev or rev.startswith("-"):
            raise UnknownRevisionError(f"unknown revision {rev!r}")
        try:
            obj = self._repo.revparse_single(rev)
        except (KeyError, ValueError, pygit2.GitError) as exc:
            raise UnknownRevisionError(f"unknown revision {rev!r} ({_reason(exc)})") from None
        try:
            return obj.peel(pygit2.Commit)
        except (ValueError, pygit2.GitError):
            raise UnknownRevisionError(f"revision {rev!r} does not name a commit") from None

    # -- reading trees and commits --------------------------------------------------------

    def read_tree_files(self, commit: str, prefix: str = MANIFESTS_PREFIX) -> dict[str, bytes]:
        """Every blob under ``prefix`` in ``commit``'s tree, keyed by path relative to it.

        An absent ``prefix`` gives an empty dict; '' means the whole tree.
        """
        tree = _subtree(self._commit(commit).tree, prefix)
        if tree is None:
            return {}
        return dict(_blobs(tree, "", None, None))

    def tree_files(self, commit: str, prefix: str = MANIFESTS_PREFIX) -> TreeFiles:
        """:meth:`read_tree_files` read lazily: every blob's path at once (from the trees
        alone), its bytes only when asked for, so a reader of one manifest reads one."""
        tree = _subtree(self._commit(commit).tree, prefix)
        return TreeFiles(self._repo, {} if tree is None else dict(_blob_ids(tree, "")))

    def read_file(self, commit: str, path: str) -> bytes | None:
        """The bytes of file ``path`` in ``commit``'s tree; None if it has no such file."""
        try:
            entry = self._commit(commit).tree[path]
        except KeyError:
            return None
        return entry.data if entry.type_str == "blob" else None  # type: ignore[union-attr]

    def read_commit(self, rev: str) -> CommitInfo:
        """The commit ``rev`` names, its message split from its trailers."""
        commit = self._commit(rev)
        message, trailers = parse_trailers(commit.message)
        return CommitInfo(
            sha=str(commit.id),
            tree=str(commit.tree_id),
            message=message,
            trailers=trailers,
            time=commit.commit_time,
            offset=commit.commit_time_offset,
            author=f"{commit.author.name} <{commit.author.email}>",
            parents=tuple(str(p) for p in commit.parent_ids),
        )

    # -- writing snapshots ----------------------------------------------------------------

    def write_snapshot(
        self,
        files: Mapping[str, bytes],
        *,
        ref: str,
        message: str,
        trailers: Mapping[str, str],
        parent: str | None = None,
        expected_old: str | None = None,
    ) -> str:
        """Commit a tree of exactly ``files`` and point ``ref`` at it; return the commit sha.

        With ``expected_old`` None the ref must not exist yet (TagExistsError: tags are
        immutable); otherwise it must still hold ``expected_old`` (RefConflictError).
        """
        _check_ref_name(ref)
        if expected_old is None and self.ref_target(ref) is not None:
            raise TagExistsError(_exists_message(ref))
        parents = [self._commit(parent).id] if parent else []
        tree = self._write_tree(_nest(files))
        signature = self._signature()
        sha = self._repo.create_commit(
            None, signature, signature, format_message(message, trailers), tree, parents
        )
        self._swap(ref, str(sha), expected_old, exists=TagExistsError)
        return str(sha)

    def _write_tree(self, node: _Tree) -> pygit2.Oid:
        builder = self._repo.TreeBuilder()
        for name, value in node.items():
            if isinstance(value, dict):
                builder.insert(name, self._write_tree(value), _TREE_MODE)
            else:
                builder.insert(name, self._repo.create_blob(value), _BLOB_MODE)
        return builder.write()

    def _signature(self) -> pygit2.Signature:
        """Who git would say made the commit: env, then config, then a folio identity."""
        import pygit2

        name = os.environ.get("GIT_COMMITTER_NAME") or self.get_config("user.name")
        email = os.environ.get("GIT_COMMITTER_EMAIL") or self.get_config("user.email")
        now = int(time.time())
        offset = (time.localtime(now).tm_gmtoff or 0) // 60
        return pygit2.Signature(name or FALLBACK_NAME, email or FALLBACK_EMAIL, now, offset)

    # -- refs -----------------------------------------------------------------------------

    def list_refs(self, prefix: str) -> list[tuple[str, str]]:
        """(name without ``prefix``, target sha) for every ref under ``prefix``, sorted."""
        found = []
        for reference in self._repo.references.iterator():
            if reference.name.startswith(prefix):
                found.append((reference.name[len(prefix) :], str(reference.resolve().target)))
        return sorted(found)

    def ref_target(self, ref: str) -> str | None:
        """The sha ``ref`` points at, or None if it does not exist."""
        _check_ref_name(ref)
        reference = self._repo.references.get(ref)
        return None if reference is None else str(reference.resolve().target)

    def update_ref(self, ref: str, new: str, expected_old: str | None) -> None:
        """Point ``ref`` at commit ``new`` if it still holds ``expected_old`` (None: absent)."""
        _check_ref_name(ref)
        self._swap(ref, self.resolve_commit(new), expected_old, exists=RefConflictError)

    def delete_ref(self, ref: str, expected_old: str) -> None:
        """Delete ``ref`` if it still holds ``expected_old``."""
        import pygit2

        reference = self._locked_at(ref, expected_old)
        try:
            reference.delete()
        except pygit2.GitError as exc:
            raise RefConflictError(f"{ref} moved while deleting it ({exc})") from None

    def _swap(
        self, ref: str, new: str, expected_old: str | None, *, exists: type[RefError]
    ) -> None:
        """Compare-and-swap: libgit2 re-checks the old value under the ref's lock file."""
        import pygit2

        if expected_old is None:
            try:
                self._repo.references.create(ref, new, force=False)
            except pygit2.AlreadyExistsError:
                raise exists(_exists_message(ref)) from None
            except (pygit2.GitError, OSError) as exc:
                raise self._create_failure(ref, exc) from None
            return
        reference = self._locked_at(ref, expected_old)
        try:
            reference.set_target(new, "folio: update")
        except pygit2.GitError as exc:
            raise RefConflictError(f"{ref} moved while updating it ({exc})") from None

    def _locked_at(self, ref: str, expected_old: str) -> pygit2.Reference:
        """The ref, if it holds ``expected_old``; its stored value arms libgit2's CAS."""
        import pygit2

        _check_ref_name(ref)
        reference = self._repo.references.get(ref)
        if reference is None:
            raise RefConflictError(f"{ref} does not exist (expected {expected_old[:12]})")
        if reference.type != pygit2.enums.ReferenceType.DIRECT:
            raise RefError(f"{ref} is a symbolic ref; folio only moves direct refs")
        current = str(reference.target)
        if current != expected_old.lower():
            raise RefConflictError(
                f"{ref} is at {current[:12]}, expected {expected_old[:12]}; it moved meanwhile"
            )
        return reference

    def _create_failure(self, ref: str, exc: BaseException) -> RefError:
        """Name the ref that blocks ``ref`` ('a' blocks 'a/b' and vice versa), if any."""
        parts = ref.split("/")
        ancestors = ["/".join(parts[:i]) for i in range(2, len(parts))]
        names = self._repo.references
        for other in ancestors:
            if names.get(other) is not None:
                return RefError(f"cannot create {ref}: the ref {other} exists")
        for reference in names.iterator():
            if reference.name.startswith(ref + "/"):
                return RefError(f"cannot create {ref}: the ref {reference.name} exists")
        return RefError(f"cannot create {ref}: {_reason(exc)}")

    # -- reachability, for gc -------------------------------------------------------------

    def all_ref_commits(self) -> Iterator[str]:
        """Every commit reachable from any ref or HEAD, each once."""
        tips = [oid for _, oid in self._tips(self._other_worktrees())]
        for commit in self._walk(tips):
            yield str(commit.id)

    def reachable_manifest_blobs(
        self, prefix: str = MANIFESTS_PREFIX, *, include_index: bool = True
    ) -> Iterator[tuple[str, bytes]]:
        """(path, bytes) of every blob a gc root can reach, each distinct blob once.

        Commits reachable from ``refs/folio/*`` contribute their whole tree, except that a
        run's parent is the code commit it ran on (docs/runs.md): that one, like every other
        commit (branches, tags, remotes, stash, HEAD) its ``prefix`` subtree; with
        ``include_index`` so do blobs staged under ``prefix`` but not yet committed. Paths
        are relative to the manifests root; a blob seen at several paths is given once,
        at the first. Trees already seen are skipped, so long histories stay cheap.
        """
        worktrees = self._other_worktrees()  # opened once: HEADs and indexes both count
        tips = self._tips(worktrees)
        seen_trees: set[object] = set()
        seen_blobs: set[object] = set()
        folio = [oid for name, oid in tips if name.startswith(FOLIO_REFS)]
        code = [oid for name, oid in tips if not name.startswith(FOLIO_REFS)]
        for commit in self._folio_commits(folio, code):
            yield from _blobs(commit.tree, "", seen_trees, seen_blobs)
        for commit in self._walk(code):
            tree = _subtree(commit.tree, prefix)
            if tree is not None:
                yield from _blobs(tree, "", seen_trees, seen_blobs)
        if include_index:
            for repo in (self._repo, *worktrees):
                yield from self._index_blobs(repo, prefix, seen_blobs)

    def _folio_commits(self, tips: Iterable[pygit2.Oid],
                       code: list[pygit2.Oid]) -> Iterator[pygit2.Commit]:
        """Commits reachable from ``tips`` (snapshot chains), each once; a run commit's
        parents are code commits, appended to ``code`` instead of followed."""
        stack, seen = list(tips), set()
        while stack:
            oid = stack.pop()
            if oid in seen:
                continue
            seen.add(oid)
            try:
                commit = self._repo[oid]
            except (KeyError, ValueError) as exc:
                raise RefError(f"cannot walk the git history: {_reason(exc)}") from None
            yield commit  # type: ignore[misc]
            is_run = f"\n{TRAILER_KIND}: run\n" in commit.message + "\n"  # type: ignore[attr-defined]
            (code if is_run else stack).extend(commit.parent_ids)  # type: ignore[attr-defined]

    def other_worktrees(self) -> list[Path]:
        """The other work trees of this repository (the main one and linked ones) that are
        still there: they share one folio store, so gc must count what they name."""
        return [Path(repo.workdir) for repo in self._other_worktrees()]

    def _other_worktrees(self) -> list[pygit2.Repository]:
        import pygit2

        paths = [] if self._repo.is_bare else [self._main_workdir()]
        for name in self._repo.list_worktrees():
            with contextlib.suppress(pygit2.GitError, KeyError):
                paths.append(self._repo.lookup_worktree(name).path)
        own = Path(self._repo.workdir).resolve() if self._repo.workdir else None
        repos = []
        for path in paths:
            if path is None or own == Path(path).resolve() or not Path(path).is_dir():
                continue
            with contextlib.suppress(pygit2.GitError, KeyError):
                repos.append(pygit2.Repository(str(path)))
        return repos

    def _main_workdir(self) -> str | None:
        """The main work tree: the parent of the common git dir, when that is ``.git``."""
        common = Path(self._repo.path)
        if (common / "commondir").is_file():
            common = (common / (common / "commondir").read_text().strip()).resolve()
        return str(common.parent) if common.name == ".git" else None

    @staticmethod
    def _index_blobs(repo: pygit2.Repository, prefix: str,
                     seen_blobs: set[object]) -> Iterator[tuple[str, bytes]]:
        """Blobs staged under ``prefix`` in ``repo``'s index; reading it never writes it."""
        if repo.is_bare:
            return
        root = prefix.strip("/") + "/" if prefix.strip("/") else ""
        index = repo.index
        index.read(False)  # libgit2 caches the index: reload it if git changed it since
        for entry in index:
            if entry.path.startswith(root) and entry.mode != 0o160000 \
                    and entry.id not in seen_blobs:
                seen_blobs.add(entry.id)
                yield entry.path[len(root) :], repo[entry.id].data  # type: ignore[attr-defined]

    def _tips(self, worktrees: Sequence[pygit2.Repository]) -> list[tuple[str, pygit2.Oid]]:
        """(ref name, commit) for every ref, and the HEAD of this and each other work tree,
        that leads to a commit."""
        import pygit2

        tips = []
        heads = [(f"HEAD of {repo.workdir}", repo.head)
                 for repo in (self._repo, *worktrees) if not repo.head_is_unborn]
        for name, reference in [*heads, *((r.name, r) for r in self._repo.references.iterator())]:
            try:
                tips.append((name, reference.peel(pygit2.Commit).id))
            except (ValueError, KeyError, pygit2.GitError):
                continue  # a tag of a tree or blob, or a dangling symbolic ref: no history
        return tips

    def _walk(self, tips: Iterable[pygit2.Oid]) -> Iterator[pygit2.Commit]:
        import pygit2

        tips = list(tips)
        if not tips:
            return
        walker = self._repo.walk(None)
        try:
            for tip in tips:
                walker.push(tip)
            yield from walker
        except (KeyError, pygit2.GitError) as exc:
            raise RefError(f"cannot walk the git history: {_reason(exc)}") from None

    # -- remotes, through the git binary so credential helpers and hooks work -------------

    def push_refs(
        self, remote: str, refspec: str | Sequence[str] = FOLIO_REFSPEC, *, no_verify: bool = False
    ) -> None:
        """``git push REMOTE REFSPEC...``; ``no_verify`` skips pre-push hooks (no recursion)."""
        flags = ["--no-verify"] if no_verify else []
        self._run_git("push", *flags, _remote(remote), *_specs(refspec))

    def fetch_refs(self, remote: str, refspec: str | Sequence[str] = FOLIO_REFSPEC) -> None:
        """``git fetch --no-tags REMOTE REFSPEC...`` (only what was asked for arrives)."""
        self._run_git("fetch", "--no-tags", _remote(remote), *_specs(refspec))

    def mirror_refs(self, remote: str, prefix: str = FOLIO_REFS) -> str:
        """Copy ``remote``'s refs under ``prefix`` to ``refs/folio-remotes/<remote>/``; return
        that namespace.

        Forced and pruned, so the mirror is exactly what the remote has now (a ref deleted
        there goes here too); refs under ``prefix`` here are never touched, and FETCH_HEAD
        is left as the user's last ``git fetch`` wrote it.
        """
        mirror = f"{MIRROR_PREFIX}{_remote(remote)}/"
        _check_ref_name(mirror + "x")
        self._run_git("fetch", "--no-tags", "--prune", "--no-write-fetch-head", remote,
                      f"+{prefix}*:{mirror}*")
        return mirror

    def remote_refs(self, remote: str, pattern: str, *,
                    timeout: float | None = None) -> list[tuple[str, str]] | None:
        """(ref, sha) of the refs matching ``pattern`` on ``remote`` (``git ls-remote``).

        None when the remote cannot be asked within ``timeout`` seconds, or without a
        prompt (GIT_TERMINAL_PROMPT=0): a listing must not hang on an offline network.
        """
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        try:
            done = subprocess.run(
                ["git", "-C", str(self.workdir or self.git_dir), "ls-remote", "--refs",
                 _remote(remote), pattern], capture_output=True, text=True, check=False,
                stdin=subprocess.DEVNULL, timeout=timeout, env=env)
        except (subprocess.TimeoutExpired, OSError):
            return None
        if done.returncode != 0:
            return None
        out = []
        for line in done.stdout.splitlines():
            sha, _, ref = line.partition("\t")
            if ref:
                out.append((ref, sha))
        return sorted(out)

    def push_delete(self, remote: str, ref: str, expected: str | None) -> None:
        """Delete ``ref`` on ``remote``, only if it still names ``expected`` there (when given):
        ``git push --no-verify --force-with-lease=REF:SHA REMOTE :REF``."""
        _check_ref_name(ref)
        lease = [f"--force-with-lease={ref}:{expected}"] if expected else []
        self._run_git("push", "--no-verify", *lease, _remote(remote), f":{ref}")

    def _run_git(self, *args: str) -> None:
        where = str(self.workdir or self.git_dir)
        done = subprocess.run(
            ["git", "-C", where, *args], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RemoteError(f"git {args[0]} failed: {_git_complaint(done.stderr)}")

    # -- merge base (folio diff A...B) --------------------------------------------------------

    def merge_base(self, a: str, b: str) -> str | None:
        """The best common ancestor of commits ``a`` and ``b`` (git's), or None if none."""
        import pygit2

        try:
            base = self._repo.merge_base(self._commit(a).id, self._commit(b).id)
        except (KeyError, ValueError, pygit2.GitError) as exc:
            raise RefError(f"cannot find the merge base of {a!r} and {b!r}: "
                           f"{_reason(exc)}") from None
        return None if base is None else str(base)


# -- helpers ------------------------------------------------------------------------------


def _check_ref_name(ref: str) -> None:
    import pygit2

    if not ref.startswith("refs/") or not pygit2.reference_is_valid_name(ref):
        raise InvalidNameError(f"invalid ref name {ref!r}")


def _exists_message(ref: str) -> str:
    """Say 'tag x' or 'run x' rather than the ref, as the user typed it."""
    if ref.startswith(SNAPSHOTS_PREFIX):
        return f"tag {ref[len(SNAPSHOTS_PREFIX):]!r} already exists; tags are immutable"
    if ref.startswith(RUNS_PREFIX):
        return f"run {ref[len(RUNS_PREFIX):]!r} already exists"
    return f"{ref} already exists"


def _reason(exc: BaseException) -> str:
    return str(exc.args[0]) if exc.args else type(exc).__name__


def _nest(files: Mapping[str, bytes]) -> _Tree:
    """Relative '/'-paths to nested dicts, refusing paths git cannot or must not store."""
    root: _Tree = {}
    for path, data in files.items():
        parts = _path_parts(path)
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise PathError(f"{part!r} is both a file and a directory", path=path)
            node = child
        if isinstance(node.get(parts[-1]), dict):
            raise PathError("is both a file and a directory", path=path)
        node[parts[-1]] = bytes(data)
    return root


def _path_parts(path: str) -> list[str]:
    parts = path.split("/")
    bad = (
        not path
        or "\\" in path
        or "\0" in path
        or any(part in ("", ".", "..") or part.lower() == ".git" for part in parts)
    )
    if bad:
        raise PathError("not a relative path that git can store", path=repr(path))
    return parts


def _subtree(tree: pygit2.Tree, prefix: str) -> pygit2.Tree | None:
    """The tree at ``prefix`` inside ``tree``, or None if absent or not a directory."""
    prefix = prefix.strip("/")
    if not prefix:
        return tree
    try:
        entry = tree[prefix]
    except KeyError:
        return None
    return entry if entry.type_str == "tree" else None  # type: ignore[return-value]


def _blobs(
    tree: pygit2.Tree, base: str, seen_trees: set[object] | None, seen_blobs: set[object] | None
) -> Iterator[tuple[str, bytes]]:
    """(path, bytes) of the blobs below ``tree``, skipping ids already in the seen sets."""
    if seen_trees is not None:
        if tree.id in seen_trees:
            return
        seen_trees.add(tree.id)
    for entry in tree:
        path = f"{base}{entry.name}"
        if entry.type_str == "tree":
            yield from _blobs(entry, path + "/", seen_trees, seen_blobs)  # type: ignore[arg-type]
        elif entry.type_str == "blob":  # gitlinks (submodules) have no bytes here
            if seen_blobs is not None:
                if entry.id in seen_blobs:
                    continue
                seen_blobs.add(entry.id)
            yield path, entry.data  # type: ignore[attr-defined]


def _blob_ids(tree: pygit2.Tree, base: str) -> Iterator[tuple[str, pygit2.Oid]]:
    """(path, blob id) of the blobs below ``tree``; no blob is read."""
    for entry in tree:
        path = f"{base}{entry.name}"
        if entry.type_str == "tree":
            yield from _blob_ids(entry, path + "/")  # type: ignore[arg-type]
        elif entry.type_str == "blob":  # gitlinks (submodules) have no bytes here
            yield path, entry.id


class TreeFiles(Mapping[str, bytes]):
    """The blobs below one tree by relative path: the paths known, the bytes read from the
    object database on each lookup (nothing is kept: the caller parses what it reads)."""

    def __init__(self, repo: pygit2.Repository, ids: dict[str, pygit2.Oid]) -> None:
        self._repo = repo
        self._ids = ids

    def __getitem__(self, path: str) -> bytes:
        return self._repo[self._ids[path]].data  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, path: object) -> bool:
        return path in self._ids


def _remote(remote: str) -> str:
    if not remote or remote.startswith("-"):
        raise RemoteError(f"invalid git remote {remote!r}")
    return remote


def _specs(refspec: str | Sequence[str]) -> list[str]:
    specs = [refspec] if isinstance(refspec, str) else list(refspec)
    for spec in specs:
        if not spec or spec.startswith("-"):
            raise RemoteError(f"invalid refspec {spec!r}")
    return specs


def _git_complaint(stderr: str) -> str:
    """The lines of git's stderr that say what went wrong, joined into one."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    loud = [ln for ln in lines if ln.startswith(("error:", "fatal:", "!", "remote: error"))]
    return "; ".join(loud or lines[-1:]) or "no message from git"

