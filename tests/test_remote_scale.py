"""Remotes at scale (issue 19): push records instead of full listings, and remote gc.

Real CLI in subprocesses, real git, moto's S3 server (requests counted at the server) and
directory remotes.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import git, run_folio, write

from folio.remote import records
from folio.repo import Repo

pytest_plugins = ["s3server"]


def make_files(root: Path, folder: str, count: int, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(count):
        write(root / folder / f"f{i:05d}.bin", rng.randbytes(rng.randint(20, 200)))


def folio_json(cwd: Path, *args: str) -> dict:  # type: ignore[type-arg]
    proc = run_folio(cwd, *args, "--json", check=True)
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def add_s3(root: Path, s3, name: str = "s3", url: str | None = None) -> str:  # type: ignore[no-untyped-def]
    url = url or s3.url()
    run_folio(root, "remote", "add", name, url, "--endpoint", s3.endpoint, "--allow-http",
              check=True)
    return url


def pushed_to_nas(repo: Repo, nas: Path, count: int, seed: int) -> None:
    """``count`` small files under data/, added and pushed to a directory remote "nas"."""
    make_files(repo.root, "data", count, seed=seed)
    repo.add(["data"])
    run_folio(repo.root, "remote", "add", "nas", str(nas), check=True)
    folio_json(repo.root, "push")


def keys(nas: Path) -> set[str]:
    return {p.relative_to(nas).as_posix() for p in nas.rglob("*")
            if p.is_file() and not p.name.startswith(".")}


def data_keys(nas: Path) -> set[str]:
    return {k for k in keys(nas) if not k.startswith("sets/")}


def assert_verified(root: Path, remote: str) -> None:
    proc = run_folio(root, "verify", "--remote", remote, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["not_on_remote"] == [] or report["not_on_remote"] == {}, report


# -- no full listing per push ---------------------------------------------------------------
def test_a_no_op_push_takes_at_most_3_requests_on_a_remote_of_2000_objects(
        repo: Repo, s3) -> None:  # type: ignore[no-untyped-def]
    root = repo.root
    make_files(root, "data", 2000, seed=1)
    repo.add(["data"])
    repo.snapshot("v1")
    add_s3(root, s3)
    first = folio_json(root, "push")
    assert first["moved"] == 2000
    mark = s3.requests.mark()
    again = folio_json(root, "push")
    sent = s3.requests.since(mark)
    assert again["moved"] == 0 and again["skipped"] == 2000
    assert len(sent) <= 3, sent
    assert all(method == "GET" for method, _ in sent), sent  # a LIST of one record prefix
    # The same objects named by one more snapshot are another set: a full push check again,
    # after which that set, too, is one request.
    repo.snapshot("v2")
    folio_json(root, "push")
    mark = s3.requests.mark()
    assert folio_json(root, "push")["moved"] == 0
    assert len(s3.requests.since(mark)) <= 3


def test_a_push_trusts_a_record_another_clone_wrote(repo: Repo, tmp_path: Path, s3) -> None:  # type: ignore[no-untyped-def]
    make_files(repo.root, "data", 300, seed=2)
    repo.add(["data"])
    url = add_s3(repo.root, s3)
    assert folio_json(repo.root, "push")["moved"] == 300

    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    make_files(other, "data", 300, seed=2)  # the same data, tracked in another clone
    run_folio(other, "init", check=True)
    run_folio(other, "add", "data", check=True)
    add_s3(other, s3, url=url)
    mark = s3.requests.mark()
    pushed = folio_json(other, "push")
    assert pushed["moved"] == 0 and pushed["skipped"] == 300
    assert len(s3.requests.since(mark)) <= 3
    assert_verified(other, "s3")


def test_an_old_remote_without_records_still_works(repo: Repo, tmp_path: Path) -> None:
    root = repo.root
    nas = tmp_path / "nas"
    pushed_to_nas(repo, nas, 50, seed=3)
    records_before = {k for k in keys(nas) if k.startswith("sets/")}
    assert len(records_before) == 1
    for key in records_before:  # as a remote written before records existed
        (nas / key).unlink()
    again = folio_json(root, "push")  # falls back to listing: nothing to send
    assert again["moved"] == 0 and again["skipped"] == 50
    assert len({k for k in keys(nas) if k.startswith("sets/")}) == 1  # and records it now
    assert_verified(root, "nas")


def test_a_record_names_exactly_the_pushed_set(repo: Repo, tmp_path: Path) -> None:
    nas = tmp_path / "nas"
    make_files(repo.root, "data", 10, seed=4)
    repo.add(["data"])
    run_folio(repo.root, "remote", "add", "nas", str(nas), check=True)
    folio_json(repo.root, "push")
    (key,) = [k for k in keys(nas) if k.startswith("sets/")]
    oids = records.decode((nas / key).read_bytes(), key)
    assert oids == sorted(e.sha256 for m in repo.manifests().values() for e in m.entries.values())
    assert key.split("/")[1] == records.set_id(oids)
    with pytest.raises(Exception, match="version"):
        records.decode(b'{"folio-set": 9, "objects": 0}\n', key)


def full_listings(sent: list[tuple[str, str]], url: str) -> list[str]:
    """The LIST requests among ``sent`` that were not of ``sets/`` or ``packs/``."""
    from urllib.parse import parse_qs, urlparse

    root = url.split("/", 3)[3]
    out = []
    for method, path in sent:
        query = parse_qs(urlparse(path).query)
        if method == "GET" and "list-type" in query:
            prefix = query.get("prefix", [""])[0]
            if not (prefix.startswith(f"{root}/sets") or prefix.startswith(f"{root}/packs")):
                out.append(path)
    return out


def test_a_push_of_a_new_snapshot_and_a_pull_never_list_the_whole_remote(
        repo: Repo, tmp_path: Path, s3) -> None:  # type: ignore[no-untyped-def]
    root = repo.root
    make_files(root, "data", 500, seed=11)
    write(root / "data/big.bin", os.urandom((1 << 20) + 11))  # travels loose
    repo.add(["data"])
    repo.snapshot("v1")
    url = add_s3(root, s3)
    folio_json(root, "push")
    for i in range(5):  # 1 % changed, then a new snapshot: a set nobody pushed
        write(root / f"data/f{i:05d}.bin", f"changed {i}".encode())
    repo.add(["data"])
    repo.snapshot("v2")
    mark = s3.requests.mark()
    pushed = folio_json(root, "push")
    sent = s3.requests.since(mark)
    assert pushed["moved"] == 5 and pushed["skipped"] == 501
    assert full_listings(sent, url) == [], sent
    assert not [p for m, p in sent if m == "HEAD"], sent  # the big object: a fresh record
    assert len(sent) <= 8, sent  # LIST sets/<id>, LIST sets/, LIST packs/, 2 PUTs, record
    # Record bodies are cached: the next new set reads none of them again.
    write(root / "data/f00009.bin", b"once more")
    repo.add(["data"])
    mark = s3.requests.mark()
    assert folio_json(root, "push")["moved"] == 1
    sent = s3.requests.since(mark)
    bodies = [p for m, p in sent if m == "GET" and "/sets/" in p and "list-type" not in p]
    assert bodies == [] and full_listings(sent, url) == [], sent

    clone = tmp_path / "clone"
    clone.mkdir()
    git(clone, "init", "-q")
    run_folio(clone, "init", check=True)
    add_s3(clone, s3, url=url)
    manifests = root / ".folio" / "manifests"
    for path in manifests.rglob("*.folio"):
        write(clone / ".folio" / "manifests" / path.relative_to(manifests), path.read_bytes())
    mark = s3.requests.mark()
    pulled = folio_json(clone, "pull")
    sent = s3.requests.since(mark)
    assert pulled["moved"] == 501
    assert full_listings(sent, url) == [], sent
    assert (clone / "data/big.bin").read_bytes() == (root / "data/big.bin").read_bytes()
    assert_verified(root, "s3")


def age_records(nas: Path) -> None:
    """Every record as if written three days ago: past the trust window."""
    old = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 3 * records.TRUST))
    for i, key in enumerate(sorted(k for k in keys(nas) if k.startswith("sets/"))):
        (nas / key).rename(nas / f"{key.rsplit('/', 1)[0]}/{old}-{i:08x}")


def test_a_push_heads_a_large_object_only_a_stale_record_names(repo: Repo, tmp_path: Path) -> None:
    """Past the trust window a record is a hint: a HEAD confirms, a blind skip never."""
    root = repo.root
    nas = tmp_path / "nas"
    big = os.urandom((1 << 20) + 12)
    write(root / "data/big.bin", big)
    repo.add(["data"])
    run_folio(root, "remote", "add", "nas", str(nas), check=True)
    folio_json(root, "push")
    age_records(nas)
    write(root / "data/small.bin", b"new")
    repo.add(["data"])
    again = folio_json(root, "push")
    assert again["moved"] == 1 and again["skipped"] == 1  # the big object was HEADed
    oid = next(e.sha256 for m in repo.manifests().values() for p, e in m.entries.items()
               if p.endswith("big.bin"))
    (nas / f"{oid[:2]}/{oid[2:]}").unlink()  # gone, though a (stale) record names it
    age_records(nas)
    write(root / "data/small.bin", b"newer")
    repo.add(["data"])
    third = folio_json(root, "push")
    assert third["moved"] == 2  # the HEAD found it missing: sent again
    assert_verified(root, "nas")


def test_records_are_format_2_and_format_1_is_still_read(tmp_path: Path) -> None:
    ids = sorted(__import__("hashlib").sha256(bytes([i])).hexdigest() for i in range(100))
    body = records.encode(ids)
    assert body.startswith(b'{"folio-set": 2, "objects": 100}\n')
    assert len(body) < 100 * 33 + 100  # 32 raw bytes an id, not 65 of text
    assert records.decode(body, "k") == ids
    v1 = ('{"folio-set": 1, "objects": 100}\n' + "".join(o + "\n" for o in ids)).encode()
    assert records.decode(v1, "k") == ids
    for damaged in (body[:-1], body[:40] + b"x" + body[41:]):
        with pytest.raises(Exception, match="truncated or damaged"):
            records.decode(damaged, "k")
    cache = records.RecordCache(tmp_path, tmp_path / "cache")
    nas = tmp_path / "nas"
    from folio.remote import DirectoryBackend

    backend = DirectoryBackend(nas)
    key = records.write(backend, ids, cache=cache)
    assert cache.get(key) == ids
    known = records.survey(backend, records.RecordCache())
    assert known.fresh == set(ids) and known.records == 1
    (tmp_path / "cache" / key.split("/", 1)[1]).write_bytes(b"junk")  # damaged: read again
    assert records.read(backend, key, cache) == ids and cache.get(key) == ids
    assert backend.head(key) == len(body) and backend.head("ab/" + "c" * 62) is None
    # A format 1 record (an older folio's) vouches just the same.
    old_key = key.rsplit("-", 1)[0] + "-00000001"
    write(nas / old_key, v1)
    assert records.survey(backend, records.RecordCache()).records == 2
    (nas / key).unlink()
    assert records.survey(backend, records.RecordCache()).fresh == set(ids)


def test_head_on_s3(s3) -> None:  # type: ignore[no-untyped-def]
    from folio.remote import S3Backend

    bucket, prefix = s3.url().split("/", 3)[2:]
    backend = S3Backend(bucket, prefix, endpoint=s3.endpoint, allow_http=True)
    backend.put_bytes("ab/cd", b"12345")
    mark = s3.requests.mark()
    assert backend.head("ab/cd") == 5 and backend.head("ab/ce") is None
    assert [m for m, _ in s3.requests.since(mark)] == ["HEAD", "HEAD"]


# -- remote gc -------------------------------------------------------------------------------
@pytest.fixture
def two_generations(repo: Repo, tmp_path: Path) -> tuple[Repo, Path, set[str], set[str]]:
    """Data pushed, then every file changed and pushed again (no snapshot names the first
    generation): its keys are unreachable. Returns the repo, the remote and the keys of each
    push."""
    root = repo.root
    nas = tmp_path / "nas"
    make_files(root, "data", 40, seed=5)
    write(root / "data/big.bin", os.urandom((1 << 20) + 5))  # travels loose
    repo.add(["data"])
    run_folio(root, "remote", "add", "nas", str(nas), check=True)
    folio_json(root, "push")
    first = data_keys(nas)
    make_files(root, "data", 40, seed=6)
    write(root / "data/big.bin", os.urandom((1 << 20) + 6))
    repo.add(["data"])
    folio_json(root, "push")
    second = data_keys(nas) - first
    return repo, nas, first, second


def test_remote_gc_removes_exactly_the_unreachable_half(two_generations) -> None:  # type: ignore[no-untyped-def]
    repo, nas, first, second = two_generations
    root = repo.root
    before = keys(nas)
    dry = folio_json(root, "gc", "--remote", "nas", "--grace", "0", "--dry-run")
    assert keys(nas) == before  # a dry run deletes nothing
    assert dry["dry_run"] and len(dry["packs"]) >= 1 and len(dry["loose"]) == 1
    text = run_folio(root, "gc", "--remote", "nas", "--grace", "0", "--dry-run", check=True)
    assert "would remove pack" in text.stdout
    done = folio_json(root, "gc", "--remote", "nas", "--grace", "0")
    assert data_keys(nas) == second  # v1's packs and loose object gone, v2's untouched
    assert {k for k in keys(nas) if k.startswith("sets/")} == set()  # old records too
    assert {f"packs/{p['pack']}.pack" for p in done["packs"]} == {
        k for k in first if k.endswith(".pack")}
    assert done["freed_bytes"] > 0 and done["kept"] == 41
    assert_verified(root, "nas")
    again = folio_json(root, "gc", "--remote", "nas", "--grace", "0")  # nothing left to do
    assert again["packs"] == [] and again["loose"] == [] and again["records"] == []
    # After gc the next push finds nothing to send (by listing) and records again.
    assert folio_json(root, "push")["moved"] == 0


def test_grace_protects_objects_a_push_just_sent(two_generations) -> None:  # type: ignore[no-untyped-def]
    repo, nas, first, second = two_generations
    root = repo.root
    before = keys(nas)
    done = folio_json(root, "gc", "--remote", "nas", "--grace", "1h")
    assert keys(nas) == before  # the first generation is unreachable but was pushed just now
    assert done["packs"] == [] and done["loose"] == [] and done["records"] == []
    # Keys that look old are still spared while a young push record names them.
    past = time.time() - 7200
    for key in data_keys(nas):
        os.utime(nas / key, (past, past))
    done = folio_json(root, "gc", "--remote", "nas", "--grace", "1h")
    assert keys(nas) == before and done["packs"] == [] and done["loose"] == []
    # Without records (a push from an older folio), LastModified alone protects them.
    now = time.time()
    for key in keys(nas):
        if key.startswith("sets/"):
            (nas / key).unlink()
        else:
            os.utime(nas / key, (now, now))
    done = folio_json(root, "gc", "--remote", "nas", "--grace", "1h")
    assert data_keys(nas) == first | second and done["young"] > 0
    out = run_folio(root, "gc", "--remote", "nas", "--grace", "1h", check=True).stdout
    assert "younger than the grace period" in out
    for key in data_keys(nas):  # ...until they are older than the grace
        os.utime(nas / key, (past, past))
    folio_json(root, "gc", "--remote", "nas", "--grace", "1h")
    assert data_keys(nas) == second
    assert_verified(root, "nas")


@pytest.fixture
def mostly_dead_pack(repo: Repo, tmp_path: Path) -> tuple[Repo, Path, str]:
    """One pack of 40 objects pushed, then 30 of its files changed and pushed: 10 of the
    first pack's 40 objects stay live. Returns the repo, the remote and that pack's key."""
    root = repo.root
    nas = tmp_path / "nas"
    pushed_to_nas(repo, nas, 40, seed=12)
    (first,) = [k for k in keys(nas) if k.endswith(".pack")]
    for i in range(30):
        write(root / f"data/f{i:05d}.bin", f"second generation {i}".encode())
    repo.add(["data"])
    folio_json(root, "push")
    return repo, nas, first


def test_remote_gc_repacks_a_pack_that_is_mostly_dead(mostly_dead_pack) -> None:  # type: ignore[no-untyped-def]
    repo, nas, first = mostly_dead_pack
    root = repo.root
    before = data_keys(nas)
    kept = folio_json(root, "gc", "--remote", "nas", "--grace", "0", "--repack-below", "20")
    assert kept["repacked"] == [] and kept["partial_packs"][0]["live"] == 10
    assert data_keys(nas) == before
    assert first in keys(nas)
    dry = folio_json(root, "gc", "--remote", "nas", "--grace", "0", "--dry-run")
    assert [(p["pack"], p["live"], p["objects"]) for p in dry["repacked"]] == [
        (first[6:-5], 10, 40)]
    text = run_folio(root, "gc", "--remote", "nas", "--grace", "0", "--dry-run",
                     check=True).stdout
    assert "would repack pack" in text and "Would repack 1 pack" in text
    done = folio_json(root, "gc", "--remote", "nas", "--grace", "0")
    assert len(done["repacked"]) == 1 and len(done["new_packs"]) == 1
    assert first not in keys(nas) and first.replace(".pack", ".idx") not in keys(nas)
    (new,) = [p["pack"] for p in done["new_packs"]]
    assert (nas / f"packs/{new}.pack").stat().st_size == done["new_packs"][0]["size"]
    assert done["freed_bytes"] > 0
    assert_verified(root, "nas")
    again = folio_json(root, "gc", "--remote", "nas", "--grace", "0")
    assert again["repacked"] == [] and again["partial_packs"] == []
    # Every object is still fetchable: into an empty store, from the repacked remote.
    import shutil

    shutil.rmtree(repo.store.root)
    assert folio_json(root, "pull")["moved"] == 40
    run_folio(root, "verify", check=True)


def test_a_repack_killed_after_the_new_packs_data_finishes_on_rerun(
        mostly_dead_pack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The rerun publishes the same new pack again; the data a killed run left for it was
    listed as debris, and must not be deleted once it is published (a bug trials found)."""
    import shutil

    repo, nas, _ = mostly_dead_pack
    root = repo.root
    rehearsal = tmp_path / "rehearsal"
    shutil.copytree(nas, rehearsal)
    git_config = ["remote", "add", "rehearsal", str(rehearsal)]
    run_folio(root, *git_config, check=True)
    (new,) = [p["pack"] for p in folio_json(root, "gc", "--remote", "rehearsal", "--grace",
                                            "0")["new_packs"]]
    shutil.copy(rehearsal / f"packs/{new}.pack", nas / f"packs/{new}.pack")  # data, no index
    done = folio_json(root, "gc", "--remote", "nas", "--grace", "0")
    assert [p["pack"] for p in done["new_packs"]] == [new]
    assert {f"packs/{new}.pack", f"packs/{new}.idx"} <= keys(nas)
    assert_verified(root, "nas")


