"""Named remotes in ``.folio/config.toml``: add, list, remove, pick the default, open one.

A remote is a table ``[remotes.NAME]`` with ``url`` and the options its scheme takes
(S3: ``endpoint``, ``region``, ``profile``, ``allow_http``; GCS: ``endpoint``,
``allow_http``; Azure: ``account``, ``endpoint``, ``emulator``, ``allow_http``; HTTP:
``allow_http``); never a credential (folio.remote.urls refuses those). The
committed ``config.toml`` is the team's list; the local config ``.git/folio/config.toml``
(``--local``) adds remotes for one clone, or replaces a committed one of the same name.
The default is ``core.remote``, else the only remote.

A committed remote is used (push, pull, fetch, verify against it) only once this clone
has accepted its table, URL and options alike (``folio accept``): fetching sends signed
requests too, so a pull request must not be able to point either direction elsewhere.
Adding a remote with ``folio remote add`` accepts it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from folio.config import REMOTES, Config, load_toml
from folio.errors import ConfigError, NotAcceptedError, RemoteError
from folio.remote.urls import open_backend

if TYPE_CHECKING:
    from folio.remote.base import Backend
    from folio.workspace import Workspace

SECTION = REMOTES
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
DEFAULT_JOBS = 8  # network transfers wait on round trips, not on the two cores


@dataclass
class RemoteSpec:
    """One configured remote, as the merged config describes it."""

    name: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)
    default: bool = False
    local: bool = False  # defined (or replaced) in the local config
    accepted: bool = True  # False: committed and not accepted here (`folio accept`)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "options": self.options,
                "default": self.default, "local": self.local, "accepted": self.accepted}


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise RemoteError(f"invalid remote name {name!r}: use letters, digits, '.', '_' or "
                          "'-' (at most 64, starting with a letter or digit)")
    return name


def _table(raw: dict[str, Any], where: Path) -> dict[str, Any]:
    table = raw.get(SECTION, {})
    if not isinstance(table, dict):
        raise ConfigError(f"[{SECTION}] must be a table of remotes", path=where)
    return table


def _fresh(ws: Workspace) -> Config:
    """The config as on disk now: another process may have added a remote since ``repo``
    was opened (a notebook's long-lived Repo, a test driving the CLI)."""
    return ws.reload_config()


def list_remotes(ws: Workspace) -> list[RemoteSpec]:
    """Every remote, sorted by name, with its default flag."""
    config = _fresh(ws)
    local_names = set(_table(config.local, config.local_path))
    specs = []
    for name, body in sorted(_table(config.raw, config.path).items()):
        where = config.local_path if name in local_names else config.path
        if not isinstance(body, dict) or not isinstance(body.get("url"), str):
            raise ConfigError(f"remote {name!r} needs a url = \"...\" string", path=where)
        options = {k: v for k, v in body.items() if k != "url"}
        specs.append(RemoteSpec(name, body["url"], options, local=name in local_names,
                                accepted=config.remote_refusal(name) is None))
    default = _default_name(ws, specs)
    for spec in specs:
        spec.default = spec.name == default
    return specs


def _default_name(ws: Workspace, specs: list[RemoteSpec]) -> str | None:
    named = ws.config.get("core", "remote")
    if named:
        return str(named)
    return specs[0].name if len(specs) == 1 else None


def default_remote(ws: Workspace) -> str | None:
    """``core.remote``, else the only remote, else None."""
    return _default_name(ws, list_remotes(ws))


def get_remote(ws: Workspace, name: str | None = None) -> RemoteSpec:
    """The remote called ``name``, or the default one; a one-line error says what to do."""
    specs = {s.name: s for s in list_remotes(ws)}
    if name is None:
        if not specs:
            raise RemoteError("no remote configured; add one with `folio remote add NAME URL` "
                              "(s3://bucket/prefix or a directory)")
        name = _default_name(ws, list(specs.values()))
        if name is None:
            raise RemoteError(f"{len(specs)} remotes ({', '.join(specs)}) and no default: pass "
                              "--remote NAME, or set one with `folio remote add NAME URL "
                              "--default`")
        if name not in specs:
            raise ConfigError(f"core.remote names {name!r}, which is not a configured remote "
                              f"(known: {', '.join(specs) or 'none'})", path=ws.config.path)
    elif name not in specs:
        raise RemoteError(f"no remote named {name!r} (known: {', '.join(specs) or 'none'}; "
                          "`folio remote list`)")
    return specs[name]


def open_remote(ws: Workspace, name: str | None = None, *,
                writing: str | None = None) -> tuple[RemoteSpec, Backend]:
    """The remote's spec and a backend for it; relative directory URLs are from the repo root.

    A committed remote this clone has not accepted is refused before any request is made;
    so is ``writing`` (the command, "push" say) to a read-only remote (http).
    """
    spec = get_remote(ws, name)
    refusal = ws.config.remote_refusal(spec.name)
    if refusal is not None:
        raise NotAcceptedError(refusal.refusal(), path=f".folio/{ws.config.path.name}")
    backend = open_backend(spec.url, spec.options, base=ws.root)
    if writing and getattr(backend, "read_only", False):
        raise RemoteError(f"{writing} refused: remote {spec.name!r} is read-only (an http(s) "
                          "remote serves pulls; push and gc go to the store it publishes)",
                          path=backend.describe())
    return spec, backend


def remote_has(ws: Workspace, oids: Iterable[str], remote: str | None = None) -> set[str]:
    """Which of ``oids`` the remote (default: the default remote) holds."""
    from folio.remote import remote_has as held

    _, backend = open_remote(ws, remote)
    return held(backend, oids, cache_dir=cache_dir(ws))


def cache_dir(ws: Workspace) -> Path:
    """Where pack indexes are cached. They are named by their pack's hash and checked on
    every read, so one cache serves every remote."""
    ws.local_dir.mkdir(parents=True, exist_ok=True)  # the cache is written beneath it
    return ws.local_dir / "cache" / "packs"


def remote_cache(ws: Workspace, name: str) -> Path:
    """What this clone learnt of remote ``name`` (push record bodies): a hint to save
    requests, never proof of what the remote holds now (docs/format.md, "Local cache")."""
    ws.local_dir.mkdir(parents=True, exist_ok=True)
    return ws.local_dir / "cache" / f"remote-{name}"


def add_remote(ws: Workspace, name: str, url: str, *, default: bool = False,
               endpoint: str | None = None, region: str | None = None,
               profile: str | None = None, account: str | None = None,
               emulator: bool = False, allow_http: bool = False,
               local: bool = False) -> RemoteSpec:
    """Record a remote (validated as far as possible without the network); which options
    a URL's scheme takes is checked there (folio.remote.urls)."""
    check_name(name)
    if any(s.name == name for s in list_remotes(ws)):
        raise RemoteError(f"remote {name!r} already exists; `folio remote remove {name}` first")
    options: dict[str, Any] = {}
    for key, value in (("endpoint", endpoint), ("region", region), ("profile", profile),
                       ("account", account)):
        if value is not None:
            options[key] = value
    for key, flag in (("emulator", emulator), ("allow_http", allow_http)):
        if flag:
            options[key] = True
    # Validate URL and options as use would, minus the profile lookup: that profile may
    # exist only on the machines that push (CI), not on the one that writes the config.
    s3 = url.lower().startswith("s3://")  # elsewhere `profile` is an unknown option
    open_backend(url, {k: v for k, v in options.items() if k != "profile" or not s3},
                 base=ws.root)
    if profile is not None and not profile.strip():
        raise RemoteError("--profile needs a profile name")
    with ws.lock.hold("folio remote add"):
        ws.config.update([SECTION, name], {"url": url, **options}, local=local)
        if default:
            ws.config.update(["core"], {"remote": name}, local=local)
        if not local:  # the user chose it here: accepted by that act
            ws.config.record_accepted(f"{SECTION}.{name}", ws.config.shared[SECTION][name])
    return get_remote(ws, name)


def remove_remote(ws: Workspace, name: str) -> RemoteSpec:
    """Forget a remote (from both config files, and its acceptance); unset it as default
    where it was."""
    spec = get_remote(ws, check_name(name))
    config = ws.config
    with ws.lock.hold("folio remote remove"):
        for path, local in ((config.path, False), (config.local_path, True)):
            raw = load_toml(path)
            if name in _table(raw, path):
                config.update([SECTION, name], None, local=local)
            core = raw.get("core")
            if isinstance(core, dict) and core.get("remote") == name:
                config.update(["core", "remote"], None, local=local)
            for table in (SECTION, "core"):  # drop tables this left empty
                if load_toml(path).get(table) == {}:
                    config.update([table], None, local=local)
        config.forget_accepted(f"{SECTION}.{name}")
    return spec
