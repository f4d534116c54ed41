"""Hostile repositories, end to end: each attack of issue 11 as a real commit.

An attacker's clone commits the hostile content (git itself commits symlinks) and pushes it
to the shared origin; where the attack needs it, the attacker also writes the team's
directory remote, which a team member can. The victim, a clone with data of its own, a
bundle, a snapshot, a directory remote and folio's git hooks installed, takes it with a real
``git pull`` (the hooks run ``folio checkout``) and runs every folio command; a fresh
``git clone`` of the same origin pulls it too. After every step:

- nothing outside the victim's clone changed (a sentinel tree of old files beside it, the
  attacker's clone, an attacker's store and remote: content, mode, mtime, links);
- no code ran (a pickle's ``__reduce__`` would create a sentinel file);
- the victim's own store and recovery log are whole (git itself deletes ignored files that
  a pulled commit puts something in the place of);
- no command crashed, hung, printed a traceback or a raw escape sequence, filled the disk,
  hard-linked the store into the work tree, un-ignored ``.env`` or left a link in the data
  that resolves outside the clone or into ``.git``;
- a refusal is one ``folio: error:`` line, last on stderr, exit code 1; where the attack
  requires a refusal (the commands that would have followed the hostile content), it names
  the offending path.

Commands an attack does not concern may succeed: then they did no harm, which is checked.
``FOLIO_HOSTILE_REPORT=FILE`` appends each attack's verdict as a JSON line.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import resource
import stat
import sys
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgpack
import pytest
from tests.reliability import hostile as h
from tests.reliability.harness import replace_with_link

from folio.worktree import index, marks

# -- the steps the victim runs -----------------------------------------------------------------
GET_DATA = """
import json, sys
import folio
from folio.errors import FolioError
try:
    bundle = folio.Repo('.').folio('exp')
    names = sorted(bundle.keys())
except FolioError as exc:
    print(f"folio: error: {exc}", file=sys.stderr)
    sys.exit(1)
for name in names:
    try:
        value = bundle.get_data(name)
        shown = repr(value)[:60]  # touches every element: an array of wild pointers crashes
        print(json.dumps({"item": name, "type": type(value).__name__, "repr": shown}))
    except FolioError as exc:
        print(json.dumps({"item": name, "error": str(exc)}))
