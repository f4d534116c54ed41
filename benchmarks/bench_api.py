"""Benchmark the typed API (issue 4): add_data / get_data against the libraries themselves.

Usage: python benchmarks/bench_api.py [--repeat 7] [--rows 1000000] [--mb 100] [--workdir DIR]
                                      [--json FILE]

Cases, each in one run, interleaved with its baseline; the ratio compares the fastest of
``--repeat`` runs of each (the least disturbed by other load on a shared machine), medians
are shown beside it:
- a 1,000,000 x 10 float64 DataFrame: ``add_data`` vs ``pq.write_table(pa.Table.from_pandas(df))``
  + one sha256 pass over the file's bytes; ``get_data`` vs ``pq.read_table(path).to_pandas()``
  + one sha256 pass (``pd.read_parquet`` is timed too, for reference);
- a 100 MB float64 array: ``add_data`` vs ``np.save`` + sha256; ``get_data`` vs ``np.load`` +
  sha256.
The baseline's sha256 pass hashes the same bytes already in memory (the cheapest way to hash
them). folio's add also makes the object durable (fdatasync) before the manifest names it;
the baseline syncs nothing, and "save + fsync" shows what syncing adds there. Each repetition
changes one value, so every add writes a new object (no dedup shortcut).

Then one small item added to bundles of 10 and 1,000 items: time and bytes written.
Target: every ratio at most 1.2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TARGET = 1.2


def _timed(fn: Callable[[], Any]) -> float:
    """Wall time of ``fn``, started with no dirty pages, so no step pays for another's
    write-back (the disk absorbs bursts far faster than it sustains them)."""
    os.sync()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _sha(data: bytes) -> float:
    return _timed(lambda: hashlib.sha256(data).hexdigest())


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _repo(workdir: Path) -> Any:
    import folio

    root = Path(tempfile.mkdtemp(prefix="bench-api-", dir=workdir))
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return folio.Repo.init(root)


def bench_frame(repo: Any, rows: int, repeat: int, scratch: Path) -> list[dict[str, Any]]:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(4)
    df = pd.DataFrame(rng.random((rows, 10)), columns=[f"c{i}" for i in range(10)])
    bundle = repo.folio("bench/frame")
    path = scratch / "frame.parquet"
    synced_path = scratch / "frame-synced.parquet"
    samples: dict[str, list[float]] = {k: [] for k in
                                       ("base_add", "base_add_fsync", "add", "base_get",
                                        "pd_get", "get")}
    for i in range(repeat):
        df.iloc[0, 0] = float(i)
        write = _timed(lambda: pq.write_table(pa.Table.from_pandas(df), path))
        data = path.read_bytes()
        sha = _sha(data)
        synced = _timed(lambda: (pq.write_table(pa.Table.from_pandas(df), synced_path),
                                 _fsync(synced_path)))
        samples["base_add"].append(write + sha)
        samples["base_add_fsync"].append(synced + sha)
        samples["add"].append(_timed(lambda: bundle.add_data("df", df)))
        samples["base_get"].append(_timed(lambda: pq.read_table(path).to_pandas()) + sha)
        samples["pd_get"].append(_timed(lambda: pd.read_parquet(path)) + sha)
        samples["get"].append(_timed(lambda: bundle.get_data("df")))
    back = bundle.get_data("df")
    pd.testing.assert_frame_equal(back, df)
    size = path.stat().st_size
    label = f"DataFrame {rows:,} x 10 ({size / 1e6:.0f} MB parquet)"
    return [_row(label, "add_data", "pq.write_table + sha256", samples["add"],
                 samples["base_add"], samples["base_add_fsync"]),
            _row(label, "get_data", "pq.read_table().to_pandas() + sha256", samples["get"],
                 samples["base_get"], None, extra=("pd.read_parquet + sha256",
                                                   samples["pd_get"]))]


def bench_array(repo: Any, megabytes: int, repeat: int, scratch: Path) -> list[dict[str, Any]]:
    import numpy as np

    array = np.random.default_rng(5).random(megabytes * 1_000_000 // 8)
    bundle = repo.folio("bench/array")
    path = scratch / "array.npy"
    synced_path = scratch / "array-synced.npy"
    samples: dict[str, list[float]] = {k: [] for k in
                                       ("base_add", "base_add_fsync", "add", "base_get", "get")}
    for i in range(repeat):
        array[0] = float(i)
        write = _timed(lambda: np.save(path, array))
        data = path.read_bytes()
        sha = _sha(data)
        synced = _timed(lambda: (np.save(synced_path, array), _fsync(synced_path)))
        samples["base_add"].append(write + sha)
        samples["base_add_fsync"].append(synced + sha)
        samples["add"].append(_timed(lambda: bundle.add_data("arr", array)))
        samples["base_get"].append(_timed(lambda: np.load(path)) + sha)
        samples["get"].append(_timed(lambda: bundle.get_data("arr")))
        del data
    assert np.array_equal(bundle.get_data("arr"), array)
    label = f"ndarray float64 {megabytes} MB"
    return [_row(label, "add_data", "np.save + sha256", samples["add"], samples["base_add"],
                 samples["base_add_fsync"]),
            _row(label, "get_data", "np.load + sha256", samples["get"], samples["base_get"],
                 None)]


def _row(case: str, op: str, baseline: str, ours: list[float], base: list[float],
         base_fsync: list[float] | None,
         extra: tuple[str, list[float]] | None = None) -> dict[str, Any]:
    """Ratios of the fastest runs (the least disturbed by other load); medians kept too."""
    folio_s, base_s = min(ours), min(base)
    row: dict[str, Any] = {"case": case, "op": op, "baseline": baseline, "folio_s": folio_s,
                           "baseline_s": base_s, "ratio": folio_s / base_s,
                           "folio_median_s": statistics.median(ours),
                           "baseline_median_s": statistics.median(base),
                           "samples": {"folio": ours, "baseline": base}}
    if base_fsync is not None:
        row["baseline_fsync_s"] = min(base_fsync)
    if extra is not None:
        row["reference"] = {"name": extra[0], "s": min(extra[1])}
    return row


def bench_small_item(repo: Any) -> list[dict[str, Any]]:
    """One small item added to bundles of 10 and 1,000 items of 10 KB each."""
    import numpy as np

    out = []
    payload = np.random.default_rng(6).random(1250)  # 10 KB
    for count in (10, 1000):
        bundle = repo.folio(f"bench/small{count}")
        for i in range(count):
            bundle.add_data(f"item{i:04d}", payload + i)
        manifest = repo.manifest_path(bundle.target)
        before = manifest.stat().st_size
        times = []
        for j in range(5):
            times.append(_timed(lambda j=j, b=bundle: b.add_data(f"new{j}", {"j": j})))
        out.append({"items": count, "add_s": statistics.median(times),
                    "manifest_bytes": manifest.stat().st_size,
                    "manifest_bytes_per_item": round(before / count),
                    "payload_bytes": int(count * payload.nbytes)})
    return out


def render(rows: list[dict[str, Any]], small: list[dict[str, Any]]) -> str:
    lines = ["| case | operation | folio | baseline | ratio | medians (folio / baseline) "
             "| baseline |", "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        flag = "" if r["ratio"] <= TARGET else " (over)"
        lines.append(f"| {r['case']} | {r['op']} | {r['folio_s'] * 1000:.0f} ms | "
                     f"{r['baseline_s'] * 1000:.0f} ms | {r['ratio']:.2f}{flag} | "
                     f"{r['folio_median_s'] * 1000:.0f} / {r['baseline_median_s'] * 1000:.0f} ms"
                     f" | {r['baseline']} |")
    lines.append("")
    for r in rows:
        if "baseline_fsync_s" in r:
            lines.append(f"- {r['case']}, {r['op']}: the baseline with an fsync of its file "
                         f"takes {r['baseline_fsync_s'] * 1000:.0f} ms "
                         f"(ratio {r['folio_s'] / r['baseline_fsync_s']:.2f}).")
        if "reference" in r:
            ref = r["reference"]
            lines.append(f"- {r['case']}, {r['op']}: {ref['name']} takes "
                         f"{ref['s'] * 1000:.0f} ms (ratio {r['folio_s'] / ref['s']:.2f}).")
    lines += ["", "| bundle size | add one small item | manifest bytes | payload bytes |",
              "|---:|---:|---:|---:|"]
    for s in small:
        lines.append(f"| {s['items']:,} items | {s['add_s'] * 1000:.1f} ms | "
                     f"{s['manifest_bytes']:,} | {s['payload_bytes']:,} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--workdir", type=Path, default=Path(__file__).resolve().parent / ".work")
    ap.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    repo = _repo(args.workdir)
    scratch = Path(tempfile.mkdtemp(prefix="bench-api-scratch-", dir=args.workdir))
    try:
        rows = bench_frame(repo, args.rows, args.repeat, scratch)
        rows += bench_array(repo, args.mb, args.repeat, scratch)
        small = bench_small_item(repo)
    finally:
        subprocess.run(["rm", "-rf", str(repo.root), str(scratch)], check=False)
    print(render(rows, small))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "small": small}, indent=1))
    return 0 if all(r["ratio"] <= TARGET for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
