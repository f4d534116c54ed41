"""The typed adders and getters (DataFolio), notata's writers, and describe().

A mixin of :class:`folio.Folio`: it builds on the core primitives that bundle/_view.py
declares (``FolioCore``), so it never imports bundle/core.py.
"""

from __future__ import annotations

import json as _json
import os
from collections.abc import Iterable
from typing import Any, TypeVar

from folio import codecs
from folio.bundle import _describe, _external, _typed
from folio.bundle._io import stage
from folio.bundle._meta import build_meta, check_json
from folio.bundle._names import REFERENCE_TYPE, check_name, meta_of, reference_file
from folio.bundle._view import FolioCore
from folio.codecs import external_table
from folio.errors import ArgumentError, ArgumentTypeError
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
                  weights_only: bool = True, custom: bool = False,
                  hyperparameters: dict[str, Any] | None = None, overwrite: bool = True,
                  **metadata: Any) -> FolioT:
        """A scikit-learn estimator (pickled), a PyTorch model, or (``custom=True``) any
        picklable object through joblib (pickle without joblib); loading needs trust.

        A torch ``nn.Module`` is stored as its state dict (loaded back with
        ``weights_only``, no trust needed) plus its class and ``init_args``, from which
        ``get_model`` rebuilds it; ``weights_only=False`` pickles the whole module instead.
        ``hyperparameters`` (JSON values) are kept in the item's metadata.
        """
        if hyperparameters is not None:
            if not isinstance(hyperparameters, dict):
                raise ArgumentTypeError("hyperparameters must be a dict of JSON values")
            metadata = {**metadata, "hyperparameters": hyperparameters}
        if custom:
            if init_args is not None:
                raise ArgumentError("init_args is for PyTorch modules stored as weights")
            self._put(name, model, "custom-model", description, inputs, overwrite, metadata)
            return self
        if _typed.is_torch_module(model) and weights_only:
            info: dict[str, Any] = {"class": _typed.class_path(model)}
            if init_args is not None:
                if not isinstance(init_args, dict):
                    raise ArgumentTypeError("init_args must be a dict of keyword arguments")
                check_json(init_args, f"init_args of {name!r}")
                info["init_args"] = init_args
            self._put(name, model.state_dict(), codecs.codec_by_name("torch-state-dict"),
                      description, inputs, overwrite, metadata, extra={"model": info})
            return self
        if init_args is not None:
            raise ArgumentError("init_args is for PyTorch modules stored as weights")
        self._put(name, model, "model", description, inputs, overwrite, metadata)
        return self

    def add_pytorch(self: FolioT, name: str, model: Any, description: str | None = None,
                    inputs: Inputs = None, *, init_args: dict[str, Any] | None = None,
                    save_class: bool = False, hyperparameters: dict[str, Any] | None = None,
                    overwrite: bool = True, **metadata: Any) -> FolioT:
        """DataFolio 1's name: ``model.state_dict()`` stored safely, with its class and
        ``init_args``. The class is always recorded (``module:QualName``); ``save_class``
        is accepted for DataFolio's sake: importing it back needs trust either way."""
        if not _typed.is_torch_module(model):
            raise ArgumentTypeError(f"add_pytorch takes a torch.nn.Module, not "
                             f"{type(model).__name__}; use add_model()")
        self.add_model(name, model, description, inputs, init_args=init_args,
                       hyperparameters=hyperparameters, overwrite=overwrite,
                       **({**metadata, "save_class": True} if save_class else metadata))
        return self

    def reference(self: FolioT, name: str, uri: str, description: str | None = None,
                  inputs: Inputs = None, *, overwrite: bool = True, **metadata: Any) -> FolioT:
        """Record external data by URI (s3://..., https://..., a path) without copying it.

        The item is a small ``<name>.ref.json`` file naming the URI; ``data.<name>.path``
        gives the URI; ``get_data`` reads local files (unverified: they are not folio's).
        """
        self._put_reference(name, uri, description, inputs, overwrite, metadata, None)
        return self

    def reference_table(self: FolioT, name: str, reference: str | os.PathLike[str] | None = None,
                        description: str | None = None, inputs: Inputs = None, *,
                        path: str | os.PathLike[str] | None = None,
                        table_format: str | None = None, overwrite: bool = True,
                        **metadata: Any) -> FolioT:
        """A table kept elsewhere (a local path or ``s3://bucket/key``; Parquet or CSV),
        read by ``get_table``/``get_data`` when asked for, never copied. ``path`` is
        DataFolio's name for ``reference``; the format defaults to the URI's extension."""
        uri = reference if reference is not None else path
        if uri is None or (reference is not None and path is not None):
            raise ArgumentError(f"reference_table {name!r}: give the table's URI once "
                             "(reference= or path=)")
        uri = os.fspath(uri)
        fmt = table_format or external_table.format_of(uri) or "parquet"
        if fmt not in external_table.FORMATS:
            raise ArgumentError(f"reference_table {name!r}: table_format must be one of "
                             f"{', '.join(external_table.FORMATS)}, not {fmt!r}")
        self._put_reference(name, uri, description, inputs, overwrite, metadata,
                            {"table_format": fmt})
        return self

    def _put_reference(self, name: str, uri: str, description: str | None, inputs: Inputs,
                       overwrite: bool, metadata: dict[str, Any],
                       extra: dict[str, Any] | None) -> None:
        check_name(name)
        if not isinstance(uri, str) or not uri or "\x00" in uri or "\n" in uri:
            raise ArgumentError(f"reference {name!r}: the URI must be a non-empty one-line string")
        state = self._state()
        fields = self._fields(state, name, description, inputs, metadata)
        file = reference_file(name)
        self._check_place(state.index, name, file, overwrite)
        payload = _json.dumps({"uri": uri}, ensure_ascii=False).encode("utf-8") + b"\n"
        staged, _ = stage(self.repo.store, self.staging_dir, lambda sink: sink.write(payload))
        meta = build_meta(name, file, {}, fields, extra)
        self.record_staged(name, file, staged, REFERENCE_TYPE, meta, uri=uri, overwrite=overwrite)

    def _read_reference(self, entry: Entry, name: str, trusted: bool, label: str) -> Any:
        """The referenced data, unverified (it is not folio's): a table reference as a
        table, any other local file with the codec its extension names."""
        fmt = meta_of(entry).get("table_format")
        uri = entry.uri or ""
        data = _external.read_uri(uri, name, self.repo.root, tables=isinstance(fmt, str))
        if isinstance(fmt, str):
            return external_table.read_table(data, fmt, trusted=trusted, item=label)
        local = _external.local_path(uri, self.repo.root)
        codec = _typed.codec_for_file(local.name if local else uri)
        return codecs.decode(codec.name, data, {}, allow_pickle=trusted, item=label)

    # -- DataFolio: typed getters -----------------------------------------------------------------
    def get_table(self, name: str, allow_pickle: bool = False) -> Any:
        """A table item (pandas, polars or pyarrow, as written), or a referenced table."""
        state = self._state()
        entry = self._find(name, state)
        if entry.type == REFERENCE_TYPE and "table_format" in meta_of(entry):
            return self._decode(entry, state.index.name_of(entry), allow_pickle)
        return self._get_kind(name, "table")

    def get_numpy(self, name: str) -> Any:
        return self._get_kind(name, "array")

    def get_json(self, name: str) -> Any:
        return self._get_kind(name, "json")

    def get_pytorch(self, name: str, model_class: Any = None, reconstruct: bool = True,
                    allow_pickle: bool = False) -> Any:
        """DataFolio 1's name: the rebuilt module, or (``reconstruct=False``) its state dict.

        Without ``model_class`` the recorded class is imported, which needs trust.
        """
        state = self._state()
        entry = self._find(name, state)
        canonical = state.index.name_of(entry)
        if entry.type not in ("torch-state-dict", "torch-model"):
            raise ArgumentTypeError(f"item {canonical!r} is not a PyTorch model "
                                           f"({entry.type or 'plain file'}); use get_data()",
                                    path=self.target)
        if not reconstruct:
            return self._decode(entry, canonical, allow_pickle)
        return self.get_model(name, model_class=model_class, allow_pickle=allow_pickle)

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
            raise ArgumentTypeError(f"item {name!r} is {_typed.ARTICLE.get(got, 'an item')} "
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
