"""Settings that decide trust come only from places a commit cannot write.

An "attacker" clone commits a config.toml that moves the store, asks for hardlinks and points
the team remote (or its S3 endpoint) at a directory or server of their own; the victim gets
it with a real `git clone` / `git pull`. Nothing of it takes effect before `folio accept`:
the attacker's directories keep their exact checksums, their server sees no connection, and
each refusal is one line naming the key, the value and the accepting command.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import git, run_folio, write

from folio.config import local_config_path
from folio.errors import NotAcceptedError
from folio.repo import Repo

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def sums(root: Path) -> dict[str, str]:
    """Every file below ``root`` -> sha256 (links by target): a tree nobody may write."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = "link:" + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def one_line_refusal(proc: object, *words: str) -> str:
    err = proc.stderr  # type: ignore[attr-defined]
    assert proc.returncode == 1, (proc.stdout, err)  # type: ignore[attr-defined]
    assert err.count("\n") == 1 and err.startswith("folio: error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)
    return err  # type: ignore[no-any-return]


def local_config(root: Path) -> dict:  # type: ignore[type-arg]
    path = local_config_path(root)
    if not path.exists():
        return {}
    with open(path, "rb") as f:
        return tomllib.load(f)


def set_committed(root: Path, text: str) -> None:
    """Rewrite the committed config the way an attacker's commit would."""
    write(root / ".folio/config.toml", text)


@dataclass
class Team:
    bare: Path  # the git remote everyone pushes to
    remote: Path  # the team's data remote (a directory)
    victim: Path  # a clone that accepted the team remote
    attacker: Path  # another clone, whose commits carry the hostile config
    evil: Path  # the attacker's directory: must keep its exact content

    def attack(self, config: str, *extra: tuple[str, str]) -> None:
        set_committed(self.attacker, config)
        for rel, text in extra:
            write(self.attacker / rel, text)
        git(self.attacker, "add", "-f", ".folio", *[rel for rel, _ in extra])
        git(self.attacker, "commit", "-q", "-m", "innocent-looking change")
        git(self.attacker, "push", "-q", "origin", "main")


@pytest.fixture
def team(tmp_path: Path) -> Team:
    bare, origin = tmp_path / "origin.git", tmp_path / "origin"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(tmp_path, "clone", "-q", str(bare), str(origin))
    run_folio(origin, "init", check=True)
    write(origin / "data/a.csv", "a,b\n1,2\n")
    write(origin / "data/b.bin", os.urandom(5000))
    run_folio(origin, "add", "data", check=True)
    remote = tmp_path / "team-remote"
    run_folio(origin, "remote", "add", "team", str(remote), check=True)
    run_folio(origin, "push", check=True)
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "data")
    git(origin, "push", "-q", "origin", "main")
    victim, attacker = tmp_path / "victim", tmp_path / "attacker"
    for clone in (victim, attacker):
        git(tmp_path, "clone", "-q", str(bare), str(clone))
    run_folio(victim, "accept", check=True)
    run_folio(victim, "pull", check=True)
    evil = tmp_path / "evil"
    write(evil / "canary.txt", "the attacker's directory\n")
    return Team(bare, remote, victim, attacker, evil)


def hostile_config(team: Team, **core: str) -> str:
    text = (team.victim / ".folio/config.toml").read_text()
    lines = "".join(f'{k} = "{v}"\n' for k, v in core.items())
    return text.replace("[core]\n", "[core]\n" + lines, 1)