"""

Action = Callable[[h.World], None]


@dataclass(frozen=True)
class Step:
    name: str
    argv: tuple[str, ...]
    where: str = "victim"  # or "fresh" (the fresh clone), or "world" (beside the clones)
    before: Action | None = None  # what the user did just before (an edit, a deletion)
    limits: bool = False  # bounded file size and memory: an endless input must not fill them

    def command(self, world: h.World) -> list[str]:
        argv = [a.replace("{W}", str(world.root)) for a in self.argv]
        if argv[0] == "folio":
            return [*h.FOLIO, *argv[1:]]
        if argv[0] == "python":
            return [sys.executable, *argv[1:]]
        return argv

    @property
    def is_folio(self) -> bool:
        return self.argv[0] in ("folio", "python")


def _delete_a_file(world: h.World) -> None:
    (world.victim / "data/a.csv").unlink(missing_ok=True)


def _edit_results(world: h.World) -> None:
    path = world.victim / "results.csv"
    if not path.is_symlink():
        path.write_bytes(b"run,score\n1,0.9\n2,0.95\n")


STEPS = (
    Step("git pull", ("git", "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")),
    Step("status", ("folio", "status")),
    Step("ls", ("folio", "ls")),
    Step("diff", ("folio", "diff")),
    Step("describe", ("folio", "describe", "exp")),
    Step("fetch", ("folio", "fetch")),
    Step("pull", ("folio", "pull")),
    Step("checkout", ("folio", "checkout"), before=_delete_a_file),
    Step("checkout --force", ("folio", "checkout", "--force"), before=_edit_results),
    Step("get_data", ("python", "-c", GET_DATA)),
    Step("git clone", ("git", "clone", "-q", "{W}/origin.git", "{W}/fresh"), where="world"),
    Step("fresh accept", ("folio", "accept", "remotes.nas"), where="fresh"),
    Step("fresh pull", ("folio", "pull"), where="fresh"),
    Step("fresh get_data", ("python", "-c", GET_DATA), where="fresh"),
    Step("add", ("folio", "add", "data", "results.csv", "work")),
    Step("git commit", ("sh", "-c", "git add -A && git commit -q -m 'the victim works on'")),
    Step("git push", ("git", "push", "-q", "origin", "main")),
    Step("snapshot", ("folio", "snapshot", "after-pull")),
    Step("push", ("folio", "push")),
    Step("verify", ("folio", "verify")),
    Step("gc", ("folio", "gc", "--grace", "0")),
    Step("export", ("folio", "export", "v1", "{W}/exports/v1.tar")),
    Step("import", ("folio", "import", "{W}/exports/v1.tar", "--tag", "v1-again"), limits=True),
    Step("untrack", ("folio", "untrack", "results.csv")),
    Step("checkout v1", ("folio", "checkout", "v1")),
)
EVERY = tuple(s.name for s in STEPS if s.is_folio and s.where == "victim")


# -- the attacks -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attack:
    """What the attacker commits (``commit`` runs in the attacker's clone and pushes), the
    steps that must refuse, naming one of ``names``, and steps of its own. With ``names``
    but no ``must_refuse``, holding the attack without a refusal passes too (escaping on
    output is as good as refusing); the verdict says which happened."""

    commit: Callable[[h.World], None]
    names: tuple[str, ...] = ()
    must_refuse: tuple[str, ...] = ()
    extra: tuple[Step, ...] = ()
    says: str | None = None  # some step's output must say this (case-insensitive)
    bounded: bool = False  # every step runs with a bounded file size and memory


def _push(world: h.World, message: str, *paths: str) -> None:
    env, root = world.env(), world.attacker
    h.git(root, env, "add", "-f", "--", *paths)
    h.git(root, env, "commit", "-q", "-m", message)
    h.git(root, env, "push", "-q", "origin", "main")


def _link(world: h.World, rel: str, target: str) -> None:
    """Replace ``rel`` in the attacker's clone (file or directory) by a link to ``target``."""
    replace_with_link(world.attacker / rel, target)


def link_attack(rel: str, target: str) -> Callable[[h.World], None]:
    """The attacker replaces ``rel`` by a link to ``target`` and commits the link."""
    def commit(world: h.World) -> None:
        if rel in (".folio", ".folio/manifests"):  # tracked: git must forget them first
            h.git(world.attacker, world.env(), "rm", "-r", "-q", "--cached", rel)
        _link(world, rel, target)
        _push(world, f"a link at {rel}", rel)
    return commit


def _write(world: h.World, rel: str, data: bytes) -> None:
    path = world.attacker / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _manifest_line(obj: dict[str, object]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _manifest(world: h.World, target: str, *extra: dict[str, object]) -> bytes:
    """The attacker's manifest of ``target``: its entries plus ``extra``, sorted by path."""
    lines = (world.attacker / f".folio/manifests/{target}.folio").read_bytes().splitlines()
    entries = [json.loads(line) for line in lines[1:]] + list(extra)
    entries.sort(key=lambda e: str(e["path"]))
    return lines[0] + b"\n" + b"".join(_manifest_line(e) for e in entries)


def _snapshot(world: h.World, tag: str) -> None:
    """Also offer the attacker's manifests as snapshot ``tag`` (a commit of the manifests
    tree with folio's trailers, made with plumbing), pushed to the origin's refs/folio."""
    env, root = world.env(), world.attacker
    tree = h.git(root, env, "rev-parse", "HEAD:.folio/manifests").strip()
    message = f"{tag}\n\nFolio-Kind: snapshot\nFolio-Name: {tag}\n"
    commit = h.git(root, env, "commit-tree", tree, "-m", message).strip()
    h.git(root, env, "push", "-q", "origin", f"{commit}:refs/folio/snapshots/{tag}")


def snapshot_steps(tag: str) -> tuple[Step, ...]:
    """The victim takes the attacker's snapshot: fetch the refs, diff, pull, check out."""
    return (Step("git fetch snapshots", ("git", "fetch", "-q", "origin",
                                         "refs/folio/*:refs/folio/*")),
            Step(f"diff {tag}", ("folio", "diff", "v1", tag)),
            Step(f"pull {tag}", ("folio", "pull", tag)),
            Step(f"checkout {tag}", ("folio", "checkout", "--force", tag)))


def _remote_object(world: h.World, data: bytes) -> str:
    """Put ``data`` on the team's remote as a loose object, as a team member can."""
    oid = hashlib.sha256(data).hexdigest()
    path = world.nas / oid[:2] / oid[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return oid


def _config_edit(world: h.World, old: str, new: str) -> None:
    path = world.attacker / ".folio/config.toml"
    text = path.read_text()
    assert old in text, (old, text)
    path.write_text(text.replace(old, new, 1))


# pickles and arrays ------------------------------------------------------------------------------
BOOM = """
import os, folio
class Boom:
    def __reduce__(self):
        return (os.system, ("touch {sentinel}",))
folio.Repo('.').folio('exp').pickle('evil', Boom())
"""


def committed_local_config(world: h.World) -> None:
    h.python(world.attacker, world.env(), BOOM.replace("{sentinel}", str(world.sentinel)))
    h.folio(world.attacker, world.env(), "push")
    _write(world, ".folio/config.local.toml", b"[core]\ntrust_pickles = true\n")
    _push(world, "trust my pickles", ".folio/config.local.toml", ".folio/manifests/exp.folio")


def object_dtype_npy(world: h.World) -> None:
    """An .npy whose header says dtype object, with a body of the right size: eight bytes
    per 'pointer', each 0x4141414141414141."""
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (4,), }"
    header += " " * (117 - len(header)) + "\n"  # 10 + 118 = 128, as numpy aligns
    data = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()
    data += b"\x41" * 32
    oid = _remote_object(world, data)
    entry = {"path": "evil.npy", "size": len(data), "sha256": oid, "type": "numpy",
             "meta": {"codec": {"dtype": "int64", "nbytes": 32, "order": "C", "shape": [4]},
                      "item": "evil"}}
    _write(world, ".folio/manifests/exp.folio", _manifest(world, "exp", entry))
    _push(world, "an array", ".folio/manifests/exp.folio")


# config ----------------------------------------------------------------------------------------
def committed_store(world: h.World) -> None:
    _config_edit(world, "[core]\n", f'[core]\nstore = "{world.evil_store}"\n')
    _push(world, "a shared store", ".folio/config.toml")


def committed_hardlink(world: h.World) -> None:
    _config_edit(world, 'link = "auto"', 'link = "hardlink"')
    _push(world, "faster checkouts", ".folio/config.toml")


def committed_remote_url(world: h.World) -> None:
    _config_edit(world, f'url = "{world.nas}"', f'url = "{world.evil_remote}"')
    _push(world, "the new NAS", ".folio/config.toml")


# names -----------------------------------------------------------------------------------------
CHAINS = [{"path": "d", "link": "."}, {"path": "e", "link": "d/d/../../outside"},
          {"path": "g", "link": "d/../.git"}]


def link_chains(world: h.World) -> None:
    """Links each of which stays inside by its text: d -> . makes d/d/../.. climb out."""
    _write(world, ".folio/manifests/data.folio", _manifest(world, "data", *CHAINS))
    _write(world, "incoming/links.tar", (world.root / "links.tar").read_bytes())
    _push(world, "links", ".folio/manifests/data.folio", "incoming/links.tar")
    _snapshot(world, "links")


FORGED_MARK = b"planted-by-the-attacker"


def committed_legacy_parts(world: h.World) -> None:
    """Regular files where an older folio kept its local parts (which a newer one moves
    into .git/folio once): an object named by the hash of the victim's next file but
    holding other bytes, and a forged recovery record."""
    oid = hashlib.sha256(b"x,y\n5,6\n").hexdigest()  # work/new.csv, not added yet
    _write(world, f".folio/objects/{oid[:2]}/{oid[2:]}", b"attacker bytes\n")
    record = {"time": "2026-01-01T00:00:00+00:00", "path": "data/a.csv", "sha256": oid,
              "size": 15, "reason": FORGED_MARK.decode()}
    _write(world, ".folio/logs/recovery.jsonl", json.dumps(record).encode() + b"\n")
    _push(world, "legacy parts", ".folio/objects", ".folio/logs")


def links_for_add(world: h.World) -> None:
    """The chain that climbs out, as plain files of git, in a directory the victim then
    tracks (without ``g``, whose text alone names .git)."""
    for entry in CHAINS[:2]:
        _link(world, f"shared/{entry['path']}", str(entry["link"]))
    _write(world, "shared/readme.txt", b"track me with folio add shared\n")
    _push(world, "a shared directory", "shared")


def newline_target(world: h.World) -> None:
    """A target whose name holds a newline and a negated pattern: written into .gitignore
    raw, it would un-ignore the victim's .env."""
    target = "notes\n!.env"
    size, oid = 6, hashlib.sha256(b"notes\n").hexdigest()
    _remote_object(world, b"notes\n")
    head = {"folio": 1, "kind": "file", "target": target}
    body = _manifest_line(head) + _manifest_line({"path": target, "size": size, "sha256": oid})
    _write(world, f".folio/manifests/{target}.folio", body)
    _push(world, "notes", f".folio/manifests/{target}.folio")
    _snapshot(world, "notes")


ESC = "\x1b]2;pwned\x07\x1b[2J\x1b[31m"


def ansi_escapes(world: h.World) -> None:
    data = b"x\n"
    oid = _remote_object(world, data)
    entry = {"path": f"{ESC}red.csv", "size": len(data), "sha256": oid}
    item = {"path": "shout.txt", "size": len(data), "sha256": oid, "type": "text",
            "meta": {"description": f"{ESC}loud", "item": "shout", f"{ESC}key": ESC}}
    _write(world, ".folio/manifests/data.folio", _manifest(world, "data", entry))
    _write(world, ".folio/manifests/exp.folio", _manifest(world, "exp", item))
    _push(world, "colour", ".folio/manifests/data.folio", ".folio/manifests/exp.folio")
    _snapshot(world, "colour")


# bounds ----------------------------------------------------------------------------------------
NEW_BIN = bytes(range(251)) * 6000  # the victim's 1.4 MiB new file: a remote's loose object
NEW_OID = hashlib.sha256(NEW_BIN).hexdigest()
FSIZE = 16 << 20  # what a bounded command may write to one file here
MEMORY = 3 << 30


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE, FSIZE))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def archive_bomb(world: h.World) -> None:
    for name in ("bomb.tar.gz", "names.tar"):
        _write(world, f"incoming/{name}", (world.root / name).read_bytes())
    _push(world, "the release", "incoming/bomb.tar.gz", "incoming/names.tar")


