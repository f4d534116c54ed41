"""Items from elsewhere: codecs refuse what could hold pointers or run code, and every reader
failure is one line naming the item.

Reads that could crash the interpreter (an .npy of objects once made numpy read its body
as pointers and segfault) run in a child process: a crash shows as a negative return code
and fails the test, instead of killing pytest. A sentinel file beside the repo is what
code run by a crafted file would write; it must never appear unless the item is trusted.
"""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.conftest import git, run_folio, write

import folio.codecs as codecs
from folio.errors import CodecError, FolioError, UntrustedDataError
from folio.repo import Repo

TARGET = "exp"


# -- crafting ---------------------------------------------------------------------------------

def npy(descr: object, shape: object, body: bytes, *, fortran: object = False,
        version: int = 1) -> bytes:
    """An .npy file with exactly the header given (nothing checked: attackers do not)."""
    text = repr({"descr": descr, "fortran_order": fortran, "shape": shape}).encode("latin-1")
    size = 4 if version > 1 else 2
    pad = (64 - (6 + 2 + size + len(text) + 1) % 64) % 64
    text += b" " * pad + b"\n"
    return b"\x93NUMPY" + bytes([version, 0]) + len(text).to_bytes(size, "little") + text + body


def parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


EXTENSION = "folio.test.evil"  # the name a hostile file uses; the child registers a reader


def extension_type(name: str) -> pa.ExtensionType:
    """An int64 extension type called ``name`` (to register, write with, then unregister)."""

    class Named(pa.ExtensionType):
        def __init__(self) -> None:
            super().__init__(pa.int64(), name)

        def __arrow_ext_serialize__(self) -> bytes:
            return b"payload"

        @classmethod
        def __arrow_ext_deserialize__(cls, storage: Any, serialized: bytes) -> Named:
            return cls()

    return Named()


def extension_parquet() -> bytes:
    """A Parquet file with a column of the extension type EXTENSION (written, then forgotten)."""
    evil = extension_type(EXTENSION)
    pa.register_extension_type(evil)
    try:
        column = pa.ExtensionArray.from_storage(evil, pa.array([1, 2]))
        return parquet(pa.table({"x": column, "y": [3, 4]}))
    finally:
        pa.unregister_extension_type(EXTENSION)


def py_extension_parquet(sentinel: Path) -> bytes:
    """The pickle-based ``arrow.py_extension_type``: its metadata is a pickle that, loaded,
    would create ``sentinel`` (old pyarrow unpickled it while opening the file)."""
    payload = pickle.dumps(Pwn(str(sentinel)))
    metadata = {b"ARROW:extension:name": b"arrow.py_extension_type",
                b"ARROW:extension:metadata": payload}
    field = pa.field("x", pa.binary(), metadata=metadata)
    return parquet(pa.table([pa.array([b"a", b"b"])], schema=pa.schema([field])))


class Pwn:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (Path(self.path), "code ran"))  # type: ignore[return-value]


def foreign_dtype_parquet() -> bytes:
    """pandas metadata asking for the dtype "folio_foreign", which some other library defines."""
    table = pa.Table.from_pandas(pd.DataFrame({"a": [1, 2]}))
    info = table.schema.pandas_metadata
    info["columns"][0]["numpy_type"] = "folio_foreign"
    return parquet(table.replace_schema_metadata({b"pandas": json.dumps(info).encode()}))


def with_stored_schema(data: bytes, schema_value: bytes) -> bytes:
    """``data`` with its footer's ARROW:schema value replaced (same length kept by padding)."""
    old = pq.read_metadata(pa.BufferReader(data)).metadata[b"ARROW:schema"]
    assert len(schema_value) <= len(old)
    return data.replace(old, schema_value.ljust(len(old), b"="))


def plant(root: Path, files: dict[str, bytes]) -> None:
    """Plain files in the bundle, tracked as someone else's commit would have them."""
    repo = Repo(root)
    bundle = repo.folio(TARGET)
    for name, data in files.items():
        write(bundle.path / name, data)
    bundle.track()


