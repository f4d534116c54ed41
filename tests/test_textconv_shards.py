"""git's diff driver renders format 2 sharded manifests as data, never "None files"."""

from __future__ import annotations

from pathlib import Path

from folio import manifest as mf
from folio.textconv import render


def test_a_format_2_sharded_manifest_renders_its_ranges_and_counts(tmp_path: Path) -> None:
    entries = {f"f{i:05}.txt": mf.Entry(f"f{i:05}.txt", 7, "a" * 64) for i in range(3000)}
    files = dict(mf.dump_files(mf.Manifest("logs", "dir", entries)))
    (tmp_path / "main").write_bytes(files.pop("logs.folio"))
    (tmp_path / "shard").write_bytes(next(iter(files.values())))
    main = render(tmp_path / "main")
    assert "None" not in main and "shard " in main and "up to f" in main
    shard = render(tmp_path / "shard")
    assert "None" not in shard and " files, " in shard and "up to f" in shard
