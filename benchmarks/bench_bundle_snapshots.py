"""Benchmark bundle snapshots and typed plain values (issue 16): what they cost a user.

Usage: python benchmarks/bench_bundle_snapshots.py [--items 1000] [--entries 100000]

In a fresh git repository in a temporary directory: a bundle of ``--items`` small items,
then create_snapshot, list_snapshots (5 snapshots), at() and compare_snapshots (fastest of
5 runs each); and a dict of ``--entries`` int keys -> (int, datetime) through the
typed-json encoding against pickle, plus what the typed-json walk adds to choosing the codec
of a plain JSON dict of that size.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any


def best(fn: Callable[[], Any], n: int = 5) -> float:
    """Milliseconds of the fastest of ``n`` runs."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args()

    import folio
    from folio import codecs
    from folio.codecs.typed_json import decode_value, encode_value, needs_tags

    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        subprocess.run(["git", "init", "-q"], check=True)
        folio.Repo.init(".")
        f = folio.Folio("exp")
        with f.batch():
            for i in range(args.items):
                f[f"item{i:05d}"] = {"i": i}
        names = iter(range(1000))
        rows = [
            (f"create_snapshot, bundle of {args.items} items",
             best(lambda: f.create_snapshot(f"v{next(names)}"))),
            ("list_snapshots (5 snapshots)", best(f.list_snapshots)),
            ("at('v0'): a snapshot view", best(lambda: f.at("v0"))),
            (f"compare_snapshots('v0', 'v1'), {args.items} items unchanged",
             best(lambda: f.compare_snapshots("v0", "v1"))),
        ]
        os.chdir("/")
    n = args.entries
    plain = {str(i): [i, float(i), "x"] for i in range(n)}
    typed = {i: (i, datetime(2026, 1, 1, tzinfo=timezone.utc)) for i in range(n)}
    text = json.dumps(encode_value(typed))
    blob = pickle.dumps(typed, protocol=5)
    rows += [
        (f"codec_for_object, plain JSON dict of {n}", best(lambda: codecs.codec_for_object(plain))),
        ("  of which the typed-json walk", best(lambda: needs_tags(plain))),
        (f"typed-json encode, {n} int keys -> (int, datetime)",
         best(lambda: json.dumps(encode_value(typed)))),
        ("typed-json decode, same", best(lambda: decode_value(json.loads(text)))),
        ("pickle dumps, same", best(lambda: pickle.dumps(typed, protocol=5))),
        ("pickle loads, same", best(lambda: pickle.loads(blob))),
    ]
    for label, ms in rows:
        print(f"{label:60s} {ms:8.1f} ms")
    print(f"{'sizes: typed-json / pickle':60s} {len(text):,} / {len(blob):,} bytes")


if __name__ == "__main__":
    main()
