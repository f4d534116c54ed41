"""Any model object (``add_model(..., custom=True)``): joblib when installed, else pickle.

joblib is scikit-learn's recommended writer and keeps large numpy buffers efficiently;
both are pickle underneath, so loading needs trust like every pickle. Which one wrote an
item is recorded (``serializer``) and the same one reads it back.
"""

from __future__ import annotations

import importlib.util
import io
from typing import Any, BinaryIO

from folio.codecs import pickled
from folio.codecs._detect import require, type_name


class CustomModelCodec:
    """Picklable models of any library; chosen only by ``add_model(custom=True)``."""

    name = "custom-model"
    extension = ".joblib"
    priority = -10  # never picked by type: only by name
    needs_trust = True

    def can_encode(self, obj: object) -> bool:
        return False  # by name only (add_model custom=True), never for f[name] = obj

    def encode(self, obj: object, sink: BinaryIO) -> dict[str, Any]:
        if importlib.util.find_spec("joblib") is not None:
            joblib = require("joblib", self.name)
            joblib.dump(obj, sink)
            serializer = "joblib"
        else:
            pickled.dump(obj, sink)
            serializer = "pickle"
        return {"class": type_name(obj), "serializer": serializer}

    def decode(self, data: bytearray, meta: dict[str, Any]) -> object:
        if meta.get("serializer") == "joblib":
            joblib = require("joblib", self.name)
            return joblib.load(io.BytesIO(data))
        return pickled.load(data)
