"""Settings: ``.folio/config.toml`` (committed, the team's) and the local config
``.git/folio/config.toml`` (this clone's own, in git's directory, where no commit can write).

The local file overrides the committed one key by key (a remote it defines replaces the
committed remote of that name whole). What decides trust or where bytes go is read with
suspicion (docs/concepts.md, "Configuration and trust"):

- ``trust_pickles`` only from the local file;
- ``core.store``, a risky ``core.link`` (hardlink, symlink) and each remote (its URL and
  options) from the committed file take effect only once this clone has accepted that exact
  value (``folio accept``), recorded in the local file's ``[accepted]`` table.

A ``.folio/config.local.toml`` (where local settings used to live) that git tracks is
refused; an untracked one is the user's own and is moved into the local file once.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from folio._fs import atomic_write
from folio.errors import ConfigError, NotAcceptedError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_TEXT = """\
# folio configuration (committed to git: never put secrets here).
[core]
# How checkout puts files in place: auto (reflink where possible, else copy), copy,
# reflink, hardlink or symlink. hardlink and symlink take effect in a clone only once it
# has accepted them (`folio accept`): this file comes with pull requests.
link = "auto"
# Seconds a second writer waits for the repository lock before giving up.
lock_timeout = 60
# `trust_pickles = true` (load pickles and full models without allow_pickle=True) is read
# from the local config (.git/folio/config.toml) only, for the same reason.

[capture]
# Outputs that `folio capture` (and the pre-commit hook) track, e.g. ["results/", "plots/*.png"].
outputs = []
"""

LINK_MODES = ("auto", "copy", "reflink", "hardlink", "symlink")
RISKY_LINKS = ("hardlink", "symlink")  # a checked-out file shares the store's bytes
DEFAULT_LINK = "auto"
LEGACY_LOCAL = "config.local.toml"
ACCEPTED = "accepted"
REMOTES = "remotes"


def local_config_path(root: Path) -> Path:
    """``<git common dir>/folio/config.toml``: shared by linked worktrees, never committed."""
    from folio.layout import local_dir

    return local_dir(root) / "config.toml"


def _parse(data: bytes, path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"invalid TOML: {exc}", path=path) from None


def load_toml(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    return _parse(data, path)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _table(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    node: Any = data
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def _show(value: Any) -> str:
    if isinstance(value, dict):
        url = value.get("url")
        options = ", ".join(f"{k}={v}" for k, v in sorted(value.items()) if k != "url")
        return f"{url}" + (f" ({options})" if options else "")
    return f"{value!r}".replace("'", '"')


# -- the legacy .folio/config.local.toml --------------------------------------------------------
def _read_nofollow(path: Path) -> bytes:
    """The bytes of ``path``, refusing a link at it or at ``.folio`` (docs/format.md 2.6:
    folio follows no link below .folio/)."""
    from folio._fs import read_beneath

    return read_beneath(path.parent.parent, path)


def check_legacy_local(root: Path, folio_dir: Path, local_path: Path) -> None:
    """Refuse a tracked ``.folio/config.local.toml``; move an untracked one into the local
    config once (its keys lose to keys already there, which are newer), then delete it."""
    legacy = folio_dir / LEGACY_LOCAL
    if not os.path.lexists(legacy):
        return
    from folio.git.plumbing import is_tracked

    shown = legacy.relative_to(root).as_posix()
    if is_tracked(root, shown):
        raise ConfigError(
            f"is tracked by git, so a commit can write it: folio no longer reads local "
            f"settings from the work tree; they live in {local_path} (run `git rm {shown}`, "
            "commit, and set them there)", path=shown)
    try:
        old = _parse(_read_nofollow(legacy), legacy)
    except FileNotFoundError:  # another process migrated it just now
        return
    local_path.parent.mkdir(parents=True, exist_ok=True)
    import tomli_w

    atomic_write(local_path, tomli_w.dumps(_merge(old, load_toml(local_path))).encode("utf-8"))
    with contextlib.suppress(FileNotFoundError):  # another process migrated it just now
        os.unlink(legacy)
    notice(f"folio: moved your local settings from {shown} to {local_path}, where no commit "
            "can write them")


def notice(line: str) -> None:
    """One line on stderr, through logging: the library knows nothing of click, and with no
    logging set up Python prints a warning's bare message."""
    import logging

    logging.getLogger("folio").warning(line)


