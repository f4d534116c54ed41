"""The contestants (folio and its peers DVC and Git LFS): how to install, init and drive each.

Every contestant answers the same questions (init a repo, add `data`, status, record a
version, check one out) with the command line a user would type, so each step times exactly
what a user waits for. Peers are installed on first use: DVC into its own virtualenv so its
dependencies never meet folio's, git-lfs from Debian.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar

from measure import ERROR, NA, SKIPPED, run_checked

HERE = Path(__file__).resolve().parent
REPO_SRC = HERE.parent / "src"
VENV = HERE / ".venv"


def _version(cmd: list[str], env: Mapping[str, str]) -> str:
    try:
        proc = subprocess.run(cmd, env=dict(env), capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    text = (proc.stdout or proc.stderr).strip().splitlines()
    return text[0] if proc.returncode == 0 and text else "unknown"


class Contestant:
    """A tool under test. `unavailable` holds the reason when it cannot run at all."""

    name = "?"

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env: dict[str, str] = dict(env)
        self.unavailable: str | None = None

    def version(self) -> str:
        """Version string for the machine-facts section."""
        raise NotImplementedError

    def init(self, repo: Path) -> None:
        """Untimed: make a fresh git repo ready for this tool (its own `init`)."""
        raise NotImplementedError

    def add_cmd(self) -> list[str]:
        """Track (hash and store) the `data` directory."""
        raise NotImplementedError

    def status_cmd(self) -> list[str]:
        """Report changes of the tracked data against what was stored."""
        raise NotImplementedError

    def snapshot_cmd(self, tag: str) -> list[str]:
        """Record the current data as an immutable, named version."""
        raise NotImplementedError

    def checkout_cmd(self, tag: str) -> list[str]:
        """Make the working data match version `tag`."""
        raise NotImplementedError

    def missing(self, op: str) -> tuple[str, str] | None:
        """(status, reason) when operation `op` cannot be measured for this tool, else None."""
        return (SKIPPED, self.unavailable) if self.unavailable else None

    def run(self, cmd: list[str], repo: Path) -> str:
        """Run an untimed command in `repo` with this tool's environment."""
        return run_checked(cmd, repo, self.env)


def _bash(*commands: list[str]) -> list[str]:
    """One timed step made of several commands (`a && b`), run by bash."""
    return ["bash", "-c", " && ".join(shlex.join(c) for c in commands)]


