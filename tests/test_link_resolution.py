"""Symlinks in tracked data, resolved as the kernel resolves them (docs/linking.md).

The resolver (folio.paths.resolve_in_repo / link_problem) is checked three ways: a table
of chains a textual check lets through; a property that on random trees of real links its
verdict is the kernel's (os.stat, os.path.realpath), and that links it is only told about
count as if they were on disk; and end to end, hostile snapshots, commits, archives and
directories refused by the real CLI with one line naming the link and nothing written.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import run_folio, write
from tests.reliability import harness as h
from tests.test_hostile import (
    SNAPSHOT_TRAILERS,
    Scene,
    _file,
    _tar,
    assert_refused,
    entry,
    manifest,
)

from folio.errors import ManifestError
from folio.git.repo import GitRepo
from folio.manifest import parse
from folio.paths import MAX_LINK_TARGET, MAX_LINKS, link_problem, resolve_in_repo
from folio.repo import Repo

OUTSIDE = "leads outside the repository"
GIT = "leads into .git/"
FOLIO = "leads into .folio/"
LOOP = "leads into a loop"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A repo-shaped directory (no git needed: the resolver only reads the tree)."""
    root = tmp_path / "repo"
    for d in (".git/hooks", ".folio/objects", "data/sub/deep/deeper", "other"):
        (root / d).mkdir(parents=True)
    write(root / "data/a.csv", "a\n")
    (tmp_path / "outside").mkdir()
    return root


def verdict(problem: str | None) -> str | None:
    """The kind of refusal, without the detail."""
    if problem is None:
        return None
    for kind in (OUTSIDE, GIT, FOLIO, LOOP):
        if problem.startswith(kind):
            return kind
    raise AssertionError(problem)


# -- the table ---------------------------------------------------------------------------------
CHAINS: list[tuple[str, dict[str, str], str, str | None]] = [
    # (name, links planned in data/, the link checked, verdict)
    ("self-dir", {"d": "."}, "d", None),
    ("dot-chain", {"d": ".", "e": "d/d/../../outside"}, "e", OUTSIDE),
    ("into-git", {"d": ".", "g": "d/../.git"}, "g", GIT),
    ("into-git-any-case", {"d": ".", "h": "d/../.GIT/hooks"}, "h", GIT),
    ("into-nested-git", {"n": "sub/.Git"}, "n", GIT),
    ("into-folio", {"f": "../.folio/objects"}, "f", FOLIO),
    ("into-folio-any-case", {"d": ".", "f": "d/../.FOLIO"}, "f", FOLIO),
    ("textually-inside", {"u": "sub/deep/../../../other"}, "u", None),
    ("up-to-the-root", {"r": ".."}, "r", None),
    ("above-the-root", {"r": "../.."}, "r", OUTSIDE),
    ("loop", {"a": "b", "b": "a"}, "a", LOOP),
    ("self-loop", {"s": "s"}, "s", LOOP),
    ("loop-through-a-dir", {"l": "l/x"}, "l", LOOP),
    ("benign-alias", {"alias": "a.csv"}, "alias", None),
    ("benign-dir", {"dl": "sub/deep", "x": "dl/deeper/../../a.csv"}, "x", None),
    ("dangling-inside", {"future": "not/yet/there"}, "future", None),
    ("dangling-escape", {"m": "missing/../../.."}, "m", OUTSIDE),
    ("dangling-into-git", {"m": "missing/../../.git/config"}, "m", GIT),
    ("through-a-file", {"t": "a.csv/../../.git"}, "t", GIT),
]


@pytest.mark.parametrize("name,links,check,expected", CHAINS, ids=[c[0] for c in CHAINS])
def test_chains_resolve_as_the_kernel_would(tree: Path, name: str, links: dict[str, str],
                                            check: str, expected: str | None) -> None:
    planned = {f"data/{loc}": target for loc, target in links.items()}
    assert verdict(link_problem(tree, f"data/{check}", planned)) == expected
    # created for real, the kernel agrees
    for loc, target in links.items():
        os.symlink(target, tree / "data" / loc)
    assert verdict(link_problem(tree, f"data/{check}")) == expected
    assert kernel_verdict(tree, f"data/{check}") in (expected, "dangling")


