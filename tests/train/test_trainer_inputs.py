"""The Trainer's inputs: integer class labels with categorical cross-entropy."""

from __future__ import annotations

import numpy as np
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
