"""The estimators' summary(), as Keras's model.summary()."""

from __future__ import annotations

import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError

from deltaprop import MLPClassifier, MLPRegressor
from deltaprop.core import summary

X, Y = load_iris(return_X_y=True)


def test_fitted_classifier_summary() -> None:
    est = MLPClassifier((5, 4), random_state=0).partial_fit(X, Y, classes=[0, 1, 2])
    lines = est.summary().splitlines()
    assert lines[0] == "MLPClassifier: input (batch, 4)"
    assert "\n".join(lines[1:]) == summary(est.network_)
    assert [line.split()[-1] for line in lines[3:6]] == ["25", "24", "15"]  # 4·5+5, 5·4+4, 4·3+3
    assert lines[-1] == "Total parameters: 64 (float64, 512 bytes)"


def test_regressor_summary_counts_its_single_output() -> None:
    est = MLPRegressor(hidden_layer_sizes=(3,), random_state=0).partial_fit(X[:, :3], X[:, 3])
    assert est.summary().splitlines()[-1].startswith(f"Total parameters: {3 * 3 + 3 + 3 + 1} ")
    assert "Dense 2 (identity)" in est.summary()


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_unfitted_summary_raises_not_fitted(Est: type) -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        Est().summary()
