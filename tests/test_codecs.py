"""The codec layer: typed values <-> bytes, the registry, trust, and what formats cannot keep.

Every round trip writes through a sink with only write() and tell() (the contract) and reads
from a fresh bytearray, as the bundle layer will.
"""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import fractions
import json
import math
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as npst
from hypothesis.extra import pandas as pdst

import folio.codecs as codecs
from folio.codecs import CodecWarning
from folio.errors import CodecError, PickleNotAllowedError, UnsupportedTypeError

FAST = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Sink:
    """The whole sink contract: write() and tell(), nothing else."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.written: list[Any] = []

    def write(self, chunk: Any) -> int:
        self.written.append(chunk)
        view = memoryview(chunk).cast("B")
        self.data += view
        return view.nbytes

    def tell(self) -> int:
        return len(self.data)


def store(obj: object, name_hint: str | None = None) -> tuple[str, dict[str, Any], Sink]:
    sink = Sink()
    codec, meta = codecs.encode(obj, sink, name_hint=name_hint)
    json.dumps(meta, allow_nan=False)  # metadata lands in a manifest: strict JSON only
    return codec.name, meta, sink


def round_trip(obj: object, name_hint: str | None = None, *, allow_pickle: bool = False
               ) -> tuple[str, dict[str, Any], Any]:
    name, meta, sink = store(obj, name_hint)
    back = codecs.decode(name, bytearray(sink.data), meta, allow_pickle=allow_pickle)
    return name, meta, back


@pytest.fixture
def clean_registry() -> Iterator[None]:
    before = [codec.name for codec in codecs.registered_codecs()]
    yield
    for codec in codecs.registered_codecs():
        if codec.name not in before:
            codecs.unregister_codec(codec.name)
    codecs.register_builtins()


@pytest.fixture(autouse=True)
def _codec_warnings_fail() -> Iterator[None]:
    """A round trip that should be exact must not warn; tests expecting a warning say so."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", CodecWarning)
        yield


# --- import cost ------------------------------------------------------------------------


def test_import_loads_no_optional_library() -> None:
    code = (
        "import sys, io, folio.codecs as c\n"
        "for value in ({'a': [1, 2.5]}, 'text', b'raw', [{'k': 1}], object()):\n"
        "    c.codec_for_object(value)\n"
        "c.encode({'a': 1}, io.BytesIO())\n"
        "print(sorted(m for m in ('pandas', 'polars', 'torch', 'sklearn', 'pyarrow', 'numpy')"
        " if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env=env)
    assert result.stdout.strip() == "[]"


# --- registry ---------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    (pd.DataFrame({"a": [1]}), "pandas"),
    (pl.DataFrame({"a": [1]}), "polars"),
    (pd.Series([1.0]), "pandas"),
    (pl.Series([1.0]), "polars"),
    (pa.table({"a": [1]}), "arrow"),
    (np.zeros(3), "numpy"),
    ({"a": 1}, "json"),
    ([{"a": 1}], "json"),
    ([1, "x"], "json"),
    (None, "json"),
    (3.5, "json"),
    ("hello", "text"),
    (b"raw", "bytes"),
    (bytearray(b"raw"), "bytes"),
    ({1: "int key"}, "typed-json"),  # a plain value: tagged JSON, not a pickle
    ({"a": np.int64(1)}, "pickle"),
    (fractions.Fraction(1, 3), "pickle"),
])
def test_codec_chosen_by_type(value: object, expected: str) -> None:
    assert codecs.codec_for_object(value).name == expected


@pytest.mark.parametrize(("value", "hint", "expected"), [
    ([{"a": 1}], "events.jsonl", "jsonl"),
    ([{"a": 1}], "events.json", "json"),
    ("notes", "notes.txt", "text"),
    ("notes", "notes.json", "json"),
    ("notes", "README.MD", "text"),
    (pd.DataFrame({"a": [1]}), "frame.pkl", "pickle"),
    ({"a": 1}, "config.yaml", "json"),  # no JSON-capable codec claims .yaml: the type decides
])
def test_name_hint_picks_among_codecs_that_fit(value: object, hint: str, expected: str) -> None:
    assert codecs.codec_for_object(value, name_hint=hint).name == expected


def test_unsupported_object_names_its_type() -> None:
    generator = (n for n in range(3))
    with pytest.raises(UnsupportedTypeError, match="generator"):
        codecs.codec_for_object(generator)


