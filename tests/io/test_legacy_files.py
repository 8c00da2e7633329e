"""Files written by ``backprop`` 0.1.0 (tests/data/legacy/) still load: the network, the
estimators with their very predictions, the checkpoint, and the command's model (whose
preprocessing comes back as the file's extra section)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes, load_iris

from deltaprop import MLPClassifier, MLPRegressor, Network, Trainer
from deltaprop.io import load
from deltaprop.train import load_checkpoint

LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy"


def test_network_loads() -> None:
    net = load(LEGACY / "network.safetensors")
    assert isinstance(net, Network)
    assert np.isfinite(net.parameters).all()


def test_classifier_predicts_as_it_did() -> None:
    clf = load(LEGACY / "classifier.safetensors")
    assert isinstance(clf, MLPClassifier)
    expected = np.load(LEGACY / "classifier_proba.npy")
    X = load_iris(return_X_y=True)[0][: expected.shape[0]]  # the first rows of iris
    got = clf.predict_proba(X)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_regressor_predicts_as_it_did() -> None:
    reg = load(LEGACY / "regressor.safetensors")
    assert isinstance(reg, MLPRegressor)
    expected = np.load(LEGACY / "regressor_pred.npy")
    X = load_diabetes(return_X_y=True)[0][: expected.shape[0]]  # the first rows of diabetes
    np.testing.assert_allclose(reg.predict(X), expected, rtol=0, atol=1e-12)


def test_checkpoint_loads_into_a_matching_trainer() -> None:
    net = Network([4, 6, 3], ["relu", "softmax"], "categorical_crossentropy", seed=1)
    trainer = Trainer(net, "adam", epochs=3, batch_size=50, seed=0)
    info = load_checkpoint(LEGACY / "trainer.ckpt", trainer)
    assert info["epoch"] == trainer.epoch > 0
    assert np.isfinite(net.parameters).all()


def test_command_model_loads_with_its_preprocessing_as_the_extra_section() -> None:
    model, extra = load(LEGACY / "command_penguins.safetensors", return_extra=True)
    assert isinstance(model, MLPClassifier | MLPRegressor)
    assert extra is not None
    config, arrays = extra
    assert isinstance(config, dict) and config
    assert all(isinstance(a, np.ndarray) for a in arrays.values())
    assert not hasattr(model, "preprocessing_")
