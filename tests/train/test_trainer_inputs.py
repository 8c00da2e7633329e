"""The Trainer's inputs: integer class labels with categorical cross-entropy; what is refused."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from deltaprop import Network, Trainer

X, y = load_digits(return_X_y=True)
X = X[:300] / 16.0
y = y[:300]


def test_integer_labels_train_exactly_as_one_hot() -> None:
    runs = []
    for Y, Yv in [(y, y[:50]), (np.eye(10)[y], np.eye(10)[y[:50]])]:
        net = Network([64, 16, 10], "relu", "categorical_crossentropy", seed=0)
        trainer = Trainer(net, epochs=3, batch_size=64, class_weight="balanced", seed=0)
        runs.append((trainer.fit(X, Y, validation_data=(X[:50], Yv)), net.parameters.copy()))
    (h1, p1), (h2, p2) = runs
    assert h1.loss == h2.loss and h1.val_score == h2.val_score
    np.testing.assert_array_equal(p1, p2)
    assert h1.loss[-1] < h1.loss[0]


def test_complex_or_text_data_is_refused_naming_X_or_Y_and_the_dtype() -> None:
    net = Network([64, 4, 10], "relu", "categorical_crossentropy", seed=0)
    trainer = Trainer(net, epochs=1, seed=0)
    before = net.parameters.copy()
    with pytest.raises(ValueError, match=r"^X must hold real numbers, not complex. "
                       r"Received: X of dtype complex128$"):  # fmt: skip
        trainer.fit(X + 5j, y)
    with pytest.raises(ValueError, match=r"^Y must hold real numbers, not text. .*dtype <U"):
        trainer.fit(X, y.astype(str))
    np.testing.assert_array_equal(net.parameters, before)
    assert trainer.history.loss == []


@pytest.mark.parametrize(
    ("seed", "error", "match"),
    [(-1, ValueError, r"seed=-1 \(expected non-negative"), (1.5, TypeError, r"seed=1.5 ")],
)
def test_a_bad_trainer_seed_is_named(seed: object, error: type, match: str) -> None:
    net = Network([64, 10], "softmax", "categorical_crossentropy", seed=0)
    with pytest.raises(error, match=r"^seed must be None, a non-negative int or a Generator. "
                       r"Received: " + match):  # fmt: skip
        Trainer(net, seed=seed)


def test_callbacks_none_is_no_callbacks_and_a_missing_net_is_named() -> None:
    net = Network([64, 10], "softmax", "categorical_crossentropy", seed=0)
    history = Trainer(net, epochs=2, seed=0, callbacks=None).fit(X, y)
    assert len(history.loss) == 2 and history.loss[1] < history.loss[0]
    with pytest.raises(TypeError, match=r"^net must be a Network. Received: net=None$"):
        Trainer(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"epochs": 10}, "fit() got an unexpected keyword argument 'epochs': epochs is a setting "
         "of the Trainer, given where it is built: Trainer(net, ..., epochs=10)"),
        ({"validation_split": 0.2}, "'validation_split': validation_fraction is a setting of the "
         "Trainer, given where it is built: Trainer(net, ..., validation_fraction=0.2)"),
        ({"batch_size": 32, "epochs": 3}, "'batch_size': batch_size is a setting"),
        ({"sample_weights": None}, "argument 'sample_weights'; did you mean 'sample_weight'?"),
        ({"frobnicate": 1}, "fit() got an unexpected keyword argument 'frobnicate'"),
    ],
)  # fmt: skip
def test_keras_fit_arguments_are_named_as_trainer_settings(given: dict, message: str) -> None:
    net = Network([2, 1], "sigmoid", "bce", seed=0)
    before = net.parameters.copy()
    with pytest.raises(TypeError) as info:
        Trainer(net, epochs=1).fit(np.ones((4, 2)), np.array([0, 1, 0, 1]), **given)
    assert message in str(info.value)
    np.testing.assert_array_equal(net.parameters, before)  # refused before any training
