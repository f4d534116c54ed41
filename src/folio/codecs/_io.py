"""File-object adapters between the codec contract and the libraries that do the writing.

The contract promises a sink with only write() and tell(), and hands decoders a bytearray.
pyarrow and torch want fuller file objects (``closed``, ``flush``, ``seek``); these adapters
give them that without copying, and without letting a library close the caller's sink.
"""

from __future__ import annotations

import io
from typing import Any, BinaryIO


class SinkWriter(io.RawIOBase):
    """A writable, non-seekable file over a write()/tell() sink; close() leaves the sink open."""

    def __init__(self, sink: BinaryIO) -> None:
        super().__init__()
        self._sink = sink

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        """Pass the buffer straight through: no copy, whatever the buffer type."""
        written = self._sink.write(data)
        return memoryview(data).nbytes if written is None else written

    def tell(self) -> int:
        return self._sink.tell()

    def close(self) -> None:
        """Mark this adapter closed; the sink belongs to the caller."""
        super().close()


class BufferReader(io.RawIOBase):
    """A seekable, read-only file over a bytes-like object, without copying it up front."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        super().__init__()
        self._view = memoryview(data).cast("B")
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        count = max(0, min(len(target), len(self._view) - self._pos))
        target[:count] = self._view[self._pos : self._pos + count]
        self._pos += count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos
