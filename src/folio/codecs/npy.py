"""numpy arrays as .npy files (numpy's own format), never with pickle inside.

Writing: the header comes from numpy's format module, then a contiguous array's memory goes
to the sink as is (no copy, cheaper than ``numpy.save`` into a non-file, which copies in
chunks); other layouts are left to numpy's writer. Reading wraps the owned bytearray with no
copy at all: the array returned is a writable view of it.
"""

from __future__ import annotations

import ast
import io
import math
import struct
from typing import Any, BinaryIO

from folio.codecs._detect import require, type_is
from folio.codecs._io import SinkWriter
from folio.errors import CodecError

MAGIC = b"\x93NUMPY"
MAX_HEADER = 1 << 20  # bounds literal_eval on hostile input; real headers are far smaller


class NumpyCodec:
    """numpy.ndarray of any non-object dtype (structured included), any shape and order."""

    name = "numpy"
    extension = ".npy"
    priority = 100
    needs_trust = False

    def can_encode(self, obj: object) -> bool:
        return type_is(obj, "numpy", "ndarray")

    def encode(self, obj: object, sink: BinaryIO) -> dict[str, Any]:
        np = require("numpy", self.name)
        if not isinstance(obj, np.ndarray):
            raise CodecError(f"numpy items must be numpy arrays, not {type(obj).__name__}")
        if obj.dtype.hasobject:
            raise CodecError(
                f"a numpy array of dtype {obj.dtype} holds Python objects, which .npy can only "
                "store with pickle; convert it (e.g. .astype(str)) or store it with pickle()"
            )
        _write(np, obj, sink)
        order = "F" if obj.flags.f_contiguous and not obj.flags.c_contiguous else "C"
        return {"shape": list(obj.shape), "dtype": str(obj.dtype), "order": order,
                "nbytes": int(obj.nbytes)}

    def decode(self, data: bytearray, meta: dict[str, Any]) -> object:
        np = require("numpy", self.name)
        offset, header = _read_header(data)
        try:
            dtype = np.lib.format.descr_to_dtype(header["descr"])
            shape = tuple(int(n) for n in header["shape"])
            fortran = bool(header["fortran_order"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CodecError(f"stored .npy header is invalid: {exc}") from exc
        expected = offset + math.prod(shape) * dtype.itemsize
        if len(data) != expected or min(shape, default=0) < 0:
            raise CodecError(f"stored .npy data has {len(data)} bytes, its header says "
                             f"{expected}: truncated or corrupt")
        return np.ndarray(shape, dtype=dtype, buffer=data, offset=offset,
                          order="F" if fortran else "C")


def _write(np: Any, array: Any, sink: BinaryIO) -> None:
    """Header from numpy, then the array's own memory when it is contiguous."""
    fmt = np.lib.format
    contiguous = array.flags.c_contiguous or array.flags.f_contiguous
    header = io.BytesIO()
    try:
        fmt.write_array_header_1_0(header, fmt.header_data_from_array_1_0(array))
    except UnicodeEncodeError:  # non-latin-1 field names need version 3.0: numpy writes it
        contiguous = False
    except ValueError:  # header longer than 64 KiB: version 2.0 has a 4-byte length
        header = io.BytesIO()
        fmt.write_array_header_2_0(header, fmt.header_data_from_array_1_0(array))
    if not contiguous:
        fmt.write_array(SinkWriter(sink), array, allow_pickle=False)
        return
    sink.write(header.getvalue())
    if array.size and array.dtype.itemsize:
        memory = array.T if array.flags.f_contiguous and not array.flags.c_contiguous else array
        sink.write(memory.reshape(-1).view(np.uint8))


def _read_header(data: bytearray) -> tuple[int, dict[str, Any]]:
    """Parse the .npy header (any version) from the front of ``data``; return data offset."""
    if data[:6] != MAGIC or len(data) < 10:
        raise CodecError("stored data is not a .npy file (bad magic)")
    major = data[6]
    if major == 1:
        (length,), start = struct.unpack_from("<H", data, 8), 10
    elif major in (2, 3):
        (length,), start = struct.unpack_from("<I", data, 8), 12
    else:
        raise CodecError(f"unsupported .npy format version {major}.{data[7]}")
    if length > MAX_HEADER or start + length > len(data):
        raise CodecError("stored .npy header is truncated or too large")
    encoding = "utf-8" if major == 3 else "latin-1"
    try:
        header = ast.literal_eval(bytes(data[start : start + length]).decode(encoding))
    except (SyntaxError, ValueError, UnicodeDecodeError) as exc:
        raise CodecError(f"stored .npy header is unreadable: {exc}") from exc
    if not isinstance(header, dict):
        raise CodecError("stored .npy header is not a dict")
    return start + length, header
