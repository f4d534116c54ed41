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