# -- what needs accepting -----------------------------------------------------------------------
@dataclass(frozen=True)
class PendingSetting:
    """A setting the committed config asks for that this clone has not accepted (yet)."""

    key: str  # "core.store", "core.link" or "remotes.NAME"
    value: Any  # what the committed file says (a remote: its whole table)
    accepted: Any = None  # what this clone accepted before, if anything

    def describe(self) -> str:
        if self.key.startswith(REMOTES + "."):
            return f"remote {self.key.split('.', 1)[1]} -> {_show(self.value)}"
        return f"{self.key} = {_show(self.value)}"

    def refusal(self) -> str:
        """The one-line refusal, naming the key, the value and the accepting command."""
        before = (f" (this clone accepted {_show(self.accepted)})"
                  if self.accepted is not None else "")
        return (f"{self.describe()} comes from the committed config and is not accepted in "
                f"this clone{before}; run `folio accept {self.key}` to use it")

    def previous(self) -> str | None:
        """What this clone accepted before, as shown to the user (None: never accepted)."""
        return None if self.accepted is None else _show(self.accepted)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "previous": self.accepted}


def select_pending(pending: list[PendingSetting], keys: Iterable[str] | None
                   ) -> list[PendingSetting]:
    """The pending settings named by ``keys`` (all for None); a key not pending is an error."""
    if keys is None:
        return pending
    wanted = list(dict.fromkeys(keys))
    known = {p.key for p in pending}
    unknown = [k for k in wanted if k not in known]
    if unknown:
        raise ConfigError(f"nothing to accept for {', '.join(unknown)} (pending: "
                          f"{', '.join(sorted(known)) or 'none'}; `folio accept --dry-run` "
                          "lists them)")
    return [p for p in pending if p.key in wanted]


_warned: set[tuple[str, str]] = set()  # (local config, link mode): say it once per process


