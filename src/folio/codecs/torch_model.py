"""PyTorch weights and models with ``torch.save``.

State dicts and bare tensors load with ``weights_only=True``: torch's restricted unpickler
accepts tensors, containers and primitives only, so they need no trust. A full ``nn.Module``
is pickled with its class and loads with ``weights_only=False``, which can run code: trust
needed. Tensors come back on the device they were saved from (map them yourself if needed).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, BinaryIO

from folio.codecs._detect import derives_from, require, type_name
from folio.codecs._io import BufferReader, SinkWriter

_PRIMITIVES = (str, int, float, bool, type(None))
_DICTS = (dict, OrderedDict)
_TENSORS = ("torch.Tensor", "torch.nn.parameter.Parameter")
MAX_KEYS = 100


def _is_tensor(obj: object) -> bool:
    """Plain tensors and Parameters: other Tensor subclasses do not load weights-only."""
    return type_name(obj) in _TENSORS


def _weights_only(value: object) -> tuple[bool, int]:
    """(loadable with weights_only=True, number of tensors): containers, primitives, tensors."""
    stack, tensors, seen = [value], 0, set()
    while stack:
        item = stack.pop()
        if _is_tensor(item):
            tensors += 1
        elif type(item) in _PRIMITIVES or id(item) in seen:  # seen: shared or cyclic
            continue
        elif isinstance(item, dict) and type(item) in _DICTS:
            if not all(type(key) in _PRIMITIVES for key in item):
                return False, 0
            seen.add(id(item))
            stack.extend(item.values())
        elif isinstance(item, list | tuple) and type(item) in (list, tuple):
            seen.add(id(item))
            stack.extend(item)
        else:
            return False, 0
    return True, tensors


def _save(obj: object, sink: BinaryIO) -> None:
    torch = require("torch", "torch")
    torch.save(obj, SinkWriter(sink))


def _load(data: bytearray, *, weights_only: bool, codec: str) -> object:
    torch = require("torch", codec)
    return torch.load(BufferReader(data), weights_only=weights_only)


class TorchStateDictCodec:
    """A state dict (``model.state_dict()``, optimizer state): tensors in str-keyed dicts."""

    name = "torch-state-dict"
    extension = ".pt"
    extensions = (".pth",)
    priority = 100
    needs_trust = False

    def can_encode(self, obj: object) -> bool:
        if not (isinstance(obj, dict) and type(obj) in _DICTS):
            return False
        if not all(type(key) is str for key in obj):
            return False
        loadable, tensors = _weights_only(obj)
        return loadable and tensors > 0

    def encode(self, obj: object, sink: BinaryIO) -> dict[str, Any]:
        _save(obj, sink)
        state: Any = obj
        values = [value for value in state.values() if _is_tensor(value)]
        return {"keys": list(state)[:MAX_KEYS], "length": len(state), "tensors": len(values),
                "parameters": sum(int(value.numel()) for value in values)}

    def decode(self, data: bytearray, meta: dict[str, Any]) -> object:
        return _load(data, weights_only=True, codec=self.name)


class TorchTensorCodec:
    """One tensor, with dtype, shape, device and requires_grad as torch keeps them."""

    name = "torch-tensor"
    extension = ".pt"
    priority = 100
    needs_trust = False

    def can_encode(self, obj: object) -> bool:
        return _is_tensor(obj)

    def encode(self, obj: object, sink: BinaryIO) -> dict[str, Any]:
        _save(obj, sink)
        tensor: Any = obj
        return {"shape": list(tensor.shape), "dtype": str(tensor.dtype).removeprefix("torch.")}

    def decode(self, data: bytearray, meta: dict[str, Any]) -> object:
        return _load(data, weights_only=True, codec=self.name)


class TorchModelCodec:
    """A whole ``nn.Module``: its class must be importable where it is loaded."""

    name = "torch-model"
    extension = ".pt"
    extensions = (".pth",)
    priority = 90
    needs_trust = True

    def can_encode(self, obj: object) -> bool:
        return derives_from(obj, "torch.nn.modules.module", "Module")

    def encode(self, obj: object, sink: BinaryIO) -> dict[str, Any]:
        _save(obj, sink)
        model: Any = obj
        return {"class": type_name(obj),
                "parameters": sum(int(p.numel()) for p in model.parameters())}

    def decode(self, data: bytearray, meta: dict[str, Any]) -> object:
        return _load(data, weights_only=False, codec=self.name)