def test_unknown_item_type_is_a_clear_error() -> None:
    with pytest.raises(CodecError, match="unknown item type 'x'; written by a newer folio"):
        codecs.decode("x", bytearray(b"{}"), {}, allow_pickle=True)


class FractionCodec:
    """A user codec: fractions as "n/d" text."""

    extension = ".frac"
    needs_trust = False

    def __init__(self, name: str = "fraction", priority: int = 200) -> None:
        self.name = name
        self.priority = priority

    def can_encode(self, obj: object) -> bool:
        return type(obj) is fractions.Fraction

    def encode(self, obj: object, sink: Any) -> dict[str, Any]:
        sink.write(str(obj).encode())
        return {"codec": self.name}

    def decode(self, data: bytearray, meta: dict[str, Any]) -> object:
        return fractions.Fraction(data.decode())


@pytest.mark.usefixtures("clean_registry")
def test_register_codec_adds_a_round_tripping_type() -> None:
    codecs.register_codec(FractionCodec())
    name, meta, back = round_trip(fractions.Fraction(2, 7))
    assert (name, meta, back) == ("fraction", {"codec": "fraction"}, fractions.Fraction(2, 7))
    assert isinstance(FractionCodec(), codecs.Codec)


@pytest.mark.usefixtures("clean_registry")
def test_priority_orders_codecs_and_later_registration_wins_ties() -> None:
    codecs.register_codec(FractionCodec("first", priority=10))
    codecs.register_codec(FractionCodec("second", priority=10))
    assert codecs.codec_for_object(fractions.Fraction(1, 2)).name == "second"
    codecs.register_codec(FractionCodec("first", priority=10))  # re-registering moves it
    assert codecs.codec_for_object(fractions.Fraction(1, 2)).name == "first"
    codecs.register_codec(FractionCodec("first"), priority=-5)  # below pickle's 0
    assert codecs.codec_for_object(fractions.Fraction(1, 2)).name == "second"
    codecs.unregister_codec("second")
    assert codecs.codec_for_object(fractions.Fraction(1, 2)).name == "pickle"


@pytest.mark.usefixtures("clean_registry")
def test_register_codec_refuses_incomplete_codecs() -> None:
    class NoDecode:
        name, extension, priority, needs_trust = "broken", ".b", 1, False

        def can_encode(self, obj: object) -> bool:
            return True

        def encode(self, obj: object, sink: Any) -> dict[str, Any]:
            return {}

    with pytest.raises(CodecError, match="'decode'"):
        codecs.register_codec(NoDecode())  # type: ignore[arg-type]
    bad_extension = FractionCodec()
    bad_extension.extension = "frac"
    with pytest.raises(CodecError, match="extension must start with"):
        codecs.register_codec(bad_extension)


def test_explicit_picks_the_family_member_for_the_object() -> None:
    assert codecs.explicit("table", pd.DataFrame()).name == "pandas"
    assert codecs.explicit("table", pl.DataFrame()).name == "polars"
    assert codecs.explicit("table", pa.table({"a": [1]})).name == "arrow"
    assert codecs.explicit("numpy").name == "numpy"
    assert codecs.explicit("jsonl").name == "jsonl"
    with pytest.raises(UnsupportedTypeError, match="table items must be a pandas, polars or "
                       "pyarrow table, not list"):
        codecs.explicit("table", [1, 2])
    with pytest.raises(UnsupportedTypeError, match="model items must be"):
        codecs.explicit("model", {"a": 1})
    with pytest.raises(CodecError, match="unknown item type 'tabel'"):
        codecs.explicit("tabel")


def test_explicit_codec_explains_what_it_cannot_store() -> None:
    with pytest.raises(CodecError, match=r"key 1 \(int\) at \$ is not a string"):
        codecs.encode({1: "a"}, Sink(), codec=codecs.explicit("json"))
    with pytest.raises(CodecError, match="JSON Lines items must be a list of dicts"):
        codecs.encode([1, 2], Sink(), codec=codecs.explicit("jsonl"))


def test_encode_failure_inside_a_library_is_a_codec_error() -> None:
    with pytest.raises(CodecError, match="cannot store a function as 'pickle'"):
        codecs.encode(lambda: None, Sink())


# --- trust ------------------------------------------------------------------------------


def test_pickle_needs_trust_to_load() -> None:
    value = fractions.Fraction(1, 3)
    name, meta, sink = store(value)
    assert name == "pickle" and meta == {"pytype": "fractions.Fraction"}
    with pytest.raises(PickleNotAllowedError) as error:
        codecs.decode(name, bytearray(sink.data), meta, allow_pickle=False)
    assert "allow_pickle=True" in str(error.value)
    assert "`trust_pickles = true` in this clone's local config" in str(error.value)
    assert codecs.decode(name, bytearray(sink.data), meta, allow_pickle=True) == value


