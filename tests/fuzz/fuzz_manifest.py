"""Coverage-guided fuzzing of the manifest reader with atheris (not run by CI or pytest).

    pip install atheris
    python tests/fuzz/fuzz_manifest.py -max_total_time=300 tests/fuzz/corpus

An input is a main manifest file, then optionally two NUL bytes and one shard's bytes (the
seeds in tests/fuzz/corpus show both).
The property is the one tests/test_fuzz.py checks with hypothesis: any bytes give a
Manifest that reads back the same and names only safe paths, or a ManifestError whose
message is one line. Anything else escaping is a crash atheris reports (and saves).
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from folio import manifest as mf
    from folio.errors import ManifestError
    from folio.paths import validate_relpath
    from folio.revisions import parse_tree
    from folio.textconv import render_line  # noqa: F401  (instrumented for the tree target)


def one_input(data: bytes) -> None:
    body, _, shard = data.partition(b"\0\0")
    shards = {f"data.folio.d/{'0' * 16}.folio": shard}
    try:
        manifest = mf.parse(body, "data.folio", shards.__getitem__, "data")
    except ManifestError as exc:
        if "\n" in str(exc):
            raise AssertionError(f"multi-line error: {exc!r}") from None
    else:
        for path in manifest.entries:
            validate_relpath(path)
        files = mf.dump(manifest)
        again = mf.parse(files["data.folio"], "data.folio", files.__getitem__, "data")
        if again != manifest:
            raise AssertionError("dump and parse disagree")
    with contextlib.suppress(ManifestError):
        parse_tree({"data.folio": body, **shards}, "rev:")


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
