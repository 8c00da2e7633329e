"""Model pipelines in files: the target transformer comes back as it was fitted
(``StandardScaler``'s ``with_mean``/``with_std``, or ``transformer=None``), and the same
predictions; other transformers are refused, naming them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, StandardScaler

import deltaprop
from deltaprop import MLPRegressor
from deltaprop.sklearn import TablePreprocessor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def diabetes_pipeline(transformer: object) -> tuple[Pipeline, object]:
    X, y = load_diabetes(return_X_y=True, as_frame=True, scaled=False)
    net = MLPRegressor(hidden_layer_sizes=(4,), max_iter=10, random_state=0)
    model = TransformedTargetRegressor(regressor=net, transformer=transformer)
    return Pipeline([("preprocess", TablePreprocessor()), ("model", model)]).fit(X, y), X


@pytest.mark.parametrize("with_mean", [True, False])
@pytest.mark.parametrize("with_std", [True, False])
def test_a_target_scaler_comes_back_with_its_flags_and_predictions(
    tmp_path: Path, with_mean: bool, with_std: bool
) -> None:
    pipe, X = diabetes_pipeline(StandardScaler(with_mean=with_mean, with_std=with_std))
    loaded = deltaprop.load(deltaprop.save(pipe, tmp_path / "m.safetensors"))
    scaler = loaded[1].transformer_
    assert isinstance(scaler, StandardScaler)
    assert (scaler.with_mean, scaler.with_std) == (with_mean, with_std)
    assert loaded[1].transformer.get_params() == scaler.get_params()
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))
    # The network's outputs are small at 10 epochs: a mean added back (152) would show.
    assert abs(np.mean(pipe.predict(X)) - 152.13) > 50 or with_mean


def test_no_transformer_is_the_identity_and_round_trips(tmp_path: Path) -> None:
    pipe, X = diabetes_pipeline(None)
    loaded = deltaprop.load(deltaprop.save(pipe, tmp_path / "m.safetensors"))
    assert isinstance(loaded[1], TransformedTargetRegressor)
    assert loaded[1].transformer is None
    assert isinstance(loaded[1].transformer_, FunctionTransformer)
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))


def test_other_target_transformers_are_refused_naming_them(tmp_path: Path) -> None:
    pipe, _ = diabetes_pipeline(MinMaxScaler())
    with pytest.raises(TypeError, match=r"or none \(transformer=None\).*Received: .*MinMaxScaler"):
        deltaprop.save(pipe, tmp_path / "m.safetensors")
    with pytest.raises(TypeError, match=r"Received: .*MinMaxScaler"):
        deltaprop.export_onnx(pipe, tmp_path / "m.onnx")
    assert not (tmp_path / "m.safetensors").exists() and not (tmp_path / "m.onnx").exists()