def test_remote_gc_repack_bad_input(repo: Repo) -> None:
    proc = run_folio(repo.root, "gc", "--repack-below", "30")
    assert proc.returncode == 2 and "--remote" in proc.stderr
    proc = run_folio(repo.root, "gc", "--remote", "x", "--repack-below", "130")
    assert proc.returncode == 2 and "130" in proc.stderr


def test_remote_gc_drops_a_record_whose_objects_went_so_a_push_repairs(
        repo: Repo, tmp_path: Path) -> None:
    """Two gcs or a gc and a push racing can leave a record naming a deleted object."""
    root = repo.root
    nas = tmp_path / "nas"
    make_files(root, "data", 30, seed=10)
    repo.add(["data"])
    run_folio(root, "remote", "add", "nas", str(nas), check=True)
    folio_json(root, "push")
    pack = next(k for k in keys(nas) if k.endswith(".pack"))
    (nas / pack).unlink()
    (nas / pack.replace(".pack", ".idx")).unlink()
    assert folio_json(root, "push")["moved"] == 0  # the young record is trusted...
    done = folio_json(root, "gc", "--remote", "nas", "--grace", "1h")
    assert len(done["false_records"]) == 1 and done["records"] == []
    assert not any(k.startswith("sets/") for k in keys(nas))
    assert folio_json(root, "push")["moved"] > 0  # ...until gc drops it: now it is resent
    assert_verified(root, "nas")


