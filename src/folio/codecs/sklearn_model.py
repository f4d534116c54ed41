"""scikit-learn estimators (and anything deriving from ``BaseEstimator``) as pickles.

scikit-learn's own advice is pickle (or joblib, which is pickle); so loading needs trust.
The metadata records the class, the scikit-learn version that wrote it (loading under
another version may misbehave; scikit-learn warns) and the simple hyper-parameters.
"""

from __future__ import annotations

import math
import sys
from typing import Any, BinaryIO

from folio.codecs import pickled
from folio.codecs._detect import derives_from, type_name

_SIMPLE = (str, int, float, bool, type(None))


class SklearnCodec:
    """Fitted or unfitted estimators, pipelines, transformers."""

    name = "sklearn"
    extension = ".pkl"
    extensions = (".pickle", ".joblib")
    priority = 90
    needs_trust = True

    def can_encode(self, obj: object) -> bool:
        return derives_from(obj, "sklearn", "BaseEstimator")

    def encode(self, obj: object, sink: BinaryIO) -> dict[str, Any]:
        pickled.dump(obj, sink)
        meta: dict[str, Any] = {"class": type_name(obj), "params": _simple_params(obj)}
        sklearn = sys.modules.get("sklearn")
        if sklearn is not None:
            meta["sklearn_version"] = sklearn.__version__
        return meta

    def decode(self, data: bytearray, meta: dict[str, Any]) -> object:
        return pickled.load(data)


def _simple_params(estimator: Any) -> dict[str, Any]:
    """Hyper-parameters that are plain values (nested estimators are left out)."""
    try:
        params = estimator.get_params(deep=False)
    except Exception:  # a broken third-party get_params must not stop the save
        return {}
    return {key: value for key, value in params.items() if type(value) in _SIMPLE
            and not (isinstance(value, float) and not math.isfinite(value))}
