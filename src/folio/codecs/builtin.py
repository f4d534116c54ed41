"""The codecs folio ships, registered when ``folio.codecs`` is imported.

Every module here imports its library inside methods only, so registering all of them
costs nothing for users without pandas, polars, scikit-learn or torch.
"""

from __future__ import annotations

from folio.codecs.arrow_table import ArrowCodec
from folio.codecs.base import Codec
from folio.codecs.custom_model import CustomModelCodec
from folio.codecs.json_lines import JsonLinesCodec
from folio.codecs.json_value import JsonCodec
from folio.codecs.npy import NumpyCodec
from folio.codecs.pandas_frame import PandasCodec
from folio.codecs.pickled import PickleCodec
from folio.codecs.polars_frame import PolarsCodec
from folio.codecs.raw_bytes import BytesCodec
from folio.codecs.registry import register_codec
from folio.codecs.sklearn_model import SklearnCodec
from folio.codecs.text import TextCodec
from folio.codecs.torch_model import TorchModelCodec, TorchStateDictCodec, TorchTensorCodec
from folio.codecs.typed_json import TypedJsonCodec


def builtin_codecs() -> list[Codec]:
    """Fresh instances of every built-in codec."""
    return [
        PandasCodec(), PolarsCodec(), ArrowCodec(), NumpyCodec(),
        TorchStateDictCodec(), TorchTensorCodec(), TorchModelCodec(), SklearnCodec(),
        TextCodec(), BytesCodec(), TypedJsonCodec(), JsonCodec(), JsonLinesCodec(), PickleCodec(),
        CustomModelCodec(),
    ]


def register_builtins() -> None:
    """Register (or re-register, restoring defaults) every built-in codec."""
    for codec in builtin_codecs():
        register_codec(codec)