def test_remote_gc_keeps_what_a_ref_on_the_git_remote_names(repo: Repo, tmp_path: Path) -> None:
    """A snapshot only the git remote has (pushed by another clone) is a root."""
    root = repo.root
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(root, "remote", "add", "origin", str(origin))
    nas = tmp_path / "nas"
    make_files(root, "data", 30, seed=7)
    repo.add(["data"])
    repo.snapshot("v1")
    run_folio(root, "remote", "add", "nas", str(nas), check=True)
    folio_json(root, "push")
    git(root, "push", "-q", "origin", "refs/folio/*:refs/folio/*")
    before = data_keys(nas)
    git(root, "update-ref", "-d", "refs/folio/snapshots/v1")  # gone here, still on origin
    make_files(root, "data", 30, seed=8)
    repo.add(["data"])
    folio_json(root, "push")
    folio_json(root, "gc", "--remote", "nas", "--grace", "0")
    assert before <= data_keys(nas)  # v1's objects stay: origin's v1 names them
    assert_verified(root, "nas")


def test_remote_gc_refuses_without_the_git_remotes_refs(repo: Repo, tmp_path: Path) -> None:
    root = repo.root
    git(root, "remote", "add", "origin", str(tmp_path / "no-such.git"))
    run_folio(root, "remote", "add", "nas", str(tmp_path / "nas"), check=True)
    proc = run_folio(root, "gc", "--remote", "nas", "--grace", "0")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "refs/folio/*" in proc.stderr


