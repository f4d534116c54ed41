"""Bundles under load: several processes on one bundle, and cost independent of bundle size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from folio.bundle import Folio
from folio.repo import Repo

WRITER = """
import sys
import numpy as np
from folio.bundle import Folio
f = Folio(sys.argv[1])  # every writer may be the one that creates the bundle
w = int(sys.argv[2])
for j in range(100):
    f.add_data(f"w{w}/item{j:03d}", np.full(50 + j, w * 1000 + j, dtype=np.int64),
               description=f"writer {w}", writer=w)
"""

READER = """
import json, sys, time
from folio.bundle import Folio
deadline = time.time() + 240
while True:
    try:
        f = Folio(sys.argv[1], create=False)
        break
    except Exception:
        time.sleep(0.01)
seen, reads = 0, 0
while time.time() < deadline:
    names = f.keys()
    assert len(names) >= seen, (len(names), seen)
    seen = len(names)
    for name in names[-8:]:
        value = f.get_data(name)  # verified: a torn or half-written item would fail here
        w, j = int(name[1]), int(name.split("item")[1])
        assert value.shape == (50 + j,) and (value == w * 1000 + j).all(), name
        reads += 1
    if seen == 400:
        break
    time.sleep(0.01)
print(json.dumps({"seen": seen, "reads": reads}))
"""


def _spawn(script: str, *args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-W", "error::folio.BundleWarning", "-c", script,
                             *args], cwd=cwd, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def test_four_processes_add_100_items_each_to_one_bundle(repo: Repo) -> None:
    root = repo.root
    reader = _spawn(READER, "experiments/shared", cwd=root)
    writers = [_spawn(WRITER, "experiments/shared", str(w), cwd=root) for w in range(4)]
    for proc in writers:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    out, err = reader.communicate(timeout=240)
    assert reader.returncode == 0, err
    report = json.loads(out)
    assert report["seen"] == 400 and report["reads"] > 0

    manifest = Repo(root).read_manifest("experiments/shared")  # parses: the manifest is valid
    assert len(manifest.entries) == 400
    f = Folio("experiments/shared", create=False)
    assert sorted(f.keys()) == sorted(f"w{w}/item{j:03d}" for w in range(4) for j in range(100))
    for w in range(4):
        for j in (0, 57, 99):
            np.testing.assert_array_equal(f[f"w{w}/item{j:03d}"], np.full(50 + j, w * 1000 + j))
    assert f.info("w3/item099").user == {"writer": 3}
    [status] = repo.status(["experiments/shared"])
    assert status.clean
    assert not [p for p in repo.store.staging.rglob(".tmp-*") if p.is_file()]


def _files(root: Path) -> dict[str, tuple[int, int, int]]:
    out = {}
    for dirpath, _, names in os.walk(root):
        if ("/.git" in dirpath or dirpath.endswith("/.git")) and "/.git/folio" not in dirpath:
            continue  # git's own files; folio's local parts (.git/folio) are counted
        for name in names:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            out[os.path.relpath(path, root)] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return out


def test_adding_one_item_costs_the_same_in_a_bundle_of_10_or_1000(repo: Repo,
                                                                  capsys: object) -> None:
    payload = np.random.default_rng(7).random(1250)  # 10 KB per item
    results = {}
    for count in (10, 1000):
        f = repo.folio(f"bundles/b{count}")
        with f.batch():
            for i in range(count):
                f.add_data(f"item{i:04d}", payload + i)
        time.sleep(0.05)  # let the background unlinks of nothing settle
        before = _files(repo.root)
        start = time.perf_counter()
        f.add_data("one_more", {"small": True})
        elapsed = time.perf_counter() - start
        after = _files(repo.root)
        written = {p: after[p][2] for p in after if before.get(p) != after[p]}
        objects = [p for p in written if p.startswith(".git/folio/objects/")]
        work = [p for p in written if not p.startswith((".folio/", ".git/"))]
        manifests = [p for p in written if p.startswith(".folio/manifests/")]
        assert work == [f"bundles/b{count}/one_more.json"]
        assert len(objects) == 1 and manifests == [f".folio/manifests/bundles/b{count}.folio"]
        others = set(written) - {*objects, *work, *manifests, ".git/folio/lock.info"}
        assert not others, others
        total = sum(written.values())
        payloads = count * payload.nbytes
        # Only the manifest grows with the bundle: a few hundred bytes per item, never the
        # items' payloads (10 KB each).
        assert total < 400 * (count + 10)
        results[count] = (elapsed, total, payloads)
    assert results[1000][1] < results[1000][2] / 25
    for count, (elapsed, total, payloads) in results.items():
        print(f"add one small item to a bundle of {count:>5} items: {elapsed * 1000:6.1f} ms, "
              f"{total:>8,} bytes written (payloads in the bundle: {payloads:,} bytes)")