def test_a_hostile_pickle_does_not_run_without_trust(tmp_path: Any) -> None:
    marker = tmp_path / "ran"
    payload = bytearray(
        b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    )
    with pytest.raises(PickleNotAllowedError):
        codecs.decode("pickle", payload, {}, allow_pickle=False)
    assert not marker.exists()


def test_corrupt_bytes_give_a_codec_error_naming_the_type() -> None:
    for name in ("pandas", "polars", "arrow", "numpy", "json", "text"):
        with pytest.raises(CodecError, match=f"{name}|Parquet|npy|JSON|UTF-8"):
            codecs.decode(name, bytearray(b"\xff\xfe not a real file"), {}, allow_pickle=False)


# --- JSON -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=25,
)


def same(a: object, b: object) -> bool:
    """Equal, with the same types, NaN equal to NaN, -0.0 apart from 0.0 and dict order kept."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        assert isinstance(b, float)
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return list(a) == list(b) and all(same(a[key], b[key]) for key in a)
    if isinstance(a, list):
        assert isinstance(b, list)
        return len(a) == len(b) and all(map(same, a, b))
    return a == b


@FAST
@given(json_values)
def test_json_values_round_trip_exactly(value: object) -> None:
    name, _, back = round_trip(value, "value.json")
    assert name == "json"
    assert same(value, back)


@FAST
@given(st.lists(st.dictionaries(st.text(max_size=6), json_values, max_size=4), max_size=6))
def test_json_lines_round_trip_exactly(rows: list[dict[str, Any]]) -> None:
    name, meta, back = round_trip(rows, "rows.jsonl")
    assert name == "jsonl" and meta["rows"] == len(rows)
    assert same(rows, back)


def test_json_lines_keep_line_separators_inside_strings() -> None:
    rows = [{"text": "a\u2028b\u0085c\x1cd\r\ne"}, {"n": 1}]
    _, meta, sink = store(rows, "rows.jsonl")
    assert sink.data.count(b"\n") == 2
    assert codecs.decode("jsonl", bytearray(sink.data), meta, allow_pickle=False) == rows
    assert meta["keys"] == ["text", "n"]


def test_json_metadata_describes_the_value() -> None:
    assert store({"b": 1, "a": [1, 2]})[1] == {"kind": "object", "length": 2, "keys": ["b", "a"]}
    assert store([1, 2, 3], "x.json")[1] == {"kind": "array", "length": 3}
    assert store(None)[1] == {"kind": "null"}


def test_json_keeps_nan_and_infinity_as_python_writes_them() -> None:
    value = {"loss": float("nan"), "best": float("inf"), "worst": -math.inf}
    _, _, sink = store(value)
    assert b"NaN" in sink.data and b"-Infinity" in sink.data
    _, _, back = round_trip(value)
    assert math.isnan(back["loss"]) and back["best"] == math.inf and back["worst"] == -math.inf


def test_json_escapes_what_utf8_cannot_hold() -> None:
    value = {"lone": "\ud800 surrogate", "ok": "ünïcode"}
    _, _, sink = store(value)
    sink.data.decode("utf-8")  # the file itself is valid UTF-8
    assert round_trip(value)[2] == value


def test_json_warns_that_tuples_read_back_as_lists() -> None:
    # chosen by type, a tuple goes to typed-json and reads back a tuple; forced to "json":
    sink, value = Sink(), {"shape": (3, 4), "nested": [(1,)]}
    with pytest.warns(CodecWarning, match=r"tuple \(first at \$.shape\) reads back as list"):
        _, meta = codecs.encode(value, sink, codec=codecs.codec_by_name("json"))
    back = codecs.decode("json", bytearray(sink.data), meta, allow_pickle=False)
    assert back == {"shape": [3, 4], "nested": [[1]]}


def test_json_warns_about_subclasses() -> None:
    ordered = collections.OrderedDict(a=np.float64(1.5))
    with pytest.warns(CodecWarning, match="numpy.float64 .* reads back as float"):
        _, _, back = round_trip(ordered)
    assert type(back) is dict and type(back["a"]) is float and back == {"a": 1.5}


def test_json_refuses_cycles_and_falls_back_to_pickle() -> None:
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    assert codecs.codec_for_object(cyclic).name == "pickle"
    with pytest.raises(CodecError, match="refers to itself"):
        codecs.encode(cyclic, Sink(), codec=codecs.explicit("json"))


# --- text and bytes ---------------------------------------------------------------------


@FAST
@given(st.text())
def test_text_round_trips_byte_for_byte(value: str) -> None:
    name, meta, sink = store(value, "notes.txt")
    assert name == "text" and bytes(sink.data) == value.encode("utf-8")
    assert codecs.decode(name, bytearray(sink.data), meta, allow_pickle=False) == value
    assert meta["chars"] == len(value)


def test_text_metadata_counts_lines_and_keeps_line_endings() -> None:
    _, meta, back = round_trip("a\r\nb\nc", "x.txt")
    assert back == "a\r\nb\nc" and meta == {"chars": 6, "lines": 3}


def test_text_refuses_lone_surrogates() -> None:
    with pytest.raises(CodecError, match="index 2, which UTF-8 cannot encode"):
        codecs.encode("ab\udc80", Sink())


@FAST
@given(st.binary())
def test_bytes_round_trip_with_their_type(value: bytes) -> None:
    name, meta, back = round_trip(value)
    assert name == "bytes" and type(back) is bytes and back == value
    assert meta == {"pytype": "bytes", "length": len(value)}
    _, _, back_array = round_trip(bytearray(value))
    assert type(back_array) is bytearray and back_array == value


def test_bytearray_reads_back_without_a_copy() -> None:
    name, meta, sink = store(bytearray(b"payload"))
    data = bytearray(sink.data)
    assert codecs.decode(name, data, meta, allow_pickle=False) is data


def test_memoryview_keeps_format_and_shape() -> None:
    view = memoryview(np.arange(6, dtype=np.int32).reshape(2, 3))
    _, meta, back = round_trip(view)
    assert type(back) is memoryview and back.format == view.format and back.shape == (2, 3)
    assert back.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert meta["length"] == 24


def test_memoryview_of_a_structured_format_is_refused() -> None:
    structured = np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")])
    with pytest.raises(CodecError, match="cannot be rebuilt from bytes"):
        codecs.encode(memoryview(structured), Sink())


# --- numpy ------------------------------------------------------------------------------

any_dtype = st.one_of(
    npst.scalar_dtypes(),
    npst.integer_dtypes(endianness="?"),
    npst.floating_dtypes(endianness="?"),
    npst.byte_string_dtypes(),
    npst.unicode_string_dtypes(),
    npst.array_dtypes(npst.scalar_dtypes(), max_size=3, allow_subarrays=True),
)


@pytest.mark.filterwarnings("ignore:Stored array in format 3.0")  # non-latin-1 field names
@FAST
@given(npst.arrays(any_dtype, npst.array_shapes(min_dims=0, max_dims=3, min_side=0,
                                                max_side=4)),
       st.sampled_from(["C", "F", "strided"]))
def test_numpy_arrays_round_trip_bit_for_bit(array: np.ndarray, layout: str) -> None:
    if layout == "F":
        array = np.asfortranarray(array)
    elif layout == "strided" and array.ndim:
        array = array[..., ::2]
    name, meta, back = round_trip(array)
    assert name == "numpy" and type(back) is np.ndarray
    assert back.dtype == array.dtype and back.shape == array.shape
    assert back.tobytes() == array.tobytes()
    keeps_fortran = array.flags.f_contiguous and not array.flags.c_contiguous
    if keeps_fortran:
        assert back.flags.f_contiguous and not back.flags.c_contiguous
    else:
        assert back.flags.c_contiguous
    assert meta["shape"] == list(array.shape) and meta["order"] == ("F" if keeps_fortran
                                                                    else "C")


def test_numpy_write_and_read_share_memory_instead_of_copying() -> None:
    array = np.arange(1 << 16, dtype=np.float64).reshape(256, 256)
    name, meta, sink = store(array)
    assert any(isinstance(chunk, np.ndarray) and np.shares_memory(chunk, array)
               for chunk in sink.written)
    data = bytearray(sink.data)
    back = codecs.decode(name, data, meta, allow_pickle=False)
    assert np.shares_memory(back, np.frombuffer(data, dtype=np.uint8))
    back[0, 0] = 42.0  # a writable view of the owned buffer
    assert back[0, 0] == 42.0


def test_numpy_file_is_what_numpy_load_reads() -> None:
    import io

    array = np.asfortranarray(np.arange(6, dtype=">i2").reshape(2, 3))
    _, _, sink = store(array)
    loaded = np.load(io.BytesIO(bytes(sink.data)), allow_pickle=False)
    assert loaded.dtype == array.dtype and (loaded == array).all()


def test_numpy_headers_of_every_version() -> None:
    wide = np.zeros(2, dtype=[(f"field_{n:05d}", "<f8") for n in range(3000)])  # > 64 KiB
    unicode_names = np.zeros(3, dtype=[("π", "<i4"), ("字", "<f4")])  # needs version 3.0
    for array, version in ((wide, 2), (unicode_names, 3)):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Stored array in format 3.0", UserWarning)
            _, _, sink = store(array)
        back = codecs.decode("numpy", bytearray(sink.data), {}, allow_pickle=False)
        assert sink.data[6] == version and back.dtype == array.dtype
        assert back.tobytes() == array.tobytes()


@pytest.mark.parametrize("array", [np.array([1, "a"], dtype=object),
                                   np.array(["a"], dtype=np.dtypes.StringDType())])
def test_numpy_object_arrays_are_refused(array: np.ndarray) -> None:
    with pytest.raises(CodecError, match="store it with pickle"):
        codecs.encode(array, Sink())


def test_numpy_truncated_or_foreign_data_is_refused() -> None:
    _, meta, sink = store(np.arange(10))
    with pytest.raises(CodecError, match="truncated or corrupt"):
        codecs.decode("numpy", bytearray(sink.data[:-1]), meta, allow_pickle=False)
    with pytest.raises(CodecError, match=r"not a \.npy file"):
        codecs.decode("numpy", bytearray(b"PK\x03\x04 zip"), meta, allow_pickle=False)


# --- pandas -----------------------------------------------------------------------------

PANDAS_FRAMES = {
    "numeric": pd.DataFrame({"i8": np.array([1, -2], dtype="int8"),
                             "u64": np.array([1, 2], dtype="uint64"),
                             "f32": np.array([0.5, np.nan], dtype="float32"),
                             "f16": np.array([1, 2], dtype="float16"), "b": [True, False]}),
    "nullable": pd.DataFrame({"I": pd.array([1, None], dtype="Int64"),
                              "B": pd.array([True, None], dtype="boolean"),
                              "S": pd.array(["x", None], dtype="string"),
                              "A": pd.array([1, None], dtype="int64[pyarrow]")}),
    "strings": pd.DataFrame({"str": ["x", None], "obj": pd.Series(["x", None], dtype=object),
                             "obj_nan": pd.Series(["x", np.nan], dtype=object)}),
    "objects": pd.DataFrame({"lists": [[1], [2, 3]], "pairs": [[1, 2], [3, 4]],
                             "arrays": [np.array([1]), np.array([2])],
                             "dicts": [{"k": 1}, {"k": 2}], "bytes": [b"x", None],
                             "dec": [decimal.Decimal("1.5"), None],
                             "dates": [dt.date(2020, 1, 1), None],
                             "bools": pd.Series([True, False], dtype=object),
                             "ints": pd.Series([1, None], dtype=object),
                             "floats": pd.Series([1.5, None], dtype=object),
                             "stamps": pd.Series([pd.Timestamp("2020"), None], dtype=object)}),
    "time": pd.DataFrame({"ns": pd.date_range("2020", periods=2),
                          "s": pd.date_range("2020", periods=2).astype("datetime64[s]"),
                          "tz": pd.date_range("2020", periods=2, tz="Europe/Paris"),
                          "td": pd.to_timedelta([1, 2], unit="s"),
                          "period": pd.period_range("2020", periods=2, freq="M")}),
    "categorical": pd.DataFrame({"c": pd.Categorical(["x", "y"], categories=["y", "x", "z"],
                                                     ordered=True),
                                 "iv": pd.interval_range(0, 2)}),
    "named index": pd.DataFrame({"a": [1, 2]}, index=pd.Index(["p", "q"], name="key")),
    "object index": pd.DataFrame({"a": [1, 2]}, index=pd.Index(["p", "q"], dtype=object)),
    "range index": pd.DataFrame({"a": [1, 2]}, index=pd.RangeIndex(3, 7, 2, name="r")),
    "float index": pd.DataFrame({"a": [1, 2]}, index=[0.5, 1.5]),
    "multi index": pd.DataFrame({"a": [1, 2]}, index=pd.MultiIndex.from_tuples(
        [("x", 1), ("y", 2)], names=["s", None])),
    "datetime index": pd.DataFrame({"a": [1, 2, 3]}, index=pd.date_range(
        "2020", periods=3, freq="2h", name="when")),
    "category index": pd.DataFrame({"a": [1, 2]}, index=pd.CategoricalIndex(["x", "y"])),
    "int labels": pd.DataFrame({1: [1], 2: [2]}),
    "multi columns": pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples(
        [("a", "x"), ("a", "y")], names=["top", "sub"])),
    "object labels": pd.DataFrame({"a": [1]}).set_axis(pd.Index(["a"], dtype=object), axis=1),
    "named labels": pd.DataFrame({"a": [1]}).rename_axis("cols", axis=1),
    "empty": pd.DataFrame(),
    "no rows": pd.DataFrame({"a": pd.Series([], dtype="float64"), "s": pd.Series([], dtype=str)}),
}


@pytest.mark.parametrize("frame", PANDAS_FRAMES.values(), ids=PANDAS_FRAMES.keys())
def test_pandas_frames_round_trip_exactly(frame: pd.DataFrame) -> None:
    name, meta, back = round_trip(frame)
    assert name == "pandas" and type(back) is pd.DataFrame
    pd.testing.assert_frame_equal(back, frame, check_freq=True)
    for column in frame.columns:
        if frame[column].dtype == object:
            assert [type(v) for v in back[column]] == [type(v) for v in frame[column]]
    assert meta["rows"] == len(frame) and meta["columns"] == frame.shape[1]


def test_pandas_metadata_and_attrs() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}, index=pd.Index([5, 6], name="id"))
    frame.attrs = {"source": "sensor", "version": 2}
    _, meta, back = round_trip(frame)
    assert back.attrs == frame.attrs
    assert meta == {"rows": 2, "columns": 2, "schema": {"a": "int64", "b": "str"},
                    "index": ["id"]}


frames = pdst.data_frames(
    columns=[pdst.column("i", dtype="int64"), pdst.column("f", dtype="float64"),
             pdst.column("b", dtype=bool), pdst.column("t", dtype="datetime64[ns]"),
             pdst.column("d", dtype="timedelta64[ns]"),
             pdst.column("o", elements=st.text(max_size=5) | st.none(), dtype=object)],
    index=pdst.range_indexes(max_size=8) | pdst.indexes(dtype="int64", max_size=8)
    | pdst.indexes(elements=st.text(max_size=4), max_size=8),
)


@FAST
@given(frames, st.none() | st.text(max_size=4))
def test_pandas_generated_frames_round_trip(frame: pd.DataFrame, index_name: str | None) -> None:
    frame.index.name = index_name
    frame["s"] = frame["o"].astype("str")
    _, _, back = round_trip(frame)
    pd.testing.assert_frame_equal(back, frame)


@pytest.mark.parametrize(("frame", "message"), [
    (pd.DataFrame({1: [1], "b": [2]}), r"column labels \[1, 'b'\] mix types"),
    (pd.DataFrame({None: [1]}), "include None"),
    (pd.DataFrame({"a": [1, "x"]}), "Conversion failed for column a"),
    (pd.DataFrame({"a": np.array([1j])}), "convert the column"),
    (pd.DataFrame([[1, 2]], columns=["a", "a"]), "Duplicate column names"),
    (pd.DataFrame({"a": pd.arrays.SparseArray([0, 1])}), "Sparse"),
])
def test_pandas_frames_parquet_cannot_keep_are_refused(frame: pd.DataFrame, message: str
                                                       ) -> None:
    with pytest.raises(CodecError, match=message):
        codecs.encode(frame, Sink())


@pytest.mark.parametrize(("frame", "message"), [
    (pd.DataFrame({"a": pd.Categorical([1, 2, 1])}), 'column name="a"'),
    (pd.DataFrame({"a": pd.array(["x"], dtype=pd.StringDtype("python"))}), "storage='python'"),
    (pd.DataFrame({"a": pd.Series(["x", None, np.nan], dtype=object)}), "'a' marks missing"),
])
def test_pandas_changes_parquet_makes_are_warned(frame: pd.DataFrame, message: str) -> None:
    with pytest.warns(CodecWarning, match=message):
        _, _, back = round_trip(frame)
    assert len(back) == len(frame) and list(back.columns) == list(frame.columns)


@pytest.mark.parametrize("series", [
    pd.Series([1.5, None], name="score"),
    pd.Series(["a", "b"], index=pd.Index(["x", "y"], name="k"), name=0),
    pd.Series(pd.Categorical(["u", "v"]), name=None),
])
def test_pandas_series_round_trip_with_name_and_index(series: pd.Series) -> None:
    name, meta, back = round_trip(series)
    assert name == "pandas" and type(back) is pd.Series and meta["series"] is True
    pd.testing.assert_series_equal(back, series)


def test_pandas_series_names_json_cannot_hold_are_refused() -> None:
    with pytest.raises(CodecError, match="cannot keep its name"):
        codecs.encode(pd.Series([1], name=("a", "b")), Sink())


def test_dataframe_subclass_keeps_its_class_through_pickle() -> None:
    class Frame(pd.DataFrame):
        pass

    assert codecs.codec_for_object(Frame({"a": [1]})).name == "pickle"


# --- polars -----------------------------------------------------------------------------

POLARS_FRAMES = {
    "basic": pl.DataFrame({"a": [1, None], "b": ["x", None], "c": [1.5, None],
                           "d": [True, None]}),
    "ints": pl.DataFrame({"i8": pl.Series([1], dtype=pl.Int8),
                          "u64": pl.Series([2], dtype=pl.UInt64),
                          "i128": pl.Series([3], dtype=pl.Int128),
                          "f32": pl.Series([1.0], dtype=pl.Float32)}),
    "categories": pl.DataFrame({"c": pl.Series(["x", "y"], dtype=pl.Categorical),
                                "e": pl.Series(["x", "y"], dtype=pl.Enum(["y", "x", "z"]))}),
    "time": pl.DataFrame({"d": [dt.date(2020, 1, 1)], "t": [dt.time(1, 2, 3)],
                          "us": [dt.datetime(2020, 1, 1)], "dur": [dt.timedelta(seconds=3)],
                          "tz": pl.Series([dt.datetime(2020, 1, 1)]).dt.cast_time_unit("ms")
                          .dt.replace_time_zone("Europe/Paris")}),
    "nested": pl.DataFrame({"l": [[1, 2], [3]], "s": [{"x": 1}, {"x": 2}],
                            "a": pl.Series([[1, 2], [3, 4]], dtype=pl.Array(pl.Int64, 2))}),
    "other": pl.DataFrame({"dec": pl.Series([decimal.Decimal("1.50")], dtype=pl.Decimal(10, 2)),
                           "bin": [b"x"], "null": [None]}),
    "empty": pl.DataFrame(),
}


@pytest.mark.parametrize("frame", POLARS_FRAMES.values(), ids=POLARS_FRAMES.keys())
def test_polars_frames_round_trip_exactly(frame: pl.DataFrame) -> None:
    name, meta, back = round_trip(frame)
    assert name == "polars" and type(back) is pl.DataFrame
    assert back.schema == frame.schema and back.equals(frame)
    assert meta["rows"] == frame.height and set(meta["schema"]) == set(frame.columns)


def test_polars_series_round_trip() -> None:
    series = pl.Series("s", [1, None, 3], dtype=pl.Int16)
    name, meta, back = round_trip(series)
    assert name == "polars" and meta["series"] is True
    assert type(back) is pl.Series and back.name == "s" and back.equals(series)


def test_polars_object_columns_are_refused() -> None:
    frame = pl.DataFrame({"o": pl.Series([object()], dtype=pl.Object)})
    with pytest.raises(CodecError, match=r"\['o'\] have the Object dtype"):
        codecs.encode(frame, Sink())


# --- pyarrow ----------------------------------------------------------------------------


def test_arrow_tables_round_trip_with_exact_types_and_metadata() -> None:
    table = pa.table({
        "ts_s": pa.array([1, 2], pa.timestamp("s", tz="UTC")),
        "date64": pa.array([dt.date(2020, 1, 1), None], pa.date64()),
        "time32": pa.array([1, 2], pa.time32("s")),
        "dict": pa.array(["a", "b"]).dictionary_encode(),
        "large": pa.array(["x", None], pa.large_string()),
        "view": pa.array(["x", None], pa.string_view()),
        "dec": pa.array([decimal.Decimal("1.5"), None], pa.decimal128(5, 2)),
        "map": pa.array([[("k", 1)], []], pa.map_(pa.string(), pa.int64())),
        "fsl": pa.array([[1, 2], [3, 4]], pa.list_(pa.int32(), 2)),
        "uuid": pa.array([b"0123456789abcdef", None], pa.uuid()),
    }, metadata={"origin": "test"})
    name, meta, back = round_trip(table)
    assert name == "arrow" and isinstance(back, pa.Table)
    assert back.equals(table) and back.schema.equals(table.schema, check_metadata=True)
    assert meta["rows"] == 2 and meta["schema"]["ts_s"] == "timestamp[s, tz=UTC]"


def test_arrow_types_parquet_changes_are_warned_and_unsupported_refused() -> None:
    with pytest.warns(CodecWarning, match="column 'd': dictionary<values=int64.* reads back as "
                      "int64"):
        round_trip(pa.table({"d": pa.array([1, 2]).dictionary_encode()}))
    interval = pa.array([pa.scalar((1, 2, 3), pa.month_day_nano_interval())])
    with pytest.raises(CodecError, match="Parquet cannot store this table"):
        codecs.encode(pa.table({"i": interval}), Sink())


# --- scikit-learn and torch -------------------------------------------------------------


def test_sklearn_estimators_need_trust_and_predict_the_same() -> None:
    linear_model = pytest.importorskip("sklearn.linear_model")
    x = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [3.0, 1.0]])
    model = linear_model.LogisticRegression(C=0.5).fit(x, [0, 0, 1, 1])
    name, meta, sink = store(model)
    assert name == "sklearn" and meta["class"].endswith("LogisticRegression")
    assert meta["params"]["C"] == 0.5 and "sklearn_version" in meta
    with pytest.raises(PickleNotAllowedError):
        codecs.decode(name, bytearray(sink.data), meta, allow_pickle=False)
    back = codecs.decode(name, bytearray(sink.data), meta, allow_pickle=True)
    assert (back.predict_proba(x) == model.predict_proba(x)).all()
    assert codecs.explicit("model", model).name == "sklearn"


def test_torch_state_dicts_and_tensors_load_without_trust() -> None:
    torch = pytest.importorskip("torch")
    model = torch.nn.Linear(3, 2)
    state = model.state_dict()
    name, meta, back = round_trip(state)
    assert name == "torch-state-dict" and type(back) is type(state)
    assert all(torch.equal(back[key], state[key]) for key in state)
    assert meta == {"keys": ["weight", "bias"], "length": 2, "tensors": 2, "parameters": 8}
    optimizer_like = {"state": {0: {"step": torch.tensor(3.0)}}, "param_groups": [{"lr": 0.1}]}
    assert round_trip(optimizer_like)[0] == "torch-state-dict"
    tensor = torch.arange(6, dtype=torch.int16).reshape(2, 3)
    name, meta, back = round_trip(tensor)
    assert name == "torch-tensor" and torch.equal(back, tensor) and back.dtype == tensor.dtype
    assert meta == {"shape": [2, 3], "dtype": "int16"}


def test_torch_models_need_trust() -> None:
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU())
    name, meta, sink = store(model)
    assert name == "torch-model" and meta["parameters"] == 8
    with pytest.raises(PickleNotAllowedError):
        codecs.decode(name, bytearray(sink.data), meta, allow_pickle=False)
    back = codecs.decode(name, bytearray(sink.data), meta, allow_pickle=True)
    probe = torch.ones(1, 3)
    assert type(back) is type(model) and torch.equal(back(probe), model(probe))
    assert codecs.explicit("model", model).name == "torch-model"


# --- performance (pytest -m slow) -------------------------------------------------------


@pytest.mark.slow
def test_encoding_costs_no_more_than_the_libraries_themselves(tmp_path: Any) -> None:
    import time

    import pyarrow.parquet as pq

    frame = pd.DataFrame(np.random.default_rng(0).random((1_000_000, 10)),
                         columns=[f"c{n}" for n in range(10)])

    class FileSink:
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def write(self, data: Any) -> int:
            return int(self.handle.write(data))

        def tell(self) -> int:
            return int(self.handle.tell())

    def best(run: Any) -> float:
        times = []
        for _ in range(3):
            with open(tmp_path / "out", "wb") as handle:
                start = time.perf_counter()
                run(handle)
                times.append(time.perf_counter() - start)
        return min(times)

    ours = best(lambda h: codecs.codec_by_name("pandas").encode(frame, FileSink(h)))
    theirs = best(lambda h: pq.write_table(pa.Table.from_pandas(frame), h))
    assert ours <= theirs * 1.25 + 0.02
    array = np.random.default_rng(0).random(100 * 2**20 // 8)
    ours = best(lambda h: codecs.codec_by_name("numpy").encode(array, FileSink(h)))
    theirs = best(lambda h: np.save(h, array))
    assert ours <= theirs * 1.25 + 0.02
