"""Three states kept apart: a teammate's change that git brings is out of date, never modified.

Two clones of one bare repository share a directory remote; no hooks are installed, so
git moves the manifests and the data stays as it was (the case the hooks cannot cover:
hooks off, objects not fetched yet, a conflict resolved by hand). ``folio status`` must
call such files out of date with the command that updates them, and ``folio add`` must
never record them back over the teammate's change. Every test here failed before the
synced manifests existed (status said "modified", add reverted the change).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import git, run_folio, write


@dataclass
class Team:
    a: Path  # the teammate who changes data
    b: Path  # the clone that receives it through git
    store: Path

    def folio(self, who: Path, *args: str) -> str:
        return run_folio(who, *args, check=True).stdout

    def publish(self, message: str) -> None:
        """``a`` adds its data, commits, pushes the objects and the commit."""
        self.folio(self.a, "add", "data")
        git(self.a, "add", "-A")
        git(self.a, "commit", "-qm", message)
        self.folio(self.a, "push")
        git(self.a, "push", "-q", "origin", "HEAD:main")


@pytest.fixture
def team(tmp_path: Path) -> Team:
    origin, store = tmp_path / "origin.git", tmp_path / "store"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    a = tmp_path / "a"
    git(tmp_path, "clone", "-q", str(origin), str(a))
    run_folio(a, "init", check=True)
    run_folio(a, "remote", "add", "store", str(store), check=True)
    for name in ("one", "two", "three"):
        write(a / "data" / f"{name}.csv", f"{name}\n")
    t = Team(a, tmp_path / "b", store)
    t.publish("first data")
    git(tmp_path, "clone", "-q", "-b", "main", str(origin), str(t.b))
    run_folio(t.b, "accept", check=True)
    run_folio(t.b, "pull", check=True)
    assert (t.b / "data/one.csv").read_text() == "one\n"
    return t


def _status(who: Path) -> dict[str, list[str]]:
    proc = run_folio(who, "status", "--json", check=True)
    [target] = json.loads(proc.stdout)["targets"]
    return target  # type: ignore[no-any-return]


def _entry(who: Path, name: str) -> dict[str, object]:
    for line in (who / ".folio/manifests/data.folio").read_text().splitlines()[1:]:
        entry = json.loads(line)
        if entry["path"] == name:
            return entry  # type: ignore[no-any-return]
    raise AssertionError(f"{name} not in the manifest")


def test_a_pulled_change_is_out_of_date_and_add_keeps_it(team: Team) -> None:
    write(team.a / "data/one.csv", "one, edited by a\n")
    team.publish("a edits one")
    wanted = _entry(team.a, "one.csv")
    git(team.b, "pull", "-q", "origin", "main")  # no hooks: the data stays as it was
    status = _status(team.b)
    assert status["out_of_date"] == ["one.csv"] and status["modified"] == []
    text = run_folio(team.b, "status").stdout
    assert "out of date: one.csv" in text and "`folio checkout`" in text
    write(team.b / "data/two.csv", "two, edited by b\n")  # b's own edit, elsewhere
    added = run_folio(team.b, "add", "data", check=True)
    assert "out of date (one.csv)" in added.stderr
    assert _entry(team.b, "one.csv") == wanted, "add recorded b's stale copy over a's change"
    assert _entry(team.b, "two.csv")["size"] == len("two, edited by b\n")
    assert _status(team.b)["out_of_date"] == ["one.csv"]  # still, until checked out
    team.folio(team.b, "pull")  # fetch a's objects, then check out
    assert (team.b / "data/one.csv").read_text() == "one, edited by a\n"
    assert run_folio(team.b, "status", "--exit-code").returncode == 0


def test_files_git_adds_or_deletes_are_out_of_date_not_deleted_or_added(team: Team) -> None:
    write(team.a / "data/four.csv", "four\n")
    (team.a / "data/three.csv").unlink()
    team.publish("a adds four, deletes three")
    git(team.b, "pull", "-q", "origin", "main")
    status = _status(team.b)
    assert status["out_of_date"] == ["four.csv", "three.csv"]
    assert status["added"] == [] and status["deleted"] == []
    team.folio(team.b, "add", "data")
    names = [json.loads(line)["path"] for line in
             (team.b / ".folio/manifests/data.folio").read_text().splitlines()[1:]]
    assert names == ["four.csv", "one.csv", "two.csv"], "add undid a's add or delete"
    team.folio(team.b, "pull")
    assert (team.b / "data/four.csv").read_text() == "four\n"
    assert not (team.b / "data/three.csv").exists()
    assert _status(team.b)["out_of_date"] == []


def test_an_edit_of_a_file_git_also_changed_is_the_users_and_is_recorded(team: Team) -> None:
    write(team.a / "data/one.csv", "one, by a\n")
    team.publish("a edits one")
    write(team.b / "data/one.csv", "one, by b\n")  # b edited it too: b's data wins, said so
    git(team.b, "pull", "-q", "origin", "main")
    status = _status(team.b)
    assert status["modified"] == ["one.csv"] and status["out_of_date"] == []
    team.folio(team.b, "add", "data")
    assert _entry(team.b, "one.csv")["size"] == len("one, by b\n")


def test_a_users_own_edits_and_deletions_stay_modified_and_deleted(team: Team) -> None:
    write(team.b / "data/one.csv", "one, by b\n")
    (team.b / "data/two.csv").unlink()
    status = _status(team.b)
    assert status["modified"] == ["one.csv"] and status["deleted"] == ["two.csv"]
    assert status["out_of_date"] == []
    team.folio(team.b, "add", "data")
    assert run_folio(team.b, "status", "--exit-code").returncode == 0


def test_a_fresh_clone_without_data_never_records_it_as_deleted(team: Team,
                                                                 tmp_path: Path) -> None:
    c = tmp_path / "c"
    git(tmp_path, "clone", "-q", "-b", "main", str(tmp_path / "origin.git"), str(c))
    status = _status(c)  # data never fetched here: not the user's deletion
    assert status["out_of_date"] == ["one.csv", "three.csv", "two.csv"]
    assert status["deleted"] == []
    write(c / "data/mine.csv", "mine\n")
    team.folio(c, "add", "data")
    names = [json.loads(line)["path"] for line in
             (c / ".folio/manifests/data.folio").read_text().splitlines()[1:]]
    assert names == ["mine.csv", "one.csv", "three.csv", "two.csv"]


def test_a_merge_that_leaves_data_behind_is_caught(team: Team) -> None:
    """b commits its own change on a branch, a's change arrives by merge: the merged
    manifest names a's version of one.csv while b's files are its own."""
    git(team.b, "checkout", "-q", "-b", "work")
    write(team.b / "data/two.csv", "two, by b\n")
    team.folio(team.b, "add", "data")
    git(team.b, "commit", "-qam", "b edits two")
    write(team.a / "data/one.csv", "one, by a\n")
    team.publish("a edits one")
    git(team.b, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
    status = _status(team.b)
    assert status["out_of_date"] == ["one.csv"] and status["modified"] == []
    team.folio(team.b, "snapshot", "merged")  # a snapshot records like add: nothing reverted
    assert _entry(team.b, "one.csv")["size"] == len("one, by a\n")
    assert _entry(team.b, "two.csv")["size"] == len("two, by b\n")


def test_a_sharded_target_keeps_a_pulled_change_too(team: Team) -> None:
    """Past 2,048 files the manifest is sharded and add writes shard by shard under a
    clean mark: the synced record follows the incremental write and still tells."""
    for i in range(2100):
        write(team.a / "data" / "many" / f"f{i:04}.txt", f"{i}\n")
    team.publish("a adds many")
    git(team.b, "pull", "-q", "origin", "main")
    team.folio(team.b, "pull")
    write(team.b / "data/many/f0007.txt", "b's edit\n")
    team.folio(team.b, "add", "data")  # incremental, under the mark: the record follows
    git(team.b, "commit", "-qam", "b edits f0007")
    write(team.a / "data/many/f1500.txt", "a's edit\n")
    team.publish("a edits f1500")
    git(team.b, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
    status = _status(team.b)
    assert status["out_of_date"] == ["many/f1500.txt"] and status["modified"] == []
    team.folio(team.b, "add", "data")
    team.folio(team.b, "pull")
    assert (team.b / "data/many/f1500.txt").read_text() == "a's edit\n"
    assert (team.b / "data/many/f0007.txt").read_text() == "b's edit\n"


def test_a_damaged_synced_record_means_unknown_never_wrong(team: Team) -> None:
    from folio.repo import Repo

    write(team.a / "data/one.csv", "one, by a\n")
    team.publish("a edits one")
    synced = Repo(team.b).synced()
    [record] = list(synced.records())
    for digest in record.files.values():  # damage every blob of the record
        (synced.blobs / next(synced.blobs.iterdir()).name / digest).write_bytes(b"junk")
    git(team.b, "pull", "-q", "origin", "main")
    status = _status(team.b)  # unknown: the old rule (W against the manifest) holds
    assert status["modified"] == ["one.csv"] and status["out_of_date"] == []


def test_a_merge_git_left_unresolved_in_the_manifests_is_refused(team: Team) -> None:
    """A modify/delete conflict leaves a manifest that still parses: status and add must
    not read or record data against it until git's conflict is resolved."""
    git(team.b, "checkout", "-q", "-b", "work")
    run_folio(team.b, "untrack", "data", check=True)
    git(team.b, "add", "-A", ".folio", ".gitignore")  # the data itself stays out of git
    git(team.b, "commit", "-qm", "b untracks data")
    write(team.a / "data/one.csv", "one, by a\n")
    team.publish("a edits one")
    merge = git(team.b, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main", check=False)
    assert merge.returncode != 0  # modify/delete: git stops
    for args in (("status",), ("add", "data"), ("snapshot", "s1")):
        proc = run_folio(team.b, *args)
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1, (args, proc.stderr)
        assert "unresolved merge conflicts in git (.folio/manifests/data.folio)" in proc.stderr
