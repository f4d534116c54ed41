"""Human-readable sizes and counts, shared by every command's output."""

from __future__ import annotations


def human_bytes(n: float | None) -> str:
    """``1536`` -> ``1.5 KiB``; whole bytes below 1 KiB; ``-`` for unknown."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 file``, ``2 files``; ``many`` where adding an s is wrong (entry, entries)."""
    return f"{n} {word}" if n == 1 else f"{n} {many or word + 's'}"


_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20,
               "g": 1 << 30, "gib": 1 << 30, "kb": 1000, "mb": 1000**2, "gb": 1000**3}


def parse_size(value: object) -> int:
    """Bytes in ``4194304``, ``"4MiB"``, ``"64 KiB"``, ``"1g"`` (k/m/g are binary, as in git;
    KB/MB/GB decimal). ValueError names what is wrong."""
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size cannot be negative: {value}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"not a size: {value!r}")
    text = value.strip().lower()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz ").strip()
    unit = text[len(number):].strip()
    try:
        amount = float(number)
    except ValueError:
        raise ValueError(f"not a size: {value!r} (use e.g. 4MiB, 64KiB or a byte count)") from None
    if unit not in _SIZE_UNITS or amount < 0:
        raise ValueError(f"not a size: {value!r} (use e.g. 4MiB, 64KiB or a byte count)")
    return int(amount * _SIZE_UNITS[unit])
