"""Item families (table, array, json...), codecs for plain files, and model rebuilding.

Typed items carry their codec's name as the entry ``type``. Plain files (tracked by
``folio add``, written through a path handle, or by ``track()``) have no type: they are read
with the codec their extension names (``.parquet`` a table, ``.npy`` an array, ``.json``
JSON...), and as bytes when none does. The codec's trust rule applies either way.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from folio.bundle._names import REFERENCE_TYPE, has_extension
from folio.codecs import Codec, codec_by_name, registered_codecs
from folio.codecs.base import extensions_of
from folio.errors import CodecError, FolioError
from folio.manifest import Entry

FAMILY_OF = {
    "pandas": "table", "polars": "table", "arrow": "table",
    "numpy": "array", "torch-tensor": "array",
    "json": "json", "jsonl": "json", "typed-json": "json",
    "text": "text",
    "sklearn": "model", "torch-state-dict": "model", "torch-model": "model",
    "custom-model": "model",
    "bytes": "bytes",
    "pickle": "object",
    REFERENCE_TYPE: "reference",
}
# describe() order and headings
GROUPS = (("table", "Tables"), ("array", "Arrays"), ("json", "JSON"), ("text", "Text"),
          ("model", "Models"), ("object", "Objects (pickle)"), ("bytes", "Bytes"),
          ("reference", "References"), ("file", "Files"), ("other", "Other"))
ARTICLE = {"table": "a table", "array": "an array", "json": "a JSON value", "text": "text",
           "model": "a model", "object": "a pickled object", "bytes": "bytes",
           "reference": "an external reference", "file": "a plain file", "other": "an item"}

# Which codec reads a plain file whose extension several codecs claim.
_FILE_PREFERENCE = ("pandas", "arrow", "polars", "numpy", "json", "jsonl", "text",
                    "torch-state-dict", "pickle")


def family(entry: Entry) -> str:
    if entry.type is None:
        return "file"
    return FAMILY_OF.get(entry.type, "other")


def read_family(entry: Entry) -> str:
    """The family an item reads back as (a plain file: the family of its extension)."""
    if entry.type is not None:
        return family(entry)
    codec = codec_for_file(entry.path)
    return FAMILY_OF.get(codec.name, "other") if codec.name != "bytes" else "file"


def codec_for_file(path: str) -> Codec:
    """The codec that reads a plain file, chosen by its extension; bytes otherwise."""
    matches = [codec for codec in registered_codecs() if has_extension(path, extensions_of(codec))]
    ranked = sorted(matches, key=lambda c: (_rank(c.name), matches.index(c)))
    for codec in ranked:
        if codec.name != "pandas" or importlib.util.find_spec("pandas") is not None:
            return codec
    return codec_by_name("bytes")


def _rank(name: str) -> int:
    return _FILE_PREFERENCE.index(name) if name in _FILE_PREFERENCE else len(_FILE_PREFERENCE)


# -- models -------------------------------------------------------------------------------------

def is_torch_module(obj: object) -> bool:
    return any(cls.__qualname__ == "Module" and cls.__module__.startswith("torch.nn")
               for cls in type(obj).__mro__)


def class_path(obj: object) -> str:
    cls = type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


def import_class(path: str) -> Any:
    """``module:Qual.Name`` -> the class (importing the module runs its code: trust needed)."""
    module_name, _, qualname = path.partition(":")
    if not module_name or not qualname:
        raise CodecError(f"recorded model class {path!r} is not 'module:QualName'")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise CodecError(f"cannot import the recorded model class {path!r}: {exc}; "
                         "pass model_class=") from exc
    return target


def rebuild_model(state: Any, info: dict[str, Any], model_class: Any, trusted: bool,
                  name: str) -> Any:
    """A torch module rebuilt from a state dict: ``model_class(**init_args)``, then weights."""
    recorded = info.get("class")
    init_args = info.get("init_args") or {}
    if not isinstance(init_args, dict):
        raise CodecError(f"item {name!r}: recorded init_args are not a dict")
    if model_class is None:
        if not trusted:
            raise FolioError(
                f"item {name!r} holds the weights of {recorded}; pass model_class= to rebuild "
                "it (or allow_pickle=True to import the recorded class), or read the state "
                "dict with get_data()")
        model_class = import_class(str(recorded))
    try:
        model = model_class(**init_args)
        model.load_state_dict(state)
    except Exception as exc:
        raise CodecError(f"item {name!r}: cannot rebuild {recorded} from its weights: "
                         f"{type(exc).__name__}: {' '.join(str(exc).split())}") from exc
    return model