def garbage_local_files(world: h.World) -> None:
    """folio's own local files, committed: well-formed msgpack of the wrong shapes (an
    unhashable path, a mark that is a number) and bytes that are no format at all. git puts
    them in place of the victim's, since it treats ignored files as expendable."""
    files = {
        ".folio/index": msgpack.packb({"v": index.VERSION, "paths": [[1]],
                                       "rows": bytes(index.ROW_SIZE)}),
        ".folio/cache/marks": msgpack.packb({"v": marks.VERSION, "targets": {"data": 5}}),
        ".folio/lock.info": b"\x93\xff\x00garbage\x1b[2J" + bytes(range(256)),
    }
    for rel, data in files.items():
        _write(world, rel, data)
    _push(world, "caches", *files)


def endless_import(world: h.World) -> None:
    os.mkfifo(world.root / "pipe.tar")
    _link(world, "incoming/release.tar", "/dev/zero")
    _push(world, "the release", "incoming/release.tar")


def fifo(world: h.World) -> None:
    os.mkfifo(world.root / "pipe.folio")


BIG = 1 << 30


def oversized_loose(world: h.World) -> None:
    """A manifest entry of 13 bytes whose loose object on the remote is 1 GiB (sparse)."""
    oid = hashlib.sha256(b"hello, world\n").hexdigest()
    path = world.nas / oid[:2] / oid[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(BIG)
    _write(world, ".folio/manifests/data.folio",
           _manifest(world, "data", {"path": "hello.txt", "size": 13, "sha256": oid}))
    _push(world, "hello", ".folio/manifests/data.folio")


def symlinked_remote_dir(world: h.World) -> None:
    """The remote's pack directory and the fan-out directory of the victim's next large
    object, replaced by links to the sentinel tree."""
    os.rename(world.nas / "packs", world.nas / "packs.old")
    (world.nas / "packs").symlink_to("../outside")
    (world.nas / NEW_OID[:2]).symlink_to("../outside")


FOLIO_LINKS = {
    # name -> (path committed as a link, its target, steps that would follow it)
    "link-shard-dir": (".folio/manifests/data.folio.d", "../../../outside",
                       ("add", "snapshot", "checkout", "checkout --force", "pull")),
    "link-tmp": (".folio/tmp", "../../outside", ("add", "gc", "import")),
    "link-lock-info": (".folio/lock.info", "../../outside/canary.txt",
                       ("add", "snapshot", "checkout", "gc", "untrack")),
    "link-logs": (".folio/logs", "../../outside/logs", ("checkout --force", "gc")),
    "link-recovery-log": (".folio/logs/recovery.jsonl", "../../../outside/canary.txt",
                          ("checkout --force", "gc")),
    "link-cache": (".folio/cache", "../../outside", ("add", "pull", "fetch")),
    "link-objects": (".folio/objects", "../../outside",
                     ("add", "snapshot", "pull", "fetch", "checkout", "verify", "gc",
                      "import", "fresh pull")),
    "link-manifests": (".folio/manifests", "../../outside", EVERY),
    "link-folio": (".folio", "../outside", (*EVERY, "fresh pull")),
}


def _attacks() -> dict[str, Attack]:
    attacks = {name: Attack(link_attack(rel, target), (rel,), must)
               for name, (rel, target, must) in FOLIO_LINKS.items()}
    attacks.update({
        "committed-local-config": Attack(
            committed_local_config, (".folio/config.local.toml",),
            ("status", "add", "checkout", "get_data")),
        "committed-store": Attack(committed_store, ("core.store",),
                                  ("add", "snapshot", "pull", "fresh pull"), says="accept"),
        "committed-hardlink": Attack(committed_hardlink, says="accept"),
        "committed-remote-url": Attack(committed_remote_url, ("remotes.nas", "nas"),
                                       ("push",), says="accept"),
        "object-dtype-npy": Attack(object_dtype_npy, ("evil",), ("get_data", "fresh get_data")),
        "link-chains": Attack(link_chains, ("data/e", "data/g"),
                              ("pull", "checkout", "checkout --force", "fresh pull",
                               "pull links", "checkout links", "import links"),
                              extra=(*snapshot_steps("links"),
                                     Step("import links", ("folio", "import",
                                                           "incoming/links.tar"), limits=True))),
        "link-chains-add": Attack(  # git tracks shared/: folio refuses it until handed over
            links_for_add, ("shared/e", "shared"), ("add shared (in git)", "add shared"),
            (Step("add shared (in git)", ("folio", "add", "shared")),
             Step("hand shared over", ("git", "rm", "-r", "-q", "--cached", "shared")),
             Step("add shared", ("folio", "add", "shared")))),
        "newline-in-target": Attack(newline_target, ("notes",), extra=snapshot_steps("notes")),
        "ansi-escapes": Attack(ansi_escapes, ("red.csv",), extra=snapshot_steps("colour")),
        "archive-bomb": Attack(
            archive_bomb, ("bomb.tar.gz", "names.tar"), ("import bomb", "import names"),
            (Step("import bomb", ("folio", "import", "incoming/bomb.tar.gz", "--tag", "bomb"),
                  limits=True),
             Step("import names", ("folio", "import", "incoming/names.tar"), limits=True))),
        "garbage-local-files": Attack(garbage_local_files),
        "committed-legacy-parts": Attack(committed_legacy_parts,
                                         (".folio/objects", ".folio/logs")),
        "endless-import": Attack(
            endless_import, ("/dev/zero", "release.tar", "pipe.tar"),
            ("import /dev/zero", "import link", "import fifo"),
            (Step("import /dev/zero", ("folio", "import", "/dev/zero"), limits=True),
             Step("import link", ("folio", "import", "incoming/release.tar"), limits=True),
             Step("import fifo", ("folio", "import", "{W}/pipe.tar"), limits=True))),
        "textconv-fifo": Attack(
            fifo, ("pipe.folio", "/dev/zero"), ("textconv fifo", "textconv /dev/zero"),
            (Step("textconv fifo", ("folio", "textconv", "{W}/pipe.folio"), limits=True),
             Step("textconv /dev/zero", ("folio", "textconv", "/dev/zero"), limits=True))),
        "oversized-remote-object": Attack(
            oversized_loose, (hashlib.sha256(b"hello, world\n").hexdigest()[2:14],),
            ("pull", "fetch", "fresh pull"), bounded=True),
        "symlinked-remote-dir": Attack(symlinked_remote_dir, ("nas/packs", f"nas/{NEW_OID[:2]}"),
                                       ("git push", "push")),
    })
    return attacks


ATTACKS = _attacks()


# -- the world ------------------------------------------------------------------------------------
@dataclass
class Base:
    base: Path  # the world as built, kept
    root: Path  # where each attack's copy goes (the path the world was built at)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Base]:
    top = tmp_path_factory.mktemp("hostile")
    world = h.build(top / "world")
    _victim_work(world)
    _archives(world)
    os.rename(world.root, top / "base")
    yield Base(top / "base", top / "world")


def _victim_work(world: h.World) -> None:
    """The victim's work in progress: a new small file and a new large one, not yet added."""
    (world.victim / "work").mkdir()
    (world.victim / "work/new.csv").write_bytes(b"x,y\n5,6\n")
    (world.victim / "work/new.bin").write_bytes(NEW_BIN)


def _archives(world: h.World) -> None:
    """From a real export (a snapshot with one new 13-byte object): ``bomb.tar.gz``, where
    that object inflates to 256 MiB of zeros (about 256 KiB packed), ``links.tar``, whose
    data manifest holds the link chains, and ``names.tar``, with a name that is not UTF-8."""
    env, scratch = world.env(), world.root / "scratch"
    h.git(world.root, env, "clone", "-q", str(world.origin), str(scratch))
    h.accept_remote(scratch, env)
    h.folio(scratch, env, "pull")
    (scratch / "data/hello.txt").write_bytes(b"hello, world\n")
    h.folio(scratch, env, "add", "data")
    h.folio(scratch, env, "snapshot", "bomb")
    h.folio(scratch, env, "export", "bomb", str(world.root / "bomb-src.tar"))
    oid = hashlib.sha256(b"hello, world\n").hexdigest()
    victim_member = f"objects/{oid[:2]}/{oid[2:]}"
    with tarfile.open(world.root / "bomb-src.tar") as src, \
            gzip.open(world.root / "bomb.tar.gz", "wb", compresslevel=6) as raw, \
            tarfile.open(fileobj=raw, mode="w") as out:
        for info in src.getmembers():
            if info.name == victim_member:
                info.size = 256 << 20
                out.addfile(info, _Zeros(info.size))
            else:
                out.addfile(info, src.extractfile(info))
    with tarfile.open(world.root / "bomb-src.tar") as src, \
            tarfile.open(world.root / "links.tar", "w") as out:
        for info in src.getmembers():
            data = src.extractfile(info).read()  # type: ignore[union-attr]
            if info.name == "manifests/data.folio":
                lines = data.splitlines()
                entries = sorted([json.loads(x) for x in lines[1:]] + CHAINS,
                                 key=lambda e: str(e["path"]))
                data = lines[0] + b"\n" + b"".join(_manifest_line(e) for e in entries)
                info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    _non_utf8_archive(world.root / "bomb-src.tar", world.root / "names.tar")
    h.remove_tree(scratch)
    (world.root / "bomb-src.tar").unlink()


def _non_utf8_archive(src_path: Path, dest: Path) -> None:
    """The real export plus a member whose name is not UTF-8 (bytes 0xff 0xfe)."""
    with tarfile.open(src_path) as src, tarfile.open(dest, "w", encoding="utf-8",
                                                     errors="surrogateescape") as out:
        for info in src.getmembers():
            out.addfile(info, src.extractfile(info))
        odd = tarfile.TarInfo("objects/ab/\udcff\udcfe")
        odd.size = 2
        out.addfile(odd, io.BytesIO(b"x\n"))


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n

    def readable(self) -> bool:
        return True


# -- running an attack ----------------------------------------------------------------------
@dataclass
class Report:
    attack: str
    outcomes: list[h.Outcome] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [f"{o.step}: {p}" for o in self.outcomes for p in o.problems]

    @property
    def harm(self) -> list[str]:
        return [p for p in self.problems if "not refused by name" not in p]

    def verdict(self, attack: Attack) -> str:
        if self.harm:
            return "STILL-SUCCEEDS"
        if self.problems:
            return "HELD (but not refused by name)"
        named = any(o.refused and not refused_by_name(o, attack.names)
                    for o in self.outcomes) if attack.names else False
        return "REFUSED-BY-NAME" if attack.must_refuse or named else "HELD"


def run_attack(world: h.World, name: str, attack: Attack) -> Report:
    attack.commit(world)
    report = Report(name)
    guarded, stored = world.guarded(), h.store_objects(world.victim)
    log = h.recovery_log(world.victim)
    forged, misnamed = False, set(h.misnamed_objects(world.victim))
    for step in (*STEPS, *attack.extra):
        outcome = run_step(world, step, attack.bounded)
        after = world.guarded()
        harm = h.changed(guarded, after)
        if harm:
            outcome.problems.append(f"changed outside the clone: {', '.join(harm[:6])}")
            guarded = after
        lost = stored - h.store_objects(world.victim)
        if lost:  # each is named by snapshot v1 or the recovery log: none may go
            outcome.problems.append(f"the victim's store lost {len(lost)} of its "
                                    f"{len(stored)} objects")
            stored -= lost
        if log and log not in h.recovery_log(world.victim):  # records only ever added
            outcome.problems.append("the victim's recovery log lost its records")
            log = b""
        if FORGED_MARK in h.recovery_log(world.victim) and not forged:
            outcome.problems.append("a committed record reached the victim's recovery log")
            forged = True
        poisoned = sorted(set(h.misnamed_objects(world.victim)) - misnamed)
        if poisoned:
            outcome.problems.append(f"the victim's store holds {poisoned[0]} under a name "
                                    "that is not its hash")
            misnamed.update(poisoned)
        outcome.problems += invariants(world, outcome)
        if step.name in attack.must_refuse:
            outcome.problems += refused_by_name(outcome, attack.names)
        report.outcomes.append(outcome)
    if attack.says:
        said = " ".join(o.stdout + o.stderr for o in report.outcomes).lower()
        if attack.says not in said:
            report.outcomes.append(h.Outcome("(all)", 0, "", "",
                                             [f"no step said {attack.says!r}"]))
    return report


def run_step(world: h.World, step: Step, bounded: bool = False) -> h.Outcome:
    cwd = {"victim": world.victim, "fresh": world.root / "fresh", "world": world.root}[step.where]
    if not cwd.is_dir():
        return h.Outcome(step.name, 0, "", "(skipped: no such clone)")
    if step.before is not None:
        step.before(world)
    limits = step.limits or bounded
    done = h.run(cwd, step.command(world), world.env(), timeout=20 if limits else h.TIMEOUT,
                 preexec=_limits if limits else None)
    outcome = h.Outcome(step.name, done.returncode, done.stdout, done.stderr)
    outcome.problems += well_behaved(step, outcome)
    return outcome


def well_behaved(step: Step, o: h.Outcome) -> list[str]:
    """Crash, hang, traceback; and for folio's own commands: exit 0, or 1 with one error
    line last on stderr."""
    out = []
    if o.returncode == -999:
        out.append("did not end (killed after its timeout): an endless input")
    elif o.returncode < 0:
        out.append(f"killed by signal {-o.returncode}")
    if "Traceback" in o.stdout + o.stderr:
        out.append("traceback: " + o.stderr.strip().splitlines()[-1][:200])
    if not step.is_folio or o.returncode < 0:
        return out
    lines = [line for line in o.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("folio: error:")]
    if o.returncode == 1 and (len(errors) != 1 or lines[-1] != errors[0]):
        out.append(f"exit 1 without exactly one error line last: {o.stderr[-300:]!r}")
    elif o.returncode not in (0, 1):
        out.append(f"exit code {o.returncode}: {o.stderr[-300:]!r}")
    elif o.returncode == 0 and errors:
        out.append(f"exit 0 after an error line: {errors[0][:200]!r}")
    return out


def refused_by_name(o: h.Outcome, names: tuple[str, ...]) -> list[str]:
    """Exit 1 and the error line names the offending path; for git, whose hooks speak
    before git's own last line, any line of stderr."""
    if o.step.endswith("get_data"):
        return _items_refused(o, names)
    lines = o.stderr.strip().splitlines()
    error = "\n".join(lines) if o.step.startswith("git") else (lines[-1] if lines else "")
    if o.returncode != 1 or not any(n in error for n in names):
        return [f"not refused by name (wanted exit 1 naming one of {list(names)}; got exit "
                f"{o.returncode}: {error[:200]!r})"]
    return []


def _items_refused(o: h.Outcome, names: tuple[str, ...]) -> list[str]:
    """get_data: the hostile item is refused on one line naming it (or the whole bundle is
    refused, naming what), never read."""
    if o.returncode == 1:
        return refused_by_name(h.Outcome(o.step + "(open)", 1, "", o.stderr), names)
    rows = [json.loads(line) for line in o.stdout.splitlines() if line.startswith("{")]
    hostile = [r for r in rows if any(n in r["item"] for n in names)]
    wrong = [r for r in hostile if "error" not in r or "\n" in r["error"]
             or not any(n in r["error"] for n in names)]
    if not hostile or wrong:
        return [f"not refused by name: {hostile or rows}"]
    return []


def invariants(world: h.World, o: h.Outcome) -> list[str]:
    """What must hold in the victim's clones after any step."""
    out = []
    if "\x1b" in o.stdout + o.stderr:
        out.append("printed a raw escape sequence")
    if "File too large" in o.stderr or "No space left" in o.stderr:
        out.append(f"filled its file-size bound: {o.stderr.strip()[-200:]!r}")
    for clone in (world.victim, world.root / "fresh"):
        out += _clone_invariants(world, clone)
    return out


def _clone_invariants(world: h.World, clone: Path) -> list[str]:
    if not clone.is_dir():
        return []
    out = []
    ignore = clone / ".gitignore"
    if ignore.is_file() and not ignore.is_symlink() and "!.env" in ignore.read_text(
            errors="replace").splitlines():
        out.append(f"{clone.name}/.gitignore un-ignores .env")
    env_file = clone / ".env"
    if clone == world.victim and (env_file.is_symlink() or not env_file.is_file()
                                  or env_file.read_bytes() != h.SECRET):
        out.append("the victim's .env changed")
    top = clone.resolve()
    for rel, path, st in _data_files(clone):
        if stat.S_ISLNK(st.st_mode):
            real = Path(os.path.realpath(path))
            if not real.is_relative_to(top) or real.is_relative_to(top / ".git"):
                out.append(f"{clone.name}/{rel} is a link resolving to {real}")
        elif stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            out.append(f"{clone.name}/{rel} is hard-linked ({st.st_nlink} names): "
                       "the store's bytes are in the work tree")
    for tmp in (clone / ".git/folio/tmp", clone / ".folio/tmp"):  # staging, now and before
        if tmp.is_dir() and not tmp.is_symlink():
            big = [p for p in tmp.rglob("*") if p.is_file() and not p.is_symlink()
                   and p.stat().st_size > FSIZE // 2]
            if big:
                out.append(f"staged {big[0].stat().st_size} bytes in {big[0].name}")
    return out


def _data_files(clone: Path) -> Iterator[tuple[str, str, os.stat_result]]:
    """Every entry of the tracked data (data/, exp/, results.csv, work/), links not followed."""
    for top in ("data", "exp", "results.csv", "work"):
        start = clone / top
        if not os.path.lexists(start):
            continue
        st = os.lstat(start)
        if not stat.S_ISDIR(st.st_mode):
            yield top, str(start), st
            continue
        for dirpath, dirnames, filenames in os.walk(start):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                yield os.path.relpath(path, clone), path, os.lstat(path)


# -- the test -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(ATTACKS))
def test_a_hostile_repository_does_no_harm(base: Base, name: str) -> None:
    world = h.fresh_copy(base.base, base.root)
    (world.root / "exports").mkdir()
    attack = ATTACKS[name]
    report = run_attack(world, name, attack)
    _record(report, attack)
    assert not report.problems, (f"{name}: {report.verdict(attack)}\n  "
                                 + "\n  ".join(report.problems))


def _record(report: Report, attack: Attack) -> None:
    where = os.environ.get("FOLIO_HOSTILE_REPORT")
    if where:
        with open(where, "a") as f:
            f.write(json.dumps({"attack": report.attack, "verdict": report.verdict(attack),
                                "problems": report.problems,
                                "steps": [[o.step, o.returncode, _last_line(o.stderr)]
                                          for o in report.outcomes]}) + "\n")


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1][:240] if lines else ""
