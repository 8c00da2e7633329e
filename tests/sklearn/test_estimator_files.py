"""An estimator after save and load: its stop record comes back (None from files without one),
a warm ``fit`` equals the same ``fit`` in memory (each fit builds a fresh optimizer), and
``partial_fit`` differs (a model file holds no optimizer state), as README says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import deltaprop
from deltaprop import MLPClassifier, MLPRegressor
from tests.filetools import rewrite, split_file

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

RNG = np.random.default_rng(0)
X = RNG.normal(size=(60, 3))
Y = X @ np.array([1.0, 2.0, 3.0])


def roundtrip(est: object, tmp_path: Path) -> object:
    return deltaprop.load(deltaprop.save(est, tmp_path / "m.safetensors"))


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_the_stop_record_comes_back_and_a_warm_fit_equals_the_one_in_memory(
    tmp_path: Path, solver: str
) -> None:
    est = MLPRegressor(
        hidden_layer_sizes=(5,), warm_start=True, max_iter=5, random_state=0, solver=solver
    ).fit(X, Y)
    loaded = roundtrip(est, tmp_path)
    assert loaded.stop_reason_ == est.stop_reason_ == "epochs"
    assert loaded.stop_message_ == est.stop_message_
    assert "max_iter=5" in loaded.stop_message_ or solver == "lbfgs"
    assert loaded.history_.stop == est.history_.stop
    est.fit(X, Y)
    loaded.fit(X, Y)
    np.testing.assert_array_equal(loaded.network_.parameters, est.network_.parameters)
    np.testing.assert_allclose(loaded.loss_curve_, est.loss_curve_, rtol=1e-12)
    assert len(loaded.loss_curve_) == 10 or solver == "lbfgs"


def test_partial_fit_after_load_restarts_the_optimizer(tmp_path: Path) -> None:
    est = MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, Y)
    loaded = roundtrip(est, tmp_path)
    est.partial_fit(X, Y)
    loaded.partial_fit(X, Y)
    assert np.abs(loaded.network_.parameters - est.network_.parameters).max() > 1e-6


def test_a_file_without_a_stop_record_loads_with_none(tmp_path: Path) -> None:
    clf = MLPClassifier(hidden_layer_sizes=(3,), max_iter=3, random_state=0).fit(X, Y > 0)
    path = deltaprop.save(clf, tmp_path / "m.safetensors")

    header, data = split_file(path.read_bytes())
    config = json.loads(header["__metadata__"]["config"])
    assert config.pop("stop")["record"]["reason"] == "epochs"
    header["__metadata__"]["config"] = json.dumps(config)
    rewrite(path, header, data)
    old = deltaprop.load(path)
    assert (old.stop_reason_, old.stop_message_, old.history_.stop_reason) == (None, None, None)
    assert list(old.predict(X)) == list(clf.predict(X))
