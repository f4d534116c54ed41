"""The typed adders and getters (DataFolio), notata's writers, and describe().

A mixin of :class:`folio.Folio`: it builds on the core primitives that bundle/_view.py
declares (``FolioCore``), so it never imports bundle/core.py.
"""

from __future__ import annotations

import json as _json
from collections.abc import Iterable
from typing import Any, TypeVar

from folio import codecs
from folio.bundle import _describe, _typed
from folio.bundle._io import stage
from folio.bundle._meta import build_meta, check_json
from folio.bundle._names import REFERENCE_TYPE, check_name, meta_of, reference_file
from folio.bundle._view import FolioCore
from folio.errors import FolioError
from folio.manifest import Entry

Inputs = Iterable[str] | str | None
FolioT = TypeVar("FolioT", bound="TypedItems")  # the Folio a chained adder returns


class TypedItems(FolioCore):
    """Mixed into :class:`folio.Folio`; every method ends in ``_put`` or ``_decode``."""

    # -- DataFolio: typed adders ----------------------------------------------------------------
    def add_table(self: FolioT, name: str, table: Any, description: str | None = None,
                  inputs: Inputs = None, *, overwrite: bool = True, **metadata: Any) -> FolioT:
        """A pandas, polars or pyarrow table, as Parquet."""
        self._put(name, table, "table", description, inputs, overwrite, metadata)
        return self

    def add_numpy(self: FolioT, name: str, array: Any, description: str | None = None,
                  inputs: Inputs = None, *, overwrite: bool = True, **metadata: Any) -> FolioT:
        """A numpy array, as .npy (never with pickle inside)."""
        self._put(name, array, "numpy", description, inputs, overwrite, metadata)
        return self

    def add_json(self: FolioT, name: str, data: Any, description: str | None = None,
                 inputs: Inputs = None, *, overwrite: bool = True, **metadata: Any) -> FolioT:
        """A JSON value (dict, list, str, number, bool, None)."""
        self._put(name, data, "json", description, inputs, overwrite, metadata)
        return self

    def add_model(self: FolioT, name: str, model: Any, description: str | None = None,
                  inputs: Inputs = None, *, init_args: dict[str, Any] | None = None,
                  weights_only: bool = True, overwrite: bool = True,
                  **metadata: Any) -> FolioT:
        """A scikit-learn estimator (pickled), or a PyTorch model.

        A torch ``nn.Module`` is stored as its state dict (loaded back with
        ``weights_only``, no trust needed) plus its class and ``init_args``, from which
        ``get_model`` rebuilds it; ``weights_only=False`` pickles the whole module instead.
        """
        if _typed.is_torch_module(model) and weights_only:
            info: dict[str, Any] = {"class": _typed.class_path(model)}
            if init_args is not None:
                if not isinstance(init_args, dict):
                    raise FolioError("init_args must be a dict of keyword arguments")
                check_json(init_args, f"init_args of {name!r}")
                info["init_args"] = init_args
            self._put(name, model.state_dict(), codecs.codec_by_name("torch-state-dict"),
                      description, inputs, overwrite, metadata, extra={"model": info})
            return self
        if init_args is not None:
            raise FolioError("init_args is for PyTorch modules stored as weights")
        self._put(name, model, "model", description, inputs, overwrite, metadata)
        return self

    def reference(self: FolioT, name: str, uri: str, description: str | None = None,
                  inputs: Inputs = None, *, overwrite: bool = True, **metadata: Any) -> FolioT:
        """Record external data by URI (s3://..., https://..., a path) without copying it.

        The item is a small ``<name>.ref.json`` file naming the URI; ``data.<name>.path``
        gives the URI; ``get_data`` reads local files (unverified: they are not folio's).
        """
        check_name(name)
        if not isinstance(uri, str) or not uri or "\x00" in uri or "\n" in uri:
            raise FolioError(f"reference {name!r}: the URI must be a non-empty one-line string")
        state = self._state()
        fields = self._fields(state, name, description, inputs, metadata)
        file = reference_file(name)
        self._check_place(state.index, name, file, overwrite)
        payload = _json.dumps({"uri": uri}, ensure_ascii=False).encode("utf-8") + b"\n"
        staged, _ = stage(self.repo.store, self.staging_dir, lambda sink: sink.write(payload))
        meta = build_meta(name, file, {}, fields, None)
        self.record_staged(name, file, staged, REFERENCE_TYPE, meta, uri=uri, overwrite=overwrite)
        return self

    # -- DataFolio: typed getters -----------------------------------------------------------------
    def get_table(self, name: str) -> Any:
        """A table item (pandas, polars or pyarrow, as written)."""
        return self._get_kind(name, "table")

    def get_numpy(self, name: str) -> Any:
        return self._get_kind(name, "array")

    def get_json(self, name: str) -> Any:
        return self._get_kind(name, "json")

    def get_model(self, name: str, model_class: Any = None,
                  allow_pickle: bool = False) -> Any:
        """A model. Torch weights stored by ``add_model`` come back as the rebuilt module:
        ``model_class(**init_args)`` (the recorded class is imported only with trust)."""
        state = self._state()
        entry = self._find(name, state)
        canonical = state.index.name_of(entry)
        self._check_kind(entry, canonical, "model")
        model = meta_of(entry).get("model")
        weights = self._decode(entry, canonical, allow_pickle)
        if entry.type != "torch-state-dict" or not isinstance(model, dict):
            return weights
        return _typed.rebuild_model(weights, model, model_class, self._trusted(allow_pickle),
                                    canonical)

    def _get_kind(self, name: str, kind: str) -> Any:
        state = self._state()
        entry = self._find(name, state)
        canonical = state.index.name_of(entry)
        self._check_kind(entry, canonical, kind)
        return self._decode(entry, canonical, False)

    def _check_kind(self, entry: Entry, name: str, kind: str) -> None:
        got = _typed.read_family(entry)
        if got != kind:
            what = f"{entry.type} item" if entry.type else "plain file"
            raise FolioError(f"item {name!r} is {_typed.ARTICLE.get(got, 'an item')} "
                             f"({what}), not {_typed.ARTICLE[kind]}; use get_data()",
                             path=self.target)

    # -- notata ---------------------------------------------------------------------------------
    def text(self: FolioT, name: str, value: str, description: str | None = None,
             **metadata: Any) -> FolioT:
        """Text, stored byte for byte as UTF-8 (``name.txt`` unless ``name`` has ``.md``...)."""
        self._put(name, value, "text", description, None, True, metadata)
        return self

    def json(self: FolioT, name: str, value: Any, description: str | None = None,
             **metadata: Any) -> FolioT:
        self._put(name, value, "json", description, None, True, metadata)
        return self

    def pickle(self: FolioT, name: str, value: Any, description: str | None = None,
               **metadata: Any) -> FolioT:
        """Any picklable value (reading it back needs ``allow_pickle=True``)."""
        self._put(name, value, "pickle", description, None, True, metadata)
        return self

    def bytes(self: FolioT, name: str, value: Any, description: str | None = None,
              **metadata: Any) -> FolioT:
        self._put(name, value, "bytes", description, None, True, metadata)
        return self

    # -- describe ---------------------------------------------------------------------------------
    def describe(self, return_string: bool = False, show_empty: bool = False,
                 max_metadata_fields: int = 10) -> str | None:
        """Items grouped by kind, with size, shape, description, lineage and metadata.

        Prints (in a notebook: displays an HTML table) unless ``return_string``.
        """
        text = _describe.render_text(self, show_empty=show_empty,
                                     max_metadata_fields=max_metadata_fields)
        if return_string:
            return text
        if _describe.in_notebook():
            from IPython.display import display

            html_text = _describe.render_html(self, show_empty=show_empty,
                                              max_metadata_fields=max_metadata_fields)
            display(_describe.Description(text, html_text))
        else:
            print(text)
        return None

    def _repr_html_(self) -> str:
        return _describe.render_html(self)

    @staticmethod
    def register_codec(codec: codecs.Codec, *, priority: int | None = None) -> None:
        """Register a codec for every bundle (same as ``folio.register_codec``)."""
        codecs.register_codec(codec, priority=priority)