class Folio(Contestant):
    """The folio under test: `--folio CMD`, else `folio` on PATH, else `python -m folio.cli`."""

    name = "folio"
    _OPS: ClassVar[dict[str, str]] = {
        "add": "add",
        "status": "status",
        "snapshot": "snapshot",
        "checkout": "checkout",
    }

    def __init__(self, env: Mapping[str, str], override: str | None = None) -> None:
        super().__init__(env)
        if override:
            self.base = shlex.split(override)
            self.origin = f"--folio {override}"
        elif importlib.util.find_spec("folio") is not None:
            # this interpreter, not a `folio` on PATH: a pyenv shim there costs ~70 ms a call
            self.base = [sys.executable, "-m", "folio.cli"]
            self.origin = f"{sys.executable} -m folio.cli"
        elif shutil.which("folio"):
            self.base = [str(shutil.which("folio"))]
            self.origin = f"{self.base[0]} (on PATH)"
        else:
            self.base = [sys.executable, "-m", "folio.cli"]
            path = self.env.get("PYTHONPATH")
            self.env["PYTHONPATH"] = f"{REPO_SRC}{os.pathsep}{path}" if path else str(REPO_SRC)
            self.origin = f"{sys.executable} -m folio.cli (PYTHONPATH={REPO_SRC})"
        self._help: dict[str, str | None] = {}
        self.unavailable = self._probe([])
        if self.unavailable:
            self.unavailable = f"folio CLI not runnable: {self.unavailable}"

    def _probe(self, args: list[str]) -> str | None:
        try:
            proc = subprocess.run(
                [*self.base, *args, "--help"], env=self.env, capture_output=True, timeout=120
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return str(exc)
        if proc.returncode == 0:
            return None
        lines = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip().splitlines()
        return f"exit {proc.returncode}: {lines[-1][-300:] if lines else ''}"

    def missing(self, op: str) -> tuple[str, str] | None:
        """An unrunnable CLI is an error for every op; a missing subcommand is 'n/a'."""
        if self.unavailable:
            return ERROR, self.unavailable
        sub = self._OPS[op]
        if sub not in self._help:
            self._help[sub] = self._probe([sub])
        reason = self._help[sub]
        return (NA, f"no `folio {sub}` command yet ({reason})") if reason else None

    def version(self) -> str:
        """`folio --version` when the CLI offers it, else where it was loaded from."""
        ver = _version([*self.base, "--version"], self.env)
        return f"{ver} via {self.origin}"

    def cmd(self, *args: str) -> list[str]:
        """A folio command line."""
        return [*self.base, *args]

    def init(self, repo: Path) -> None:
        """`folio init` (also what a user runs once per repo)."""
        self.run(self.cmd("init"), repo)

    def add_cmd(self) -> list[str]:
        """`folio add data`."""
        return self.cmd("add", "data")

    def status_cmd(self) -> list[str]:
        """`folio status`."""
        return self.cmd("status")

    def snapshot_cmd(self, tag: str) -> list[str]:
        """`folio snapshot TAG -m TAG`."""
        return self.cmd("snapshot", tag, "-m", tag)

    def checkout_cmd(self, tag: str) -> list[str]:
        """`folio checkout TAG`."""
        return self.cmd("checkout", tag)


def ensure_dvc(log: Callable[[str], None], logfile: Path) -> tuple[Path | None, str]:
    """Install DVC into benchmarks/.venv on first use; return (dvc path, note or reason).

    pip's chatter goes to `logfile`, so the progress stream stays readable.
    """
    dvc = VENV / "bin" / "dvc"
    if not dvc.exists():
        log(f"installing dvc + dvc-s3 into {VENV} (first use; pip log: {logfile})")
        pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
        try:
            with logfile.open("ab") as out:
                for cmd in (
                    ["python3", "-m", "venv", str(VENV)],
                    [*pip, "--upgrade", "pip"],
                    [*pip, "dvc", "dvc-s3"],
                ):
                    subprocess.run(cmd, check=True, stdout=out, stderr=subprocess.STDOUT)
        except (OSError, subprocess.CalledProcessError) as exc:
            return None, f"could not install dvc ({exc}); see {logfile}"
    if not dvc.exists():
        return None, "dvc missing from the venv after install"
    return dvc, "ok"


def ensure_git_lfs(log: Callable[[str], None]) -> str | None:
    """Make `git lfs` available (Debian's git-lfs); return the reason when it cannot be had."""
    if subprocess.run(["git", "lfs", "version"], capture_output=True).returncode == 0:
        return None
    if not shutil.which("apt-get") or os.geteuid() != 0:
        return "git-lfs not installed and apt-get unusable (not root)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "git-lfs"]
    log("installing git-lfs with apt-get")
    for attempt in ([install], [["apt-get", "update", "-q"], install]):
        ok = all(subprocess.run(c, env=env, capture_output=True).returncode == 0 for c in attempt)
        if ok and subprocess.run(["git", "lfs", "version"], capture_output=True).returncode == 0:
            return None
    return "git-lfs could not be installed with apt-get"


class Dvc(Contestant):
    """DVC from benchmarks/.venv; a version is `dvc add` + `git commit` + `git tag`."""

    name = "dvc"

    def __init__(self, env: Mapping[str, str], dvc: Path | None, reason: str) -> None:
        super().__init__(env)
        self.dvc = str(dvc) if dvc else "dvc"
        self.unavailable = None if dvc else reason
        # No analytics or update checks: there is no network here, and a stalled request
        # would be timed as DVC's own work.
        self.env["DVC_NO_ANALYTICS"] = "1"

    def version(self) -> str:
        """`dvc --version`."""
        return "not installed" if self.unavailable else _version([self.dvc, "--version"], self.env)

    def init(self, repo: Path) -> None:
        """`dvc init` with analytics and update checks off, committed like a user would.

        DVC keeps per-repo indexes in a site cache keyed by the repo's path; repeats reuse
        the path, so that cache is emptied to make every new repo truly fresh.
        """
        site = self.env.get("DVC_SITE_CACHE_DIR")
        if site:
            shutil.rmtree(site, ignore_errors=True)
        self.run([self.dvc, "init", "-q"], repo)
        self.run([self.dvc, "config", "core.analytics", "false"], repo)
        self.run([self.dvc, "config", "core.check_update", "false"], repo)
        self.run(["git", "add", "-A"], repo)
        self.run(["git", "commit", "-q", "-m", "dvc init"], repo)

    def add_cmd(self) -> list[str]:
        """`dvc add data`."""
        return [self.dvc, "add", "data"]

    def status_cmd(self) -> list[str]:
        """`dvc status`."""
        return [self.dvc, "status"]

    def snapshot_cmd(self, tag: str) -> list[str]:
        """`dvc add data && git add data.dvc .gitignore && git commit && git tag`."""
        return _bash(
            [self.dvc, "add", "-q", "data"],
            ["git", "add", "data.dvc", ".gitignore"],
            ["git", "commit", "-q", "--allow-empty", "-m", tag],
            ["git", "tag", tag],
        )

    def checkout_cmd(self, tag: str) -> list[str]:
        """`git checkout TAG && dvc checkout`."""
        return _bash(["git", "checkout", "-q", tag], [self.dvc, "checkout"])


class GitLfs(Contestant):
    """Git LFS tracking `data/**`: add is `git add data` (the clean filter hashes and stores)."""

    name = "git-lfs"

    def __init__(self, env: Mapping[str, str], reason: str | None) -> None:
        super().__init__(env)
        self.unavailable = reason

    def version(self) -> str:
        """`git lfs version`."""
        if self.unavailable:
            return "not installed"
        return _version(["git", "lfs", "version"], self.env)

    def init(self, repo: Path) -> None:
        """`git lfs install --local` (never the global config) and track everything in data/."""
        self.run(["git", "lfs", "install", "--local"], repo)
        self.run(["git", "lfs", "track", "data/**"], repo)
        self.run(["git", "add", ".gitattributes"], repo)
        self.run(["git", "commit", "-q", "-m", "lfs init"], repo)

    def add_cmd(self) -> list[str]:
        """`git add data`."""
        return ["git", "add", "data"]

    def status_cmd(self) -> list[str]:
        """`git status`."""
        return ["git", "status"]

    def snapshot_cmd(self, tag: str) -> list[str]:
        """`git add data && git commit && git tag`."""
        return _bash(
            ["git", "add", "data"],
            ["git", "commit", "-q", "--allow-empty", "-m", tag],
            ["git", "tag", tag],
        )

    def checkout_cmd(self, tag: str) -> list[str]:
        """`git checkout TAG` (the smudge filter writes the changed files)."""
        return ["git", "checkout", "-q", tag]