def test_absolute_targets(tree: Path) -> None:
    outside = tree.parent / "outside"
    (outside / "back").symlink_to(tree / "data")  # a link outside that leads back in
    cases = {
        str(tree / "data/a.csv"): None,
        str(tree) + "/data/../../repo/other": None,
        str(tree / ".git/hooks"): GIT,
        str(tree / ".folio"): FOLIO,
        str(outside): OUTSIDE,
        "/": OUTSIDE,
        str(outside / "back/a.csv"): None,
        str(outside / "back/../../outside"): OUTSIDE,
    }
    for target, expected in cases.items():
        assert verdict(link_problem(tree, "data/x", {"data/x": target})) == expected, target


def test_links_already_on_disk_are_followed_and_planned_ones_take_precedence(
        tree: Path) -> None:
    (tree / "data/up").symlink_to("..")  # on disk: the repo root
    assert verdict(link_problem(tree, "data/x", {"data/x": "up/../outside"})) == OUTSIDE
    assert link_problem(tree, "data/x", {"data/x": "up/data/a.csv"}) is None
    (tree / "data/p").symlink_to("sub/deep")
    # through the disk's p this stays inside; p is about to become '..', and then it does not
    assert link_problem(tree, "data/q", {"data/q": "p/../../a.csv"}) is None
    assert verdict(link_problem(tree, "data/q", {"data/q": "p/../../x",
                                                 "data/p": ".."})) == OUTSIDE
    # a link about to be removed (None) no longer leads anywhere: what follows is lexical
    (tree / "data/m").symlink_to("sub/deep/deeper")
    planned = {"data/n": "m/../../../x"}
    assert link_problem(tree, "data/n", planned) is None
    assert verdict(link_problem(tree, "data/n", {**planned, "data/m": None})) == OUTSIDE


def test_planned_links_count_below_directories_the_disk_lacks(tree: Path) -> None:
    """A fresh clone has no data/ yet: checkout creates it, then the links inside it."""
    planned = {"new/d": ".", "new/e": "d/d/../../outside", "new/g": "d/../.git"}
    assert link_problem(tree, "new/d", planned) is None
    assert verdict(link_problem(tree, "new/e", planned)) == OUTSIDE
    assert verdict(link_problem(tree, "new/g", planned)) == GIT
    # an absolute target from there is looked up on disk again: outside/back leads back in
    (tree.parent / "outside/back").symlink_to(tree / "data")
    planned = {"new/x": str(tree.parent / "outside/back/a.csv"),
               "new/y": str(tree.parent / "outside/back/../../outside")}
    assert link_problem(tree, "new/x", planned) is None
    assert verdict(link_problem(tree, "new/y", planned)) == OUTSIDE


def test_the_bound_on_links_is_the_kernels(tree: Path) -> None:
    def chain(n: int) -> dict[str, str]:
        """l0 -> l1 -> ... -> l{n-1} -> a.csv: n links to follow."""
        return {f"data/l{i}": f"l{i + 1}" if i + 1 < n else "a.csv" for i in range(n)}

    assert link_problem(tree, "data/l0", chain(MAX_LINKS)) is None
    assert verdict(link_problem(tree, "data/l0", chain(MAX_LINKS + 1))) == LOOP
    for loc, target in chain(MAX_LINKS + 1).items():
        os.symlink(target, tree / loc)
    assert kernel_verdict(tree, "data/l0") == LOOP
    assert kernel_verdict(tree, "data/l1") is None
    assert link_problem(tree, "data/l1") is None
    # each link may lead through others many times: the count is of every link followed
    doubling = {"data/b0": "b1/b1", "data/b1": "b2/b2", "data/b2": "b3/b3",
                "data/b3": "b4/b4", "data/b4": "b5/b5", "data/b5": "."}
    assert verdict(link_problem(tree, "data/b0", doubling)) == LOOP
    assert link_problem(tree, "data/b2", doubling) is None
    for loc, target in doubling.items():
        os.symlink(target, tree / loc)
    assert kernel_verdict(tree, "data/b0") == LOOP  # 63 links
    assert kernel_verdict(tree, "data/b1") is None  # 31


def test_resolution_is_relative_to_where_the_link_stands(tree: Path) -> None:
    (tree / "data/sub/s").symlink_to("../..")  # data/sub/s -> the repo root
    assert resolve_in_repo(tree, "data/sub/s") == []
    assert resolve_in_repo(tree, "data/sub/s/other") == ["other"]
    assert resolve_in_repo(tree, "data/sub/s/..") == [".."]
    assert verdict(link_problem(tree, "data/sub/t", {"data/sub/t": "s/../outside"})) == OUTSIDE


# -- the kernel decides ------------------------------------------------------------------------
def kernel_verdict(root: Path, rel: str) -> str | None:
    """The kernel's own answer for a link on disk: LOOP (ELOOP), "dangling" (some
    component missing), or the verdict on where ``os.path.realpath`` says it leads."""
    path = root / rel
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return LOOP
        return "dangling"
    return realpath_verdict(root, rel)


