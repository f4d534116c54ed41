"""Fuzzing (hypothesis): the manifest reader, ref names, item names and CLI arguments.

The property is the same everywhere: whatever comes in, what comes out is a result or a
FolioError whose message is one line; at the command line, exit 0, 1 or 2 with at most a
one-line ``folio: error:`` and never a traceback. A coverage-guided variant of the manifest
target (atheris) lives in tests/fuzz/ and is not run by CI.
"""

from __future__ import annotations

import json
import os
import posixpath
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from tests.conftest import write

from folio import manifest as mf
from folio.errors import FolioError, InvalidNameError, ItemNameError, ManifestError
from folio.git.names import validate_ref_component
from folio.manifest import Entry, Manifest
from folio.objects.store import is_oid
from folio.paths import validate_item_name, validate_relpath
from folio.repo import Repo
from folio.revisions import parse_tree

SHA = "ab" * 32
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)
entry_keys = st.sampled_from(["path", "size", "sha256", "type", "stored", "link", "uri",
                              "meta", "exec", "folio", "kind", "target", "shard", "files"])


def one_line(error: FolioError) -> None:
    text = str(error)
    assert "\n" not in text and text.strip(), repr(text)


def check_parsed(manifest: Manifest) -> None:
    """What the reader accepts is safe to act on, and reads back the same."""
    for path, entry in manifest.entries.items():
        validate_relpath(path)
        assert entry.path == path
        assert entry.link is not None or is_oid(entry.sha256)
    files = mf.dump(manifest)
    main = mf.manifest_relpath(manifest.target)
    assert mf.parse(files[main], main, files.__getitem__, manifest.target) == manifest


def parse_or_error(data: bytes, shards: dict[str, bytes] | None = None,
                   target: str = "data") -> None:
    try:
        manifest = mf.parse(data, "data.folio", (shards or {}).__getitem__, target)
    except FolioError as exc:
        assert isinstance(exc, ManifestError), type(exc)
        assert exc.path is not None  # the error names the file (and, where known, the line)
        one_line(exc)
        return
    check_parsed(manifest)


def valid_manifest(n: int = 4) -> bytes:
    m = Manifest("data", "dir")
    for i in range(n):
        m.entries[f"f{i}.csv"] = Entry(f"f{i}.csv", i, SHA, "json", meta={"rows": i})
    m.entries["link"] = Entry("link", link="f0.csv")
    return mf.dump(m)["data.folio"]


# -- the manifest reader --------------------------------------------------------------------------
@FUZZ
@given(st.binary(max_size=600))
@example(b'{"folio":1,"kind":"dir","target":"data"}\n{"path":"a","meta":'
         + b"[" * 50_000 + b"]" * 50_000 + b"}\n")
@example(b'{"folio":1,"kind":"dir","target":"data"}\n{"path":"a","sha256":"' + b"a" * 64
         + b'","size":1e400}\n')
def test_random_bytes(data: bytes) -> None:
    parse_or_error(data)


@FUZZ
@given(st.data())
def test_mutated_bytes(draw: st.DataObject) -> None:
    data = bytearray(valid_manifest())
    for _ in range(draw.draw(st.integers(1, 4))):
        op = draw.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = draw.draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw.draw(st.integers(0, 7))
        elif op == "insert":
            data[pos:pos] = draw.draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos:pos + draw.draw(st.integers(1, 8))]
        else:
            del data[pos:]
    parse_or_error(bytes(data))


@FUZZ
@given(st.lists(st.dictionaries(entry_keys, json_values, max_size=6), max_size=5),
       st.lists(st.integers(0, 6), max_size=4))
def test_mutated_json(lines: list[dict[str, Any]], shuffle: list[int]) -> None:
    """Valid lines with any field set to any JSON value, lines repeated and reordered."""
    base = [json.loads(line) for line in valid_manifest().splitlines()]
    body = base[1:] + [{**base[1 + i % (len(base) - 1)], **patch} for i, patch in
                       enumerate(lines)]
    for i in shuffle:
        body.append(body[i % len(body)])
    data = b"".join(json.dumps(o).encode() + b"\n" for o in [base[0], *body])
    parse_or_error(data)


@FUZZ
@given(st.dictionaries(st.sampled_from(["folio", "kind", "target", "sharded", "shard"]),
                       json_values, max_size=5),
       st.lists(st.dictionaries(entry_keys, json_values, max_size=4), max_size=3),
       st.dictionaries(st.text(string.hexdigits.lower(), min_size=16, max_size=16),
                       st.binary(max_size=200), max_size=2))
def test_mutated_headers_and_shards(header: dict[str, Any], refs: list[dict[str, Any]],
                                    shards: dict[str, bytes]) -> None:
    head = {"folio": 1, "kind": "dir", "target": "data", "sharded": True, **header}
    lines = [head, *refs, *({"shard": name, "files": 1} for name in shards)]
    data = b"".join(json.dumps(o).encode() + b"\n" for o in lines)
    files = {f"data.folio.d/{name}.folio": body for name, body in shards.items()}
    parse_or_error(data, files)


@FUZZ
@given(st.dictionaries(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1,
                               max_size=30), st.binary(max_size=200), max_size=4))