def test_remote_gc_bad_input(repo: Repo) -> None:
    proc = run_folio(repo.root, "gc", "--remote", "nosuch")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "nosuch" in proc.stderr
    proc = run_folio(repo.root, "gc", "--remote", "nosuch", "--grace", "soon")
    assert proc.returncode == 2 and "invalid duration" in proc.stderr


def test_sigkill_during_remote_gc_then_a_rerun_finishes(repo: Repo, s3) -> None:  # type: ignore[no-untyped-def]
    root = repo.root
    make_files(root, "data", 100, seed=9)
    repo.add(["data"])
    url = add_s3(root, s3)
    folio_json(root, "push")
    # Dead loose objects (as an older folio or another tool left them), many enough that
    # the gc is still deleting when it is killed.
    prefix = url.split("/", 3)[3]
    client = s3.client()
    dead = []
    for i in range(400):
        body = f"dead object {i}".encode()
        oid = __import__("hashlib").sha256(body).hexdigest()
        client.put_object(Bucket=s3.bucket, Key=f"{prefix}/{oid[:2]}/{oid[2:]}", Body=body)
        dead.append(oid)
    cmd = [sys.executable, "-m", "folio.cli", "gc", "--remote", "s3", "--grace", "0"]
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(random.uniform(0.5, 2.0))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = folio_json(root, "gc", "--remote", "s3", "--grace", "0")
    assert set(o for o in dead) >= {e["oid"] for e in done["loose"]}
    listed = {o["Key"] for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=s3.bucket, Prefix=prefix + "/") for o in page.get("Contents", [])}
    assert not any(f"{prefix}/{o[:2]}/{o[2:]}" in listed for o in dead)
    assert any(k.startswith(f"{prefix}/packs/") for k in listed)  # the live packs stay
    assert_verified(root, "s3")
