"""Fitting on a table (deltaprop.app.fitting): the validation split, resume, predictions."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from deltaprop import MLPClassifier, MLPRegressor
from deltaprop.app.errors import DataError
from deltaprop.app.fitting import fit_estimator, predict_table, train_validation_split
from deltaprop.app.preprocessing import TargetScaler
from deltaprop.app.tasks import metrics
from deltaprop.io import ModelFileError

DATA = Path(__file__).parents[1] / "data"
# 150 synthetic rows shaped like the Palmer penguins data (generated, not the real records):
# numeric and categorical columns with missing values, a 3-class and a numeric target.
PENGUINS = DATA / "penguins.csv"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------


def test_validation_split_is_stratified_and_keeps_single_rows_in_training() -> None:
    y = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 19 + ["lonely"])
    tr, va = train_validation_split(y, 0.2, "classification", seed=0)
    assert len(va) == 20 and sorted(np.concatenate([tr, va])) == list(range(100))
    assert "lonely" in y[tr] and "lonely" not in y[va]
    assert (y[va] == "a").sum() == 10 and (y[va] == "b").sum() == 6
    again = train_validation_split(y, 0.2, "classification", seed=0)
    assert np.array_equal(again[1], va)
    tr, va = train_validation_split(y, 0.0, "classification", seed=0)
    assert len(va) == 0 and len(tr) == 100


def test_the_command_split_is_the_trainer_policy_in_file_order() -> None:
    from deltaprop.train import split_validation_rows

    y = np.random.default_rng(0).normal(size=333)
    tr, va = train_validation_split(y, 0.1, "regression", seed=4)
    assert len(va) == 34  # ceil(0.1 * 333), as train_test_split (33 before the one policy)
    ref_tr, ref_va = split_validation_rows(333, 0.1, 4)
    np.testing.assert_array_equal(va, np.sort(ref_va))
    np.testing.assert_array_equal(tr, np.sort(ref_tr))
    tr, va = train_validation_split(y[:10], 0.1, "regression", seed=0)  # 1 row: too small
    assert len(va) == 0 and len(tr) == 10
    with pytest.raises(DataError, match="leaves no training rows out of 1"):
        train_validation_split(y[:1], 0.5, "regression", seed=0)


# Training, resuming, predicting
# ---------------------------------------------------------------------------------------
def problem() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = np.where(X[:, 0] + X[:, 1] ** 2 > 0.5, "yes", "no")
    return X[:100], y[:100], X[100:], y[100:]


def classifier(epochs: int) -> MLPClassifier:
    return MLPClassifier(
        (8,),
        max_iter=epochs,
        batch_size=16,
        random_state=3,
        dropout=0.1,
        early_stopping=False,
        learning_rate_init=0.01,
    )


def test_resume_from_a_checkpoint_equals_the_uninterrupted_run(tmp_path: Path) -> None:
    X, y, Xv, yv = problem()
    ckpt = tmp_path / "run.ckpt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = classifier(4)
        info = fit_estimator(first, X, y, Xv, yv, checkpoint=ckpt, checkpoint_every=2)
        assert info == {"resumed_from_epoch": None, "epochs": 4} and ckpt.exists()
        resumed = classifier(9)
        info = fit_estimator(resumed, X, y, Xv, yv, resume=ckpt)
        straight = classifier(9)
        fit_estimator(straight, X, y, Xv, yv)
    assert info == {"resumed_from_epoch": 4, "epochs": 9}
    assert np.array_equal(resumed.network_.parameters, straight.network_.parameters)
    assert resumed.loss_curve_ == straight.loss_curve_
    assert resumed.validation_scores_ == straight.validation_scores_
    assert resumed.max_iter == 9 and not resumed.warm_start
    with pytest.raises(DataError, match="at epoch 4, and the run is to end at epoch 3"):
        fit_estimator(classifier(3), X, y, Xv, yv, resume=ckpt)


def test_resume_from_a_checkpoint_of_another_network_fails(tmp_path: Path) -> None:
    X, y, _, _ = problem()
    ckpt = tmp_path / "run.ckpt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_estimator(classifier(2), X, y, checkpoint=ckpt)
        other = MLPClassifier((5,), max_iter=4, random_state=3)
        with pytest.raises(ModelFileError, match="different network"):
            fit_estimator(other, X, y, resume=ckpt)


def test_predictions_and_metrics() -> None:
    X, y, Xv, yv = problem()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = classifier(30).fit(X, y)
    table = predict_table(est, Xv)
    assert list(table.columns) == ["prediction", "proba_no", "proba_yes"]
    assert np.allclose(table[["proba_no", "proba_yes"]].sum(axis=1), 1)
    m = metrics(est, Xv, yv)
    assert set(m) == {"accuracy", "log_loss", "f1_macro"} and 0.5 < m["accuracy"] <= 1
    assert np.isnan(metrics(est, Xv, np.where(yv == "yes", "maybe", yv))["log_loss"])
    reg = MLPRegressor(
        hidden_layer_sizes=(8,), max_iter=50, random_state=0, learning_rate_init=0.01
    )
    scaler = TargetScaler.fit(X[:, 0] * 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg.fit(X, scaler.transform(X[:, 0] * 1000))
    pred = predict_table(reg, Xv, scaler)["prediction"].to_numpy()
    assert np.allclose(pred, scaler.inverse(reg.predict(Xv)))
    m = metrics(reg, Xv, Xv[:, 0] * 1000, scaler)
    assert set(m) == {"r2", "mae", "rmse"} and m["r2"] > 0.5