# -- a fresh clone ------------------------------------------------------------------------------
def test_a_fresh_clone_uses_the_committed_remote_only_after_accept(team: Team,
                                                                  tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(team.bare), str(fresh))
    before = sums(team.remote)
    for argv in (["pull"], ["fetch"], ["push"], ["verify", "--remote", "team"]):
        one_line_refusal(run_folio(fresh, *argv), "remote team", str(team.remote),
                         "folio accept remotes.team")
    assert sums(team.remote) == before and not (fresh / "data").exists()
    listed = run_folio(fresh, "remote", "list", check=True).stdout
    assert "[not accepted: `folio accept remotes.team`]" in listed
    one_line_refusal(run_folio(fresh, "accept", "core.store"), "nothing to accept for core.store",
                     "pending: remotes.team")
    as_json = json.loads(run_folio(fresh, "accept", "-n", "--json", check=True).stdout)
    assert as_json == {"dry_run": True, "settings": [
        {"key": "remotes.team", "value": {"url": str(team.remote)}, "previous": None}]}
    shown = run_folio(fresh, "accept", "--dry-run", check=True).stdout
    assert f"remote team -> {team.remote}" in shown
    assert "remotes" not in local_config(fresh).get("accepted", {}), "--dry-run accepted"
    out = run_folio(fresh, "accept", check=True).stdout
    assert "Accepted in this clone:" in out
    assert local_config(fresh)["accepted"]["remotes"]["team"] == {"url": str(team.remote)}
    run_folio(fresh, "pull", check=True)
    assert (fresh / "data/a.csv").read_text() == "a,b\n1,2\n"
    assert "Nothing to accept" in run_folio(fresh, "accept", check=True).stdout


def test_remote_add_accepts_and_remote_remove_forgets(repo: Repo, tmp_path: Path) -> None:
    repo.add_remote("nas", str(tmp_path / "nas"))
    assert repo.pending_settings() == []
    assert local_config(repo.root)["accepted"]["remotes"]["nas"] == {"url": str(tmp_path / "nas")}
    repo.remove_remote("nas")
    assert "nas" not in local_config(repo.root)["accepted"].get("remotes", {})


# -- an attacker's commit, pulled with git --------------------------------------------------------
def test_a_pulled_remote_url_is_refused_for_push_and_pull_until_accepted(team: Team) -> None:
    text = (team.victim / ".folio/config.toml").read_text()
    team.attack(text.replace(str(team.remote), str(team.evil)))
    git(team.victim, "pull", "-q")
    write(team.victim / "data/new.txt", "my private data\n")
    run_folio(team.victim, "add", "data", check=True)
    before = sums(team.evil)
    for argv in (["push"], ["pull"], ["fetch"], ["push", "--remote", "team"]):
        one_line_refusal(run_folio(team.victim, *argv), "remote team", str(team.evil),
                         f"this clone accepted {team.remote}",
                         "folio accept remotes.team")
    assert sums(team.evil) == before, "bytes went to the attacker's remote"
    run_folio(team.victim, "accept", "remotes.team", check=True)  # the user says yes
    run_folio(team.victim, "push", check=True)
    assert len(sums(team.evil)) > len(before), "accepted, the new URL is used"


def test_a_pulled_store_path_is_refused_until_accepted(team: Team) -> None:
    team.attack(hostile_config(team, store=str(team.evil)))
    git(team.victim, "pull", "-q")
    before = sums(team.evil)
    write(team.victim / "data/new.txt", "my private data\n")
    for argv in (["add", "data"], ["status"], ["checkout"], ["snapshot", "v1"], ["gc"]):
        one_line_refusal(run_folio(team.victim, *argv), ".folio/config.toml", "core.store",
                         str(team.evil), "folio accept core.store")
    assert sums(team.evil) == before, "the attacker's store directory was written"
    # what needs no store still works, and says what is pending
    assert "core.store" in run_folio(team.victim, "accept", "-n", check=True).stdout
    run_folio(team.victim, "remote", "list", check=True)
    with pytest.raises(NotAcceptedError, match=r"folio accept core\.store"):
        Repo(team.victim).store.has("0" * 64)
    repo = Repo(team.victim)
    assert [p.key for p in repo.pending_settings()] == ["core.store"]
    assert [p.key for p in repo.accept()] == ["core.store"]
    assert repo.store.root == team.evil  # this Repo sees it at once
    run_folio(team.victim, "add", "data", check=True)
    assert len(sums(team.evil)) > len(before)