def test_snapshot_trees_of_any_shape(files: dict[str, bytes]) -> None:
    """A commit's tree is anyone's: parse_tree takes it or says which file is wrong."""
    try:
        manifests = parse_tree(files, "rev:")
    except FolioError as exc:
        one_line(exc)
        return
    for target in manifests:
        assert target.split("/")[0].lower() not in (".git", ".folio")


@FUZZ
@given(st.binary(max_size=400) | st.builds(
    lambda lines: b"".join(json.dumps(o).encode() + b"\n" for o in lines),
    st.lists(st.dictionaries(entry_keys, json_values, max_size=6), max_size=4)))
@example(b'{"path": "a", "size": Infinity}\n')
@example(b'{"path": "a", "size": [1], "bytes": {}}\n')
def test_textconv_renders_anything(tmp_path_factory: pytest.TempPathFactory,
                                   data: bytes) -> None:
    """`git diff` runs `folio textconv` on whatever a commit holds."""
    from folio.textconv import render

    path = tmp_path_factory.getbasetemp() / "textconv.folio"
    path.write_bytes(data)
    try:
        render(path)
    except FolioError as exc:
        one_line(exc)


# -- names ---------------------------------------------------------------------------------------
any_text = st.text(st.characters(), max_size=40) | st.lists(
    st.sampled_from([*"./-_@{}~^:?*[\\ \t\n\x00\x7f", "..", "lock", ".lock", "a", ".git",
                     ".GIT", "\udcff"]),
    max_size=12).map("".join)


@FUZZ
@given(any_text)
def test_ref_names(name: str) -> None:
    """A tag folio accepts is one git accepts, and nothing but InvalidNameError comes out."""
    import pygit2

    try:
        validate_ref_component(name, "tag")
    except InvalidNameError as exc:
        one_line(exc)
        return
    assert pygit2.reference_is_valid_name("refs/folio/snapshots/" + name), name


@FUZZ
@given(any_text)
def test_item_names(name: str) -> None:
    """An accepted item name stays inside its bundle, whatever it spells."""
    try:
        validate_item_name(name)
    except ItemNameError as exc:
        one_line(exc)
        return
    joined = posixpath.normpath(posixpath.join("bundle", name))
    assert joined.startswith("bundle/") and "\\" not in name and "\x00" not in name
    assert ".git" not in [p.lower() for p in name.split("/")]


# -- the command line ------------------------------------------------------------------------------
COMMANDS = ["add", "status", "ls", "snapshot", "tags", "log", "show", "checkout", "diff",
            "recover", "untrack", "gc", "verify", "push", "pull", "fetch", "remote",
            "textconv", "describe", "runs", "import", "capture", "check", "bogus"]
TOKENS = ["--json", "--force", "-f", "--link", "copy", "symlink", "--", "-m", "msg", "v1",
          "data", "data/a.csv", "nope", "--dry-run", "--grace", "0", "1d", "-j", "0", "999",
          "--exit-code", "--stat", "--delete", "--remote", "r", "list", "add", "remove",
          "HEAD", "HEAD~9", "run:x", "..", "../x", "/etc", ".git", ".folio/objects", "*",
          "a..b", "@{1}", "--no-copy", "-", "--to", "--sha", "zz", "\udcff\udcfe", "é",
          "x" * 300, "--help"]
argv_lists = st.lists(st.sampled_from(TOKENS) | st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12),
    max_size=5)


@pytest.fixture(scope="module")
def cli_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli") / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    repo = Repo.init(root)
    write(root / "data/a.csv", "a,b\n1,2\n")
    repo.add(["data"], cwd=root)
    repo.snapshot("v1")
    return root


def invoke(root: Path, argv: list[str]) -> None:
    from folio.cli import main

    old = os.getcwd()
    os.chdir(root)
    try:
        result = CliRunner().invoke(main, argv, catch_exceptions=True)
    finally:
        os.chdir(old)
    shown = f"folio {argv!r}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{shown} raised {result.exception!r}") from result.exception
    assert result.exit_code in (0, 1, 2), f"{shown}: exit {result.exit_code}"
    if result.exit_code == 1:
        errors = [ln for ln in result.stderr.splitlines() if ln.startswith("folio: error:")]
        assert len(errors) <= 1 and "Traceback" not in result.stderr, result.stderr


@FUZZ
@given(st.sampled_from(COMMANDS), argv_lists)
def test_cli_arguments(cli_repo: Path, command: str, args: list[str]) -> None:
    assume("--help" not in args or command == "bogus")  # help is fine and slow-ish
    invoke(cli_repo, [command, *args])


@pytest.mark.parametrize("argv", [
    ["add", b"\xff\xfe.csv"], ["checkout", b"v\xff"], ["snapshot", b"\xc3("],
    ["status", "data/\u202e"], ["show", "a" * 5000], ["diff", "--", b"\x80"],
    ["remote", "add", b"\xff", "x"], ["tags", "--delete", "v1/../v1"],
])
def test_real_processes_never_print_a_traceback(cli_repo: Path,
                                                argv: list[str | bytes]) -> None:
    """Bytes that are not UTF-8 reach a real process as surrogate escapes."""
    raw = [a if isinstance(a, bytes) else a.encode() for a in argv]
    proc = subprocess.run([sys.executable, "-m", "folio.cli", *raw], cwd=cli_repo,
                          capture_output=True)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode in (0, 1, 2) and "Traceback" not in err, err
    if proc.returncode == 1:
        assert err.startswith("folio: error:") and err.count("\n") == 1, err