def realpath_verdict(root: Path, rel: str) -> str | None:
    real = os.path.relpath(os.path.realpath(root / rel), os.path.realpath(root))
    parts = [] if real == "." else real.split("/")
    if parts[:1] == [".."]:
        return OUTSIDE
    if any(p.lower() == ".git" for p in parts):
        return GIT
    if parts[:1] and parts[0].lower() == ".folio":
        return FOLIO
    return None


LOCATIONS = ["a", "b", "c", "s/a", "s/b"]
PARTS = ["a", "b", "c", "s", "..", ".", ".git", ".folio", "x", "s/a"]
targets = st.one_of(
    st.lists(st.sampled_from(PARTS), min_size=1, max_size=5).map("/".join),
    st.tuples(st.sampled_from(["ROOT", "OUT"]),
              st.lists(st.sampled_from(PARTS), max_size=3)).map(
        lambda t: t[0] + "/" + "/".join(t[1])),
)
trees = st.dictionaries(st.sampled_from(LOCATIONS), st.tuples(targets, st.booleans()),
                        min_size=1, max_size=5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_random_trees_of_links_get_the_kernels_verdict(links: dict[str, tuple[str, bool]]
                                                       ) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(os.path.realpath(tmp))
        root = base / "repo"
        for d in (".git", ".folio", "s", "x"):
            (root / d).mkdir(parents=True)
        (base / "OUT").mkdir()

        def real(target: str) -> str:
            return target.replace("ROOT", str(root), 1).replace("OUT", str(base / "OUT"), 1)

        for loc, (target, _) in links.items():
            os.symlink(real(target), root / loc)
        on_disk = {}
        for loc in links:
            mine = verdict(link_problem(root, loc))
            on_disk[loc] = mine
            kernel = kernel_verdict(root, loc)
            if kernel == "dangling":
                # taken as plain directories, missing components never hide an escape
                # realpath sees; a loop found past one is refused where the kernel stops
                assert mine in (realpath_verdict(root, loc), LOOP), (loc, links)
            else:
                assert mine == kernel, (loc, links)
        # links only planned (not on disk yet) get the verdict they get once created
        planned = {loc: real(target) for loc, (target, later) in links.items() if later}
        for loc in planned:
            os.unlink(root / loc)
        if not os.listdir(root / "s"):
            os.rmdir(root / "s")  # the links planned in it count though the disk lacks it
        for loc in links:
            assert verdict(link_problem(root, loc, planned)) == on_disk[loc], (loc, links)


# -- what a manifest may say ---------------------------------------------------------------------
@pytest.mark.parametrize("link", ["", "a\x00b", "\ud800", "x" * (MAX_LINK_TARGET + 1)],
                         ids=["empty", "nul", "surrogate", "too-long"])
def test_a_manifest_link_target_must_be_one_the_kernel_would_store(link: str) -> None:
    header = b'{"folio": 1, "kind": "dir", "target": "data"}\n'
    line = json.dumps({"path": "l", "link": link}).encode() + b"\n"
    with pytest.raises(ManifestError, match="invalid link target") as exc:
        parse(header + line, "data.folio")
    assert exc.value.line == 2
    longest = json.dumps({"path": "l", "link": "x" * MAX_LINK_TARGET}).encode() + b"\n"
    assert parse(header + longest, "data.folio").entries["l"].link == "x" * MAX_LINK_TARGET


# -- end to end ----------------------------------------------------------------------------------
@pytest.fixture
def scene(repo: Repo, tmp_path: Path) -> Iterator[Scene]:
    """A repo with tracked data beside a canary directory ``outside`` (tests/test_hostile)."""
    outside = tmp_path / "outside"
    write(outside / "canary.txt", "do not touch\n")
    write(repo.root / "data/a.csv", "a,b\n1,2\n")
    repo.add(["data"])
    payload = repo.store.put_bytes(b"#!/bin/sh\ntouch pwned\n")
    yield Scene(repo, outside, tmp_path / "sentinel", payload)


def hostile_links(scene: Scene) -> dict[str, tuple[list[dict[str, object]], str]]:
    """name -> (entries of data.folio, the link the refusal must name)."""
    root = scene.repo.root
    return {
        "dot-chain": ([{"path": "d", "link": "."}, {"path": "e", "link": "d/d/../../outside"},
                       entry(scene, "f")], "data/e"),
        "into-git": ([{"path": "d", "link": "."}, {"path": "g", "link": "d/../.git"}], "data/g"),
        "into-git-case": ([{"path": "d", "link": "."}, {"path": "h", "link": "d/../.GIT/hooks"}],
                          "data/h"),
        "into-folio": ([{"path": "f", "link": "../.folio/config.toml"}], "data/f"),
        "absolute-git": ([{"path": "x", "link": str(root / ".git/hooks")}], "data/x"),
        "absolute-out": ([{"path": "x", "link": str(scene.outside)}], "data/x"),
        "loop": ([{"path": "a", "link": "b"}, {"path": "b", "link": "a"}], "data/a"),
        "through-disk": ([{"path": "x", "link": "../up/outside/canary.txt"}], "data/x"),
    }


@pytest.mark.parametrize("case", ["dot-chain", "into-git", "into-git-case", "into-folio",
                                  "absolute-git", "absolute-out", "loop", "through-disk"])
def test_checkout_refuses_links_that_resolve_out(scene: Scene, case: str) -> None:
    root = scene.repo.root
    (root / "up").symlink_to("..")  # an untracked link already on disk: to the repo's parent
    entries, link = hostile_links(scene)[case]
    data = manifest(*sorted(entries, key=lambda e: str(e["path"])))
    git_repo = GitRepo(root)
    git_repo.write_snapshot({".folio/manifests/data.folio": data}, ref="refs/heads/pr",
                            message="a pull request", trailers={})
    git_repo.write_snapshot({"data.folio": data}, ref="refs/folio/snapshots/evil",
                            message="evil", trailers=SNAPSHOT_TRAILERS)
    before = scene.before()
    assert_refused(run_folio(root, "checkout", "evil"), f"{link}: symlink target")
    for rev in ("pr", "evil"):
        for extra in ([], ["--force"], ["--link", "symlink"], ["--force", "--link", "copy"]):
            assert_refused(h.cli(root, "checkout", rev, *extra), f"{link}: symlink target")
    scene.assert_untouched(before)  # no link inside, nothing outside, manifests as they were
    assert not os.path.lexists(root / link)


@pytest.mark.parametrize("case", ["dot-chain", "into-git", "loop"])
def test_checkout_refuses_them_where_the_target_directory_does_not_exist_yet(
        scene: Scene, case: str) -> None:
    """As in a fresh clone: nothing of data/ on disk, so only the plan says what d is."""
    root = scene.repo.root
    entries, link = hostile_links(scene)[case]
    data = manifest(*sorted(entries, key=lambda e: str(e["path"])))
    GitRepo(root).write_snapshot({"data.folio": data}, ref="refs/folio/snapshots/evil",
                                 message="evil", trailers=SNAPSHOT_TRAILERS)
    shutil.rmtree(root / "data")
    before = scene.before()
    for extra in ([], ["--force"], ["--link", "symlink"]):
        assert_refused(run_folio(root, "checkout", *extra, "evil"), f"{link}: symlink target")
    scene.assert_untouched(before)
    assert not os.path.lexists(root / "data")


def test_a_partial_checkout_cannot_turn_a_tracked_link_outward(scene: Scene) -> None:
    root = scene.repo.root
    (root / "data/sub").mkdir()
    (root / "data/d").symlink_to("sub")
    (root / "data/e").symlink_to("d/../../outside")  # data/sub/../../outside: inside
    scene.repo.add(["data"])
    # the snapshot makes d lead to data itself: data/../outside is then the canary
    data = manifest(entry(scene, "a.csv", size=8, sha256=scene.repo.manifests()["data"]
                          .entries["a.csv"].sha256),
                    {"path": "d", "link": "."}, {"path": "e", "link": "d/../../outside"})
    GitRepo(root).write_snapshot({"data.folio": data}, ref="refs/folio/snapshots/turn",
                                 message="turn", trailers=SNAPSHOT_TRAILERS)
    before = scene.before()
    assert_refused(run_folio(root, "checkout", "turn", "--", "data/d"), "data/e: symlink target")
    assert_refused(run_folio(root, "checkout", "turn"), "data/e: symlink target")
    scene.assert_untouched(before)
    assert os.readlink(root / "data/d") == "sub"


def test_a_link_cannot_lead_out_once_checkout_removes_one_it_passes_through(
        scene: Scene) -> None:
    root = scene.repo.root
    (root / "data/sub/deep/deeper").mkdir(parents=True)
    (root / "data/m").symlink_to("sub/deep/deeper")
    (root / "data/n").symlink_to("m/../../../outside")  # data/outside, through m
    scene.repo.add(["data"])
    a_csv = scene.repo.manifests()["data"].entries["a.csv"]
    # without m, data/m/../../../outside is the canary beside the repo
    data = manifest(entry(scene, "a.csv", size=a_csv.size, sha256=a_csv.sha256),
                    {"path": "n", "link": "m/../../../outside"})
    GitRepo(root).write_snapshot({"data.folio": data}, ref="refs/folio/snapshots/drop",
                                 message="drop", trailers=SNAPSHOT_TRAILERS)
    before = scene.before()
    assert_refused(run_folio(root, "checkout", "--force", "drop"), "data/n: symlink target")
    scene.assert_untouched(before)


def test_a_symlinked_directory_above_a_target_is_refused_before_anything_is_written(
        scene: Scene) -> None:
    root = scene.repo.root
    (root / "real").mkdir()
    (root / "via").symlink_to("real")  # inside the repo, but folio never writes through it
    data = manifest(entry(scene, "pwned"), target="via/raw")
    GitRepo(root).write_snapshot({"via/raw.folio": data}, ref="refs/folio/snapshots/via",
                                 message="via", trailers=SNAPSHOT_TRAILERS)
    before = scene.before()
    for extra in ([], ["--force"]):
        assert_refused(run_folio(root, "checkout", *extra, "via"),
                       "via: is a symlink to a directory")
    scene.assert_untouched(before)  # the manifests too: refused while planning
    assert not (root / ".folio/manifests/via").exists()
    assert list((root / "real").iterdir()) == []


@pytest.mark.parametrize("case,links,bad", [
    ("dot-chain", {"d": ".", "e": "d/d/../../outside"}, "e"),
    ("into-git", {"d": ".", "g": "d/../.git"}, "g"),
    ("into-git-case", {"d": ".", "h": "d/../.GIT/hooks"}, "h"),
    ("into-folio", {"f": "../.folio/config.toml"}, "f"),
    ("loop", {"a": "a"}, "a"),
])
def test_add_refuses_a_directory_holding_such_chains(scene: Scene, case: str,
                                                     links: dict[str, str], bad: str) -> None:
    root = scene.repo.root
    write(root / "new/real.txt", "x\n")
    for loc, target in links.items():
        os.symlink(target, root / "new" / loc)
    before = scene.before()
    proc = run_folio(root, "add", "new")
    assert_refused(proc, f"new/{bad}: is a symlink that")
    scene.assert_untouched(before)
    assert "new" not in scene.repo.manifests()


def test_import_refuses_a_snapshot_whose_links_resolve_out(scene: Scene, tmp_path: Path) -> None:
    root = scene.repo.root
    head = [_file("folio-archive.json", b'{"format": "folio-archive", "version": 1}'),
            _file("snapshot.json", b'{"tag": "evil", "message": "", "trailers": {}}')]
    for name, (entries, link) in hostile_links(scene).items():
        if name == "through-disk":
            continue  # needs the link on disk, which this repo lacks
        data = manifest(*sorted(entries, key=lambda e: str(e["path"])))
        archive = _tar(tmp_path / f"{name}.tar", [*head, _file("manifests/data.folio", data)])
        before = scene.before()
        assert_refused(run_folio(root, "import", str(archive)), f"{link}: symlink target")
        scene.assert_untouched(before)  # no tag, no object, no file


def test_benign_internal_links_round_trip(scene: Scene) -> None:
    root = scene.repo.root
    links = {"alias": "a.csv", "d": ".", "sub/up": "../a.csv", "dirlink": "sub",
             "via": "d/sub/../a.csv", "future": "not/yet/there", "root": "..",
             "absolute": str(root / "data/a.csv"), "other": "../other/file.txt"}
    write(root / "data/sub/b.txt", "b\n")
    write(root / "other/file.txt", "o\n")
    for loc, target in links.items():
        os.symlink(target, root / "data" / loc)
    assert run_folio(root, "add", "data").returncode == 0
    recorded = {p: e.link for p, e in scene.repo.manifests()["data"].entries.items() if e.link}
    assert recorded == links
    assert run_folio(root, "snapshot", "good").returncode == 0
    for extra in ([], ["--link", "symlink"]):
        for loc in links:
            os.unlink(root / "data" / loc)
        proc = run_folio(root, "checkout", *extra, "good")
        assert proc.returncode == 0, proc.stderr
        assert {loc: os.readlink(root / "data" / loc) for loc in links} == links
        assert (root / "data/via").read_text() == "a,b\n1,2\n"
    assert run_folio(root, "status", "--exit-code").returncode == 0
