"""The batch size a run takes, and the Trainer's best weights (deltaprop.train.batches,
deltaprop.train.trainer.Trainer.best_state)."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest

from deltaprop import Network, Trainer
from deltaprop.train import (
    TRAINER_DEFAULTS,
    effective_batch_size,
    validation_indices,
    validation_split,
)


@pytest.mark.parametrize(
    ("batch_size", "n", "expected"), [(None, 7, 7), (200, 50, 50), (32, 50, 32), (0, 5, 1)]
)
def test_effective_batch_size_clips_to_the_rows(
    batch_size: int | None, n: int, expected: int
) -> None:
    assert effective_batch_size(batch_size, n) == expected
    if batch_size is not None:
        assert effective_batch_size(batch_size, n) == int(np.clip(batch_size, 1, n))


def test_defaults_are_the_signatures() -> None:
    params = inspect.signature(Trainer).parameters
    for name, value in dataclasses.asdict(TRAINER_DEFAULTS).items():
        if name == "learning_rate":  # None: an optimizer object's own, else the default
            assert params[name].default is None
            net = Network([3, 4, 1], "tanh", "bce", seed=0)
            assert Trainer(net, "sgd").learning_rate == value
        elif name in params:
            assert params[name].default == value, name


def test_best_state_and_restore_best() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(80, 3)), rng.integers(0, 2, 80).astype(float)
    net = Network([3, 4, 1], "tanh", "bce", seed=0)
    trainer = Trainer(net, "adam", learning_rate=0.05, epochs=5, early_stopping=True, seed=0)
    assert trainer.best_state() is None and trainer.restore_best() is False
    trainer.fit(X, y)
    state = trainer.best_state()
    assert state is not None
    net.parameters[...] = 0.0
    assert trainer.restore_best()
    np.testing.assert_array_equal(net.parameters, state[0])


def test_validation_split_is_the_trainers() -> None:
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(50, 2)), np.eye(3)[rng.integers(0, 3, 50)]
    tr, va = validation_indices(Y, 0.2, 7, "categorical_crossentropy")
    Xt, Yt, wt, Xv, Yv, wv = validation_split(X, Y, None, 0.2, 7, "categorical_crossentropy")
    np.testing.assert_array_equal(Yv, Y[va])
    np.testing.assert_array_equal(Yt, Y[tr])
    assert wt is None and wv is None and len(va) == 10
    np.testing.assert_array_equal(Xv, X[va])
    np.testing.assert_array_equal(Xt, X[tr])