def test_a_changed_store_is_refused_again(team: Team, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    team.attack(hostile_config(team, store=str(shared)))
    git(team.victim, "pull", "-q")
    run_folio(team.victim, "accept", "core.store", check=True)
    run_folio(team.victim, "status", check=True)
    text = (team.attacker / ".folio/config.toml").read_text()
    team.attack(text.replace(str(shared), str(team.evil)))
    git(team.victim, "pull", "-q")
    one_line_refusal(run_folio(team.victim, "status"), str(team.evil),
                     f'this clone accepted "{shared}"', "folio accept core.store")


def test_a_pulled_hardlink_mode_falls_back_and_says_so_once(team: Team) -> None:
    team.attack(hostile_config(team, link="hardlink").replace('link = "auto"\n', ""))
    git(team.victim, "pull", "-q")
    for path in (team.victim / "data").iterdir():
        path.unlink()
    proc = run_folio(team.victim, "checkout", check=True)
    warning = [ln for ln in proc.stderr.splitlines() if "core.link" in ln]
    assert len(warning) == 1, proc.stderr
    assert "folio accept core.link" in warning[0] and 'using link = "auto"' in warning[0]
    assert all(p.stat().st_nlink == 1 for p in (team.victim / "data").iterdir()), \
        "checkout hardlinked files to the store before the mode was accepted"
    run_folio(team.victim, "accept", "core.link", check=True)
    for path in (team.victim / "data").iterdir():
        path.unlink()
    proc = run_folio(team.victim, "checkout", check=True)
    assert "core.link" not in proc.stderr
    assert all(p.stat().st_nlink == 2 for p in (team.victim / "data").iterdir())


def test_safe_link_modes_need_no_accept(team: Team) -> None:
    team.attack((team.victim / ".folio/config.toml").read_text()
                .replace('link = "auto"', 'link = "copy"'))
    git(team.victim, "pull", "-q")
    assert Repo(team.victim).config.link_mode == "copy"
    assert Repo(team.victim).pending_settings() == []


class Listener:
    """A TCP server that only counts connections: the attacker's S3 endpoint."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.sock.close()


def test_a_pulled_s3_endpoint_gets_no_request_before_accept(team: Team,
                                                           listener: Listener) -> None:
    url = "s3://team-bucket/data"
    run_folio(team.victim, "remote", "add", "cloud", url, "--endpoint", "https://s3.example.com",
              check=True)
    git(team.victim, "commit", "-qam", "cloud remote")
    git(team.victim, "push", "-q", "origin", "main")
    git(team.attacker, "pull", "-q")
    text = (team.attacker / ".folio/config.toml").read_text()
    evil = f"http://127.0.0.1:{listener.port}"
    team.attack(text.replace('endpoint = "https://s3.example.com"',
                             f'endpoint = "{evil}"\nallow_http = true'))
    git(team.victim, "pull", "-q")
    creds = {"AWS_ACCESS_KEY_ID": "AKIAVICTIM", "AWS_SECRET_ACCESS_KEY": "victim-secret",
             "AWS_EC2_METADATA_DISABLED": "true"}
    for argv in (["fetch", "-r", "cloud"], ["push", "-r", "cloud"], ["pull", "-r", "cloud"]):
        one_line_refusal(run_folio(team.victim, *argv, env=creds), "remote cloud", url, evil,
                         "folio accept remotes.cloud")
    assert listener.connections == 0, "a signed request went to the attacker's endpoint"
    run_folio(team.victim, "accept", "remotes.cloud", check=True)
    run_folio(team.victim, "push", "-r", "cloud", env=creds)  # fails: it is no S3 server
    assert listener.connections > 0, "accepted, the endpoint is used (so the test can see it)"


def test_a_local_remote_replaces_the_committed_one_whole(team: Team, listener: Listener) -> None:
    """A committed endpoint must not leak into a remote the user defined locally."""
    run_folio(team.victim, "remote", "add", "cloud", "s3://my-bucket/p", "--local", check=True)
    team.attack(hostile_config(team) + '\n[remotes.cloud]\nurl = "s3://my-bucket/p"\n'
                f'endpoint = "http://127.0.0.1:{listener.port}"\nallow_http = true\n')
    git(team.victim, "pull", "-q")
    [cloud] = [s for s in Repo(team.victim).remotes() if s.name == "cloud"]
    assert cloud.local and cloud.accepted and cloud.options == {}


# -- hooks ------------------------------------------------------------------------------------
def test_hooks_warn_and_git_goes_on(team: Team) -> None:
    run_folio(team.victim, "install-hooks", check=True)
    text = hostile_config(team, store=str(team.evil))
    team.attack(text.replace(str(team.remote), str(team.evil)))
    before = sums(team.evil)
    pulled = git(team.victim, "pull", "-q", check=False)
    assert pulled.returncode == 0, pulled.stderr
    assert "folio accept core.store" in pulled.stderr and "Traceback" not in pulled.stderr
    write(team.victim / "train.py", "print('mine')\n")
    git(team.victim, "add", "train.py")
    committed = git(team.victim, "commit", "-qm", "mine", check=False)
    assert committed.returncode == 0, committed.stderr
    assert "pre-commit" in committed.stderr and "folio accept remotes.team" in committed.stderr
    pushed = git(team.victim, "push", "-q", "origin", "main", check=False)
    assert pushed.returncode == 0, pushed.stderr
    assert "pre-push hook skipped" in pushed.stderr and "folio accept" in pushed.stderr
    assert sums(team.evil) == before, "a hook wrote to the attacker's directory"
    assert Repo(team.victim).pending_settings() != [], "a hook accepted something"


# -- config.local.toml and trust_pickles ------------------------------------------------------
def test_a_tracked_config_local_toml_is_refused(team: Team, tmp_path: Path) -> None:
    team.attack(hostile_config(team), (".folio/config.local.toml",
                                       "[core]\ntrust_pickles = true\n"))
    run_folio(team.victim, "install-hooks", check=True)
    pulled = git(team.victim, "pull", "-q", check=False)
    assert pulled.returncode == 0 and "config.local.toml" in pulled.stderr
    for argv in (["status"], ["pull"], ["accept"], ["remote", "list"]):
        one_line_refusal(run_folio(team.victim, *argv), ".folio/config.local.toml",
                         "tracked by git", str(local_config_path(team.victim)))
    assert "trust_pickles" not in local_config_path(team.victim).read_text()
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(team.bare), str(fresh))  # in HEAD and the index
    one_line_refusal(run_folio(fresh, "status"), "tracked by git")


def test_an_untracked_legacy_config_local_toml_moves_once(team: Team, tmp_path: Path) -> None:
    legacy = team.victim / ".folio/config.local.toml"
    write(legacy, f'[core]\ntrust_pickles = true\nremote = "nas"\n\n'
                  f'[remotes.nas]\nurl = "{tmp_path / "nas"}"\n')
    proc = run_folio(team.victim, "remote", "list", check=True)
    assert "moved your local settings from .folio/config.local.toml" in proc.stderr
    assert not legacy.exists()
    config = local_config(team.victim)
    assert config["core"]["trust_pickles"] is True
    assert config["accepted"]["remotes"]["team"] == {"url": str(team.remote)}  # kept
    assert "* nas" in proc.stdout and "[local]" in proc.stdout
    assert Repo(team.victim).config.trust_pickles
    again = run_folio(team.victim, "status", check=True)
    assert "moved" not in again.stderr
    assert git(team.victim, "status", "--porcelain").stdout == ""


def test_trust_pickles_never_comes_from_a_commit(team: Team) -> None:
    text = hostile_config(team).replace("[core]\n", "[core]\ntrust_pickles = true\n", 1)
    text += f'\n[accepted.core]\nstore = "{team.evil}"\n'  # a committed "acceptance"
    team.attack(text.replace("[core]\n", f'[core]\nstore = "{team.evil}"\n', 1))
    git(team.victim, "pull", "-q")
    repo = Repo(team.victim)
    assert not repo.config.trust_pickles
    assert [p.key for p in repo.pending_settings()] == ["core.store"]
    repo.accept()
    assert not Repo(team.victim).config.trust_pickles, "accept never trusts pickles"


def test_linked_worktrees_share_the_local_config(team: Team, tmp_path: Path) -> None:
    linked = tmp_path / "linked"
    git(team.victim, "worktree", "add", "-q", "-b", "side", str(linked))
    assert (linked / ".git").is_file()
    assert local_config_path(linked) == local_config_path(team.victim)
    assert Repo(linked).pending_settings() == []  # the team remote is accepted in both