# -- the child process ------------------------------------------------------------------------

CHILD = """
import json, sys
from folio.errors import FolioError
from folio.repo import Repo
{setup}
bundle = Repo(sys.argv[1]).folio({target!r})
for name in json.loads(sys.argv[2]):
    try:
        value = bundle.get_data(name, allow_pickle={trusted})
        repr(value)  # look at it, as a caller would: values read as pointers crash here
        result = {{"outcome": "ok", "type": type(value).__name__}}
    except FolioError as exc:
        result = {{"outcome": type(exc).__name__, "message": str(exc)}}
    except BaseException as exc:
        result = {{"outcome": "escaped " + type(exc).__name__, "message": str(exc)}}
    print(json.dumps({{"name": name, **result}}), flush=True)
"""


def read_in_child(root: Path, names: list[str], *, trusted: bool = False,
                  setup: str = "", timeout: float = 300) -> dict[str, dict[str, str]]:
    script = CHILD.format(setup=textwrap.dedent(setup), target=TARGET, trusted=trusted)
    proc = subprocess.run([sys.executable, "-c", script, str(root), json.dumps(names)],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"the reading process died ({proc.returncode}): {proc.stderr}"
    results = {r["name"]: r for r in map(json.loads, proc.stdout.splitlines())}
    assert list(results) == names
    return results


def assert_refused(result: dict[str, str], name: str, kind: str = "CodecError",
                   *words: str) -> None:
    assert result["outcome"] == kind, result
    message = result["message"]
    assert "\n" not in message and f"{TARGET}/{name}" in message, message
    for word in words:
        assert word in message, message


# -- .npy -------------------------------------------------------------------------------------

OBJECT_DTYPES = {
    "object.npy": ("|O", 8),
    "fields.npy": ([("a", "<i4"), ("b", "|O")], 12),
    "subarray.npy": ([("a", "|O", (2,))], 16),
    "nested.npy": ([("outer", [("inner", "|O")])], 8),
    "strings.npy": ("T", 16),  # numpy 2's StringDType keeps pointers into an arena
}


def test_npy_of_objects_is_refused_not_read_as_pointers(repo: Repo, tmp_path: Path) -> None:
    """Bodies of the right size full of 0x41: numpy read them as pointers and segfaulted."""
    plant(repo.root, {name: npy(descr, (4,), b"\x41" * (4 * size))
                      for name, (descr, size) in OBJECT_DTYPES.items()})
    results = read_in_child(repo.root, list(OBJECT_DTYPES))
    for name in OBJECT_DTYPES:
        assert_refused(results[name], name, "UntrustedDataError", "holds Python objects",
                       "allow_pickle=True")
    # trusted, the body is read as numpy writes objects (a pickle), never as raw memory:
    # these bodies are no pickle, so it is an error, not a crash
    trusted = read_in_child(repo.root, list(OBJECT_DTYPES), trusted=True)
    for name in OBJECT_DTYPES:
        assert_refused(trusted[name], name, "CodecError")


def test_trusted_object_npy_loads_as_numpy_saved_it(repo: Repo) -> None:
    array = np.array([{"k": 1}, "text", None], dtype=object)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    plant(repo.root, {"objects.npy": buffer.getvalue()})
    bundle = repo.folio(TARGET)
    with pytest.raises(UntrustedDataError) as refused:
        bundle.get_data("objects.npy")
    assert f"{TARGET}/objects.npy: " in str(refused.value)
    back = bundle.get_data("objects.npy", allow_pickle=True)
    assert back.dtype == object and list(back) == list(array)


CRAFTED_NPY = {
    "short.npy": (npy("<i8", (1000,), b"\x00" * 16), "header says"),
    "huge.npy": (npy("<f8", (10**18,), b"\x00" * 8), "header says"),
    "beyond.npy": (npy("<f8", (10**10, 10**10), b""), "elements"),
    "negative.npy": (npy("<i8", (-1,), b""), "not a tuple of sizes"),
    "not-tuple.npy": (npy("<i8", [2], b"\x00" * 16), "not a tuple of sizes"),
    "fortran.npy": (npy("<i8", (2,), b"\x00" * 16, fortran="yes"), "fortran_order"),
    "descr.npy": (npy("<q9x", (2,), b"\x00" * 16), "header is invalid"),
    "dims.npy": (npy("<i8", (1,) * 65, b"\x00" * 8), "not a tuple of sizes"),
    "truncated.npy": (npy("<i8", (2,), b"\x00" * 16)[:40], "truncated"),
    "v2-cut.npy": (b"\x93NUMPY\x02\x00\x10\x00\x00", "truncated"),
    "not-dict.npy": (b"\x93NUMPY\x01\x00\x06\x00[1, 2]", "not a dict"),
    "eval.npy": (b"\x93NUMPY\x01\x00\x20\x00__import__('os').system('true') ", "unreadable"),
    "magic.npy": (b"PK\x03\x04 zip, not npy", "bad magic"),
}


def test_crafted_npy_headers_are_one_line_errors(repo: Repo) -> None:
    plant(repo.root, {name: data for name, (data, _) in CRAFTED_NPY.items()})
    results = read_in_child(repo.root, list(CRAFTED_NPY))
    for name, (_, words) in CRAFTED_NPY.items():
        assert_refused(results[name], name, "CodecError", words)


def test_a_working_file_read_in_place_of_the_store_is_never_followed(repo: Repo) -> None:
    """Not in the store (not pulled yet): the working file is read only if it is a regular
    file of the recorded size, so a link to /dev/zero or a FIFO neither hangs nor feeds."""
    plant(repo.root, {"zero.npy": npy("<i8", (2,), b"\0" * 16),
                      "fifo.npy": npy("<i8", (2,), b"\1" * 16),
                      "grown.npy": npy("<i8", (2,), b"\2" * 16)})
    bundle = repo.folio(TARGET)
    for entry in repo.read_manifest(TARGET).entries.values():
        repo.store.path(entry.sha256).unlink()
    (bundle.path / "zero.npy").unlink()
    (bundle.path / "zero.npy").symlink_to("/dev/zero")
    (bundle.path / "fifo.npy").unlink()
    os.mkfifo(bundle.path / "fifo.npy")
    with open(bundle.path / "grown.npy", "ab") as grown:
        grown.truncate(1 << 40)  # a sparse terabyte: nothing may be allocated for it
    results = read_in_child(repo.root, ["zero.npy", "fifo.npy", "grown.npy"], timeout=60)
    assert_refused(results["zero.npy"], "zero.npy", "PathError", "symbolic link")
    assert_refused(results["fifo.npy"], "fifo.npy", "PathError", "not a regular file")
    assert_refused(results["grown.npy"], "grown.npy", "MissingObjectError")


def test_a_reference_to_a_device_or_fifo_is_refused(repo: Repo, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.json")
    bundle = repo.folio(TARGET)
    bundle.reference("zero", "/dev/zero")  # what a crafted manifest entry can say as well
    bundle.reference("pipe", str(tmp_path / "pipe.json"))
    results = read_in_child(repo.root, ["zero", "pipe"], timeout=60)
    for name, where in (("zero", "/dev/zero"), ("pipe", str(tmp_path / "pipe.json"))):
        assert results[name]["outcome"] == "PathError", results[name]
        assert results[name]["message"].startswith(
            f"{where}: item {name!r}: the referenced file is not a regular file"), results


# -- Parquet ----------------------------------------------------------------------------------

REGISTER_EVIL = f"""
import pyarrow as pa
from pathlib import Path
SENTINEL = Path({{sentinel!r}})
class Evil(pa.ExtensionType):
    def __init__(self):
        super().__init__(pa.int64(), {EXTENSION!r})
    def __arrow_ext_serialize__(self):
        return b"payload"
    @classmethod
    def __arrow_ext_deserialize__(cls, storage, serialized):
        SENTINEL.write_text("code ran")  # what a hostile deserialiser would do
        return cls()
pa.register_extension_type(Evil())

import pandas as pd
from pandas.api.extensions import ExtensionDtype, register_extension_dtype
@register_extension_dtype
class Foreign(ExtensionDtype):
    name = "folio_foreign"
    type = object
    @classmethod
    def construct_array_type(cls):
        return pd.arrays.IntegerArray
    def __from_arrow__(self, array):
        SENTINEL.write_text("code ran")
        return pd.array(array.to_pylist(), dtype="Int64")
"""


def test_extension_types_and_foreign_dtypes_need_trust(repo: Repo, tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel"
    plant(repo.root, {"ext.parquet": extension_parquet(),
                      "py_ext.parquet": py_extension_parquet(sentinel),
                      "foreign.parquet": foreign_dtype_parquet()})
    names = ["ext.parquet", "py_ext.parquet", "foreign.parquet"]
    setup = REGISTER_EVIL.format(sentinel=str(sentinel))
    results = read_in_child(repo.root, names, setup=setup)
    assert_refused(results["ext.parquet"], "ext.parquet", "UntrustedDataError",
                   f"extension type '{EXTENSION}'", "allow_pickle=True")
    assert_refused(results["py_ext.parquet"], "py_ext.parquet", "UntrustedDataError",
                   "'arrow.py_extension_type'")
    assert_refused(results["foreign.parquet"], "foreign.parquet", "UntrustedDataError",
                   "'folio_foreign'", "__main__")
    assert not sentinel.exists(), "a crafted file ran code without trust"
    # trusted, they load (and the registered readers do run: that is what trust means)
    trusted = read_in_child(repo.root, names, setup=setup, trusted=True)
    assert {r["outcome"] for r in trusted.values()} == {"ok"}, trusted
    assert sentinel.read_text() == "code ran"


def test_plain_tables_from_elsewhere_need_no_trust(repo: Repo) -> None:
    frame = pd.DataFrame({"s": pd.Series(["x", None], dtype=object),
                          "p": pd.period_range("2020", periods=2, freq="M"),
                          "i": pd.interval_range(0, 2), "n": pd.array([1, None], dtype="Int64")})
    tensor = pa.FixedShapeTensorArray.from_numpy_ndarray(np.ones((2, 2, 2)))
    plant(repo.root, {"frame.parquet": parquet(pa.Table.from_pandas(frame)),
                      "tensor.parquet": parquet(pa.table({"t": tensor}))})
    bundle = repo.folio(TARGET)
    pd.testing.assert_frame_equal(bundle.get_data("frame.parquet"), frame)
    assert bundle.get_table("tensor.parquet").shape == (2, 1)


def test_stored_schema_tricks_are_refused(repo: Repo) -> None:
    """A schema value that is not base64; a decoy key that would hide the real schema."""
    plain = parquet(pa.table({"a": [1, 2]}))
    decoy = pa.table({"a": [1]}).replace_schema_metadata(
        {b"FOLIO:sche00": base64.b64encode(b"not a schema")})
    field = pa.field("x", pa.int64(), metadata={b"FOLIO:extension:name": b"arrow.uuid",
                                                 b"ARROW:extension:name": EXTENSION.encode()})
    ext_decoy = pa.table([pa.array([1])], schema=pa.schema([field]))
    plant(repo.root, {"not-base64.parquet": with_stored_schema(plain, b"!!!!"),
                      "decoy.parquet": parquet(decoy), "ext-decoy.parquet": parquet(ext_decoy)})
    bundle = repo.folio(TARGET)
    with pytest.raises(CodecError, match="unreadable Arrow schema") as bad:
        bundle.get_data("not-base64.parquet")
    assert str(bad.value).startswith(f"{TARGET}/not-base64.parquet: ")
    with pytest.raises(UntrustedDataError, match="cannot be told apart"):
        bundle.get_data("decoy.parquet")
    with pytest.raises(UntrustedDataError, match="cannot account for"):
        bundle.get_data("ext-decoy.parquet")


def corrupt(data: bytes) -> dict[str, bytes]:
    footer = int.from_bytes(data[-8:-4], "little")
    flipped = bytearray(data)
    for offset in range(len(data) - 8 - footer, len(data) - 8, 7):
        flipped[offset] ^= 0x5A
    return {
        "truncated.parquet": data[: len(data) // 2],
        "cut-tail.parquet": data[:-3],
        "footer-length.parquet": data[:-8] + (10**9).to_bytes(4, "little") + b"PAR1",
        "footer-flipped.parquet": bytes(flipped),
        "empty.parquet": b"",
        "magic-only.parquet": b"PAR1PAR1",
        "encrypted.parquet": data[:-4] + b"PARE",
    }


def test_corrupt_and_truncated_parquet_are_one_line_errors(repo: Repo) -> None:
    files = corrupt(parquet(pa.table({"a": list(range(100)), "b": ["x"] * 100})))
    plant(repo.root, files)
    results = read_in_child(repo.root, list(files))
    for name in files:
        kind = "UntrustedDataError" if name == "encrypted.parquet" else "CodecError"
        assert_refused(results[name], name, kind)


# -- panics and other errors that are not Exceptions -------------------------------------------

def polars_panic_parquet() -> bytes:
    """One flipped byte in a page of a list column makes polars 2.1's reader panic (found by
    fuzzing); the Int128 column makes folio hand the file to polars (pyarrow lacks it)."""
    frame = pl.DataFrame({"i": pl.Series(list(range(50)), dtype=pl.Int128),
                          "s": [str(i) for i in range(50)], "l": [[i, i] for i in range(50)]})
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    data = bytearray(buffer.getvalue())
    data[len(data) - 1014] = 201
    return bytes(data)


PANIC_CHILD = """
import io, sys
data = open(sys.argv[1], "rb").read()
if sys.argv[2] == "polars":
    import polars as pl
    try:
        pl.read_parquet(io.BytesIO(data))
    except Exception:
        print("exception")
    except BaseException as exc:
        print("panic" if type(exc).__name__ == "PanicException" else "other")
    else:
        print("read")
else:
    import folio.codecs as codecs
    from folio.errors import CodecError
    try:
        codecs.decode("polars", bytearray(data), {}, allow_pickle=False, item="exp/t.parquet")
    except CodecError as exc:
        print(type(exc).__name__ + ": " + str(exc))
"""


def test_a_polars_panic_is_one_line_naming_the_item(tmp_path: Path) -> None:
    crafted = write(tmp_path / "t.parquet", polars_panic_parquet())

    def child(mode: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", PANIC_CHILD, str(crafted), mode],
                              capture_output=True, text=True, timeout=300)

    raw = child("polars")
    if raw.stdout.strip() != "panic":
        pytest.skip(f"this polars does not panic on the crafted file ({raw.stdout.strip()})")
    through_folio = child("folio")
    assert through_folio.returncode == 0, through_folio.stderr
    [line] = through_folio.stdout.splitlines()
    assert line.startswith("CodecError: exp/t.parquet: cannot read 'polars' item: "
                           "PanicException: "), line


class Panic(BaseException):
    """What pyo3 raises for a Rust panic: not an Exception, so ``except Exception`` misses."""


class PanickingCodec:
    name, extension, priority, needs_trust = "panicking", ".boom", 1, False

    def can_encode(self, obj: object) -> bool:
        return False

    def encode(self, obj: object, sink: Any) -> dict[str, Any]:
        raise AssertionError("never written")

    def decode(self, data: bytearray, meta: dict[str, Any]) -> object:
        raise Panic("index out of bounds:\n the len is 0")


def test_base_exceptions_from_a_reader_become_one_codec_error() -> None:
    codecs.register_codec(PanickingCodec())
    try:
        with pytest.raises(CodecError) as error:
            codecs.decode("panicking", bytearray(b"x"), {}, allow_pickle=False, item="b/x.boom")
        assert str(error.value) == ("b/x.boom: cannot read 'panicking' item: Panic: "
                                    "index out of bounds: the len is 0")
        assert isinstance(error.value.__cause__, Panic)
        with pytest.raises(CodecError, match=r"^b/t: unknown item type 'nope'"):
            codecs.decode("nope", bytearray(), {}, allow_pickle=False, item="b/t")
    finally:
        codecs.unregister_codec("panicking")


def test_interrupts_still_interrupt() -> None:
    class Interrupting(PanickingCodec):
        name = "interrupting"

        def decode(self, data: bytearray, meta: dict[str, Any]) -> object:
            raise KeyboardInterrupt

    codecs.register_codec(Interrupting())
    try:
        with pytest.raises(KeyboardInterrupt):
            codecs.decode("interrupting", bytearray(), {}, allow_pickle=False)
    finally:
        codecs.unregister_codec("interrupting")


def test_every_refusal_is_a_folio_error() -> None:
    assert issubclass(UntrustedDataError, FolioError)
    with pytest.raises(UntrustedDataError, match=r"^a/o\.npy: this \.npy has the dtype object"):
        codecs.decode("numpy", bytearray(npy("|O", (1,), b"\0" * 8)), {}, allow_pickle=False,
                      item="a/o.npy")


# -- the CLI: diff detail and describe ------------------------------------------------------

def test_diff_detail_of_crafted_files_is_a_plain_line(git_repo: Path, tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel"
    run_folio(git_repo, "init", check=True)
    write(git_repo / "data/a.npy", npy("<f8", (2,), b"\0" * 16))
    write(git_repo / "data/t.parquet", parquet(pa.table({"x": [1, 2]})))
    write(git_repo / "data/u.parquet", parquet(pa.table({"x": [1, 2]})))
    write(git_repo / "data/v.parquet", parquet(pa.table({"x": [1, 2]})))
    run_folio(git_repo, "add", "data", check=True)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "data")
    write(git_repo / "data/a.npy", npy("|O", (2,), b"\x41" * 16))
    write(git_repo / "data/t.parquet", extension_parquet())
    write(git_repo / "data/u.parquet", py_extension_parquet(sentinel))
    write(git_repo / "data/v.parquet", parquet(pa.table({"x": [1, 2]}))[:-5])
    write(git_repo / "data/b.npy", npy("<f8", (10**18,), b"\0" * 8))
    proc = run_folio(git_repo, "diff", "HEAD")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    text = proc.stdout
    assert text.count("the new version is not read: it holds data that could run code") == 3
    assert "parquet: not comparable (the new version is not readable as parquet)" in text
    assert "npy: not comparable (the new version is not readable as npy)" in text
    assert not sentinel.exists()


def test_describe_of_a_bundle_with_crafted_items_does_not_crash(repo: Repo) -> None:
    plant(repo.root, {"object.npy": npy("|O", (4,), b"\x41" * 32),
                      "ext.parquet": extension_parquet()})
    proc = run_folio(repo.root, "describe", TARGET)
    assert proc.returncode == 0, proc.stderr
    assert "object.npy" in proc.stdout and "ext.parquet" in proc.stdout


def test_writing_a_table_that_will_need_trust_warns(repo: Repo) -> None:
    mine = extension_type("folio.test.mine")
    pa.register_extension_type(mine)
    try:
        table = pa.table({"x": pa.ExtensionArray.from_storage(mine, pa.array([1, 2]))})
        bundle = repo.folio(TARGET)
        with pytest.warns(codecs.CodecWarning, match="read back only where it is trusted"):
            bundle.add_data("mine", table)
        with pytest.raises(UntrustedDataError, match=r"'folio\.test\.mine'"):
            bundle.get_data("mine")
        assert bundle.get_data("mine", allow_pickle=True).equals(table)
    finally:
        pa.unregister_extension_type("folio.test.mine")