@dataclass
class Config:
    """Settings read from both files; ``raw`` keeps everything for later features."""

    path: Path
    local_path: Path
    shared: dict[str, Any] = field(default_factory=dict)
    local: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.raw = self._merged()

    @classmethod
    def load(cls, folio_dir: Path, local_path: Path | None = None) -> Config:
        root = folio_dir.parent
        local_path = local_path or local_config_path(root)
        check_legacy_local(root, folio_dir, local_path)
        shared = folio_dir / "config.toml"
        return cls(shared, local_path, load_toml(shared), load_toml(local_path))

    def _merged(self) -> dict[str, Any]:
        shared = {k: v for k, v in self.shared.items() if k != ACCEPTED}  # never from a commit
        out = _merge(shared, {k: v for k, v in self.local.items() if k != REMOTES})
        ours, theirs = self.local.get(REMOTES), out.get(REMOTES)
        if isinstance(ours, dict) and isinstance(theirs, dict):
            out[REMOTES] = {**theirs, **ours}  # a local remote replaces, never merges
        elif ours is not None:
            out[REMOTES] = ours  # (a malformed table is reported where remotes are listed)
        return out

    def get(self, section: str, key: str, default: Any = None) -> Any:
        value = self.raw.get(section, {})
        return value.get(key, default) if isinstance(value, dict) else default

    @property
    def link_mode(self) -> str:
        """``core.link``; a committed hardlink or symlink not accepted here falls back to the
        default (said once on stderr): such a checkout shares its bytes with the store."""
        mode = self.get("core", "link", DEFAULT_LINK)
        if mode not in LINK_MODES:
            raise ConfigError(f"core.link must be one of {', '.join(LINK_MODES)}, not {mode!r}",
                              path=self.path)
        pending = self._pending_core("link")
        if pending is not None:
            if (str(self.local_path), str(mode)) not in _warned:
                _warned.add((str(self.local_path), str(mode)))
                notice(f"folio: warning: {pending.refusal()}; using link = "
                        f"\"{DEFAULT_LINK}\" until then")
            return DEFAULT_LINK
        return str(mode)

    @property
    def lock_timeout(self) -> float:
        value = self.get("core", "lock_timeout", 60)
        if not isinstance(value, (int, float)) or value < 0:
            raise ConfigError("core.lock_timeout must be a non-negative number", path=self.path)
        return float(value)

    @property
    def trust_pickles(self) -> bool:
        """Read from the local config only: the committed file arrives with other people's
        pull requests, and trusting pickles lets their author run code here."""
        return _table(self.local, "core").get("trust_pickles", False) is True

    @property
    def store_path(self) -> str | None:
        """``core.store``; a committed one must be accepted first (NotAcceptedError)."""
        value = self.get("core", "store")
        pending = self._pending_core("store")
        if pending is not None:
            raise NotAcceptedError(pending.refusal(), path=self._shown_path())
        return str(value) if value else None

    @property
    def capture_outputs(self) -> list[str]:
        value = self.get("capture", "outputs", [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError("capture.outputs must be a list of strings", path=self.path)
        return value

    @property
    def chunk_threshold(self) -> int:
        """``core.chunk_threshold``: files of at least this many bytes are stored chunked
        (docs/concepts.md); ``0`` or ``"off"`` never chunks. Below 64 KiB (FastCDC's chunks
        average 80 KiB) is refused."""
        from folio.objects.chunks import DEFAULT_THRESHOLD, MIN_THRESHOLD
        from folio.units import parse_size

        value = self.get("core", "chunk_threshold", DEFAULT_THRESHOLD)
        if isinstance(value, str) and value.strip().lower() == "off":
            return 0
        try:
            size = parse_size(value)
        except ValueError as exc:
            raise ConfigError(f"core.chunk_threshold: {exc}", path=self.path) from None
        if 0 < size < MIN_THRESHOLD:
            raise ConfigError(f"core.chunk_threshold must be 0, \"off\" or at least 64KiB, "
                              f"not {value!r}", path=self.path)
        return size

    @property
    def summaries(self) -> bool:
        """``add.summaries``: record table and array summaries in manifest entries
        (docs/format.md 4.3); on unless set to false."""
        value = self.get("add", "summaries", True)
        if not isinstance(value, bool):
            raise ConfigError("add.summaries must be true or false", path=self.path)
        return value

    # -- acceptance -----------------------------------------------------------------------------
    def _shown_path(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"

    def _accepted(self, key: str) -> Any:
        section, name = key.split(".", 1)
        return _table(self.local, ACCEPTED, section).get(name)

    def _asks(self) -> list[tuple[str, Any]]:
        """Guarded values that come from the committed file (the local one does not set them)."""
        asks: list[tuple[str, Any]] = []
        shared_core, local_core = _table(self.shared, "core"), _table(self.local, "core")
        if shared_core.get("store") and "store" not in local_core:
            asks.append(("core.store", shared_core["store"]))
        if shared_core.get("link") in RISKY_LINKS and "link" not in local_core:
            asks.append(("core.link", shared_core["link"]))
        local_remotes = _table(self.local, REMOTES)
        for name, body in sorted(_table(self.shared, REMOTES).items()):
            if name not in local_remotes:
                asks.append((f"{REMOTES}.{name}", body))
        return asks

    def pending(self) -> list[PendingSetting]:
        """Every guarded committed value that differs from what this clone accepted."""
        return [PendingSetting(key, value, self._accepted(key)) for key, value in self._asks()
                if self._accepted(key) != value]

    def _pending_core(self, key: str) -> PendingSetting | None:
        return next((p for p in self.pending() if p.key == f"core.{key}"), None)

    def remote_refusal(self, name: str) -> PendingSetting | None:
        """Why remote ``name`` may not be used yet, or None when it may."""
        return next((p for p in self.pending() if p.key == f"{REMOTES}.{name}"), None)

    def accept(self, keys: Iterable[str] | None = None) -> list[PendingSetting]:
        """Record the pending values (all, or those named) as accepted in the local config."""
        pending = select_pending(self.pending(), keys)
        for p in pending:
            self.record_accepted(p.key, p.value)
        return pending

    def record_accepted(self, key: str, value: Any) -> None:
        """Accept ``value`` for ``key``: what the user sets through folio is accepted by
        that act (``folio remote add``)."""
        section, name = key.split(".", 1)
        self.update([ACCEPTED, section], {name: value}, local=True)

    def forget_accepted(self, key: str) -> None:
        section, name = key.split(".", 1)
        if name in _table(self.local, ACCEPTED, section):
            self.update([ACCEPTED, section, name], None, local=True)

    def update(self, section_path: list[str], values: dict[str, Any] | None,
               *, local: bool = False) -> None:
        """Set (or with ``values=None`` remove) a table, rewriting one file atomically.

        Comments in the rewritten file are not kept: keep notes in docs, not in config.
        """
        import tomli_w

        path = self.local_path if local else self.path
        data = load_toml(path)
        node = data
        for part in section_path[:-1]:
            node = node.setdefault(part, {})
        if values is None:
            node.pop(section_path[-1], None)
        else:
            node.setdefault(section_path[-1], {}).update(values)
        if local:
            path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, tomli_w.dumps(data).encode("utf-8"))
        self.shared, self.local = load_toml(self.path), load_toml(self.local_path)
        self.raw = self._merged()
