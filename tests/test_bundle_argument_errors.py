"""Misused bundle calls raise the Python exception a caller would catch (and stay FolioErrors)."""

from __future__ import annotations

from pathlib import Path

import pytest

import folio
from folio.errors import ArgumentError, ArgumentTypeError, FolioError


@pytest.fixture
def bundle(git_repo: Path) -> folio.Folio:
    f = folio.Repo.init(git_repo).folio("exp")
    f.add_json("params", {"lr": 0.1})
    f.add_numpy("weights", __import__("numpy").arange(3))
    return f


def test_wrong_kind_of_item_is_a_type_error(bundle: folio.Folio) -> None:
    with pytest.raises(TypeError, match=r"'params' is .*not a table; use get_data") as info:
        bundle.get_table("params")
    assert isinstance(info.value, ArgumentTypeError) and isinstance(info.value, FolioError)
    with pytest.raises(TypeError, match="'weights' is not a PyTorch model"):
        bundle.get_pytorch("weights")


def test_bad_values_are_value_errors(bundle: folio.Folio) -> None:
    with pytest.raises(ValueError, match="'params' already exists; pass overwrite=True") as info:
        bundle.copy("weights", "params", overwrite=False)
    assert isinstance(info.value, ArgumentError)
    assert bundle.get_data("params") == {"lr": 0.1}  # nothing was replaced
    with pytest.raises(ValueError, match="the URI must be a non-empty one-line string"):
        bundle.reference("ext", "s3://bucket/key\nsecond line")
    assert "ext" not in bundle
    with pytest.raises(ValueError, match="init_args is for PyTorch modules"):
        bundle.add_model("m", {"not": "torch"}, init_args={"n": 1})
