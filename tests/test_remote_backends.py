"""The contract every remote backend must pass (directory, S3 via moto, Azure via Azurite,
HTTP via a WebDAV server), plus URL parsing."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from folio.errors import MissingObjectError, RemoteError
from folio.remote import DirectoryBackend, S3Backend, open_backend
from folio.remote.base import Backend

pytest_plugins = ["s3server", "azurite", "webdav", "gcs_emulator"]

MIB = 1 << 20


class Published:
    """A directory written by folio and read over HTTP from the web server that serves it:
    the only way an http remote gets data. Writes go to the directory; every read (and so
    everything this contract checks) goes through the HTTP backend."""

    def __init__(self, directory: Backend, http: Backend) -> None:
        self._directory, self._http = directory, http
        self.put_bytes, self.put_new = directory.put_bytes, directory.put_new
        self.put_file, self.put_stream = directory.put_file, directory.put_stream
        self.delete = directory.delete
        self.describe, self.list, self.list_dated = http.describe, http.list, http.list_dated
        self.head, self.open, self.get_range = http.head, http.open, http.get_range


@pytest.fixture(params=["directory", "s3", "azure", "http", "gcs"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "directory":
        return open_backend(str(tmp_path / "remote"))
    if request.param == "http":
        server = request.getfixturevalue("webdav")
        root, url = server.fresh()
        return Published(open_backend(str(root)),  # type: ignore[return-value]
                         open_backend(url, {"allow_http": True}))
    server = request.getfixturevalue({"s3": "s3", "azure": "azurite", "gcs": "gcs"}[
        request.param])
    return open_backend(server.url(), server.options)


def read(backend: Backend, key: str) -> bytes:
    reader = backend.open(key)
    try:
        parts = []
        buf = bytearray(256 * 1024)
        while n := reader.readinto(buf):
            parts.append(bytes(buf[:n]))
        return b"".join(parts)
    finally:
        reader.close()


def keys(backend: Backend, prefix: str = "") -> dict[str, int]:
    return dict(backend.list(prefix))


def failing_chunks(good: int) -> Iterator[bytes]:
    yield os.urandom(good)
    raise RuntimeError("connection to the source lost")


# -- contract -----------------------------------------------------------------------------
def test_put_bytes_round_trips_and_lists_with_size(backend: Backend) -> None:
    backend.put_bytes("ab/cdef", b"hello remote")
    assert read(backend, "ab/cdef") == b"hello remote"
    assert keys(backend) == {"ab/cdef": 12}


def test_head_gives_the_size_or_none(backend: Backend) -> None:
    backend.put_bytes("ab/sized", b"x" * 1234)
    backend.put_bytes("ab/empty", b"")
    assert backend.head("ab/sized") == 1234
    assert backend.head("ab/empty") == 0
    assert backend.head("ab/absent") is None
    assert backend.head("zz/absent-directory") is None


def test_put_new_is_create_only(backend: Backend) -> None:
    assert backend.put_new("sets/record-1", b"first") is True
    assert backend.put_new("sets/record-1", b"second") is False  # of two writers, one wins
    assert read(backend, "sets/record-1") == b"first"


def test_list_dated_gives_each_key_its_modification_time(backend: Backend) -> None:
    before = time.time()
    backend.put_bytes("ab/dated", b"x")
    ((key, size, mtime),) = backend.list_dated("ab")
    assert (key, size) == ("ab/dated", 1)
    assert before - 5 <= mtime <= time.time() + 5  # second resolution, clocks on one host


def test_empty_remote_lists_nothing(backend: Backend) -> None:
    assert keys(backend) == {}
    assert keys(backend, "packs") == {}


def test_put_file_streams_a_multipart_sized_file(backend: Backend, tmp_path: Path) -> None:
    data = os.urandom(17 * MIB + 123)  # above the S3 part size: a real multipart upload
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    backend.put_file("packs/big.pack", src)
    assert read(backend, "packs/big.pack") == data
    assert keys(backend)["packs/big.pack"] == len(data)


def test_put_stream_joins_chunks_into_one_object(backend: Backend) -> None:
    chunks = [os.urandom(3 * MIB) for _ in range(4)]
    backend.put_stream("cd/large", iter(chunks))
    assert read(backend, "cd/large") == b"".join(chunks)


def test_failed_stream_upload_leaves_nothing_under_the_key(backend: Backend) -> None:
    with pytest.raises(RuntimeError, match="source lost"):
        backend.put_stream("ef/partial", failing_chunks(9 * MIB))  # after one full part
    with pytest.raises(RuntimeError):
        backend.put_stream("ef/tiny", failing_chunks(10))
    assert keys(backend) == {}
    with pytest.raises(MissingObjectError):
        backend.open("ef/partial")


def test_failed_upload_keeps_the_previous_object(backend: Backend) -> None:
    backend.put_bytes("ef/kept", b"old")
    with pytest.raises(RuntimeError):
        backend.put_stream("ef/kept", failing_chunks(9 * MIB))
    assert read(backend, "ef/kept") == b"old"


def test_put_replaces_an_existing_key_whole(backend: Backend) -> None:
    backend.put_bytes("k/v", b"first version")
    backend.put_bytes("k/v", b"second")
    assert read(backend, "k/v") == b"second"
    assert keys(backend) == {"k/v": 6}


def test_get_range_returns_exactly_the_slice(backend: Backend) -> None:
    data = bytes(range(256)) * 64
    backend.put_bytes("packs/r.pack", data)
    assert bytes(backend.get_range("packs/r.pack", 0, 10)) == data[:10]
    assert bytes(backend.get_range("packs/r.pack", 1000, 5000)) == data[1000:5000]
    assert bytes(backend.get_range("packs/r.pack", len(data) - 7, len(data))) == data[-7:]


def test_list_prefix_is_a_directory_not_a_string_prefix(backend: Backend) -> None:
    backend.put_bytes("packs/a.idx", b"1")
    backend.put_bytes("packsX/b", b"22")
    backend.put_bytes("ab/c", b"333")
    assert keys(backend, "packs") == {"packs/a.idx": 1}
    assert keys(backend) == {"packs/a.idx": 1, "packsX/b": 2, "ab/c": 3}


def test_delete_removes_and_tolerates_absent_keys(backend: Backend) -> None:
    backend.put_bytes("ab/gone", b"x")
    backend.delete("ab/gone")
    backend.delete("ab/never-was")
    assert keys(backend) == {}
    with pytest.raises(MissingObjectError, match="ab/gone"):
        backend.open("ab/gone")


def test_missing_key_error_names_the_remote(backend: Backend) -> None:
    with pytest.raises(MissingObjectError) as err:
        backend.open("zz/nothing")
    assert backend.describe() in str(err.value)
    assert "zz/nothing" in str(err.value)


def test_keys_that_escape_the_root_are_refused(backend: Backend) -> None:
    for bad in ("../x", "a/../../b", "/abs", "a//b", ""):
        with pytest.raises(ValueError, match="invalid remote key"):
            backend.put_bytes(bad, b"x")


# -- backend specifics ------------------------------------------------------------------------
def test_directory_leftover_temp_files_stay_invisible(tmp_path: Path) -> None:
    backend = DirectoryBackend(tmp_path / "remote")
    backend.put_bytes("ab/real", b"data")
    (tmp_path / "remote" / "ab" / ".tmp-deadbeef").write_bytes(b"half written")
    assert keys(backend) == {"ab/real": 4}
    assert oct((tmp_path / "remote" / "ab" / "real").stat().st_mode & 0o777) == "0o444"


def test_s3_unreachable_endpoint_fails_fast_with_remote_error() -> None:
    backend = open_backend("s3://bucket-x/p", {"endpoint": "http://127.0.0.1:9",
                                                "allow_http": True})
    started = time.monotonic()
    with pytest.raises(RemoteError, match=r"s3://bucket-x/p: list failed: error sending request"):
        keys(backend)
    assert time.monotonic() - started < 30


def test_s3_failed_multipart_upload_is_aborted(s3) -> None:  # type: ignore[no-untyped-def]
    url = s3.url()
    backend = open_backend(url, s3.options)
    with pytest.raises(RuntimeError):
        backend.put_stream("ab/aborted", failing_chunks(20 * MIB))
    prefix = url.split("/", 3)[3]
    pending = s3.client().list_multipart_uploads(Bucket=s3.bucket, Prefix=prefix)
    assert pending.get("Uploads", []) == []  # no hidden parts left to bill for


def test_s3_missing_bucket_is_named(s3) -> None:  # type: ignore[no-untyped-def]
    backend = open_backend("s3://no-such-bucket-folio/x", s3.options)
    with pytest.raises(RemoteError, match="NoSuchBucket"):
        keys(backend)
    with pytest.raises(RemoteError, match="NoSuchBucket"):
        backend.put_bytes("ab/c", b"x")


def test_s3_profile_credentials_come_from_aws_files(s3, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    creds = tmp_path / "credentials"
    creds.write_text("[folio-ci]\naws_access_key_id = AKFROMPROFILE\n"
                     "aws_secret_access_key = secret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    backend = open_backend(s3.url(), dict(s3.options, profile="folio-ci"))
    mark = s3.requests.mark()
    backend.put_bytes("ab/cd", b"via profile")
    assert read(backend, "ab/cd") == b"via profile"
    assert len(s3.requests.since(mark)) == 2
    with pytest.raises(RemoteError, match="no-such-profile"):
        open_backend(s3.url(), dict(s3.options, profile="no-such-profile"))


# -- URLs -----------------------------------------------------------------------------------
def test_urls_pick_the_backend(tmp_path: Path) -> None:
    s3 = open_backend("s3://my-bucket/team/data/", {"region": "eu-west-1"})
    assert isinstance(s3, S3Backend)
    assert s3.describe() == "s3://my-bucket/team/data"
    assert open_backend(f"file://{tmp_path}/r").describe() == str(tmp_path / "r")
    assert open_backend("remote-dir", base=tmp_path).describe() == str(tmp_path / "remote-dir")
    assert open_backend(str(tmp_path / "x" / ".." / "y")).describe() == str(tmp_path / "y")


@pytest.mark.parametrize(("url", "options", "message"), [
    ("ftp://host/x", {}, "unsupported remote URL scheme 'ftp'"),
    ("s3://Bad_Bucket/x", {}, "invalid S3 bucket name 'Bad_Bucket'"),
    ("s3://ab/x", {}, "invalid S3 bucket name 'ab'"),
    ("s3://bucket/a/../b", {}, "invalid S3 prefix component '..'"),
    ("s3://bucket/x?versionId=1", {}, "no ?query"),
    ("s3://bucket/x", {"endpont": "http://h"}, "unknown option(s) for an s3 remote: endpont"),
    ("s3://bucket/x", {"endpoint": "http://h:9000"}, "set allow_http = true"),
    ("s3://bucket/x", {"endpoint": "ftp://h"}, "endpoint must be an http(s) URL"),
    ("s3://bucket/x", {"allow_http": "maybe"}, "allow_http must be true or false"),
    ("s3://bucket/x", {"secret_access_key": "s"}, "never stores credentials"),
    ("file://server/share", {}, "not host 'server'"),
    ("/tmp/remote", {"region": "x"}, "directory remote takes no options"),
    ("", {}, "empty remote URL"),
])
def test_bad_urls_get_one_line_errors(url: str, options: dict[str, object], message: str) -> None:
    with pytest.raises(RemoteError) as err:
        open_backend(url, options)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_password_in_url_is_refused_and_not_echoed() -> None:
    with pytest.raises(RemoteError) as err:
        open_backend("s3://user:hunter2@bucket/x")
    assert "hunter2" not in str(err.value)
    assert "never stores credentials" in str(err.value)


def test_directory_remote_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(RemoteError, match="not a directory"):
        open_backend(str(tmp_path / "f"))
