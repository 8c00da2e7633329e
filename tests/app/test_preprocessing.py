"""The command's preprocessing (deltaprop.app.preprocessing), stored without pickle."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deltaprop import MLPClassifier, MLPRegressor
from deltaprop.app.errors import DataError
from deltaprop.app.preprocessing import MISSING_CATEGORY, Preprocessor, TargetScaler
from deltaprop.app.tables import read_table
from deltaprop.app.tasks import split_target
from deltaprop.io import ModelFileError, load, save

DATA = Path(__file__).parents[1] / "data"
# 150 synthetic rows shaped like the Palmer penguins data (generated, not the real records):
# numeric and categorical columns with missing values, a 3-class and a numeric target.
PENGUINS = DATA / "penguins.csv"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------


# Preprocessing
# ---------------------------------------------------------------------------------------
def new_rows() -> pd.DataFrame:
    """Rows unlike the training data: unknown and missing categories, missing numbers."""
    return pd.DataFrame(
        {
            "id": [1, 2, 3],
            "island": ["Atlantis", None, "Dream"],
            "bill_length_mm": [None, 41.5, 1000.0],
            "flipper_length_mm": [200, None, 180],
            "sex": [None, "female", "unknown"],
        }
    )


def fitted() -> tuple[Preprocessor, pd.DataFrame, np.ndarray]:
    frame = read_table(PENGUINS)
    features, _, _ = split_target(frame, "species", PENGUINS, ignore=["body_mass_g"])
    pre = Preprocessor.for_frame(features)
    return pre, features, pre.fit_transform(features)


def test_preprocessing_uses_sklearn_and_the_numpy_transform_is_identical() -> None:
    pre, features, X = fitted()
    assert pre.numeric == ["id", "bill_length_mm", "flipper_length_mm"]
    assert pre.categorical == ["island", "sex"]
    assert pre.categories == [
        ["(missing)", "Biscoe", "Dream", "Torgersen"],
        ["(missing)", "female", "male"],
    ]
    assert X.shape == (150, 3 + 4 + 3) and np.isfinite(X).all()
    assert np.allclose(X[:, :3].mean(axis=0), 0, atol=1e-12)
    assert np.array_equal(pre.transform(features), X)
    new = new_rows()
    expected = pre.column_transformer.transform(pre.prepare(new))
    got = pre.transform(new)
    assert np.array_equal(got, expected)
    assert got[0, 3:7].tolist() == [0, 0, 0, 0]  # unknown island: all zeros
    assert got[1, 3] == 1 and got[0, 7] == 1  # missing: the "(missing)" category
    assert got[0, 1] == (pre.median[1] - pre.mean[1]) / pre.scale[1]  # median imputed


def test_preprocessing_state_round_trip_through_a_model_file(tmp_path: Path) -> None:
    pre, features, X = fitted()
    y = read_table(PENGUINS)["species"].to_numpy()
    est = MLPClassifier((4,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    save(est, tmp_path / "m.safetensors", extra=pre.get_state())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded, extra = load(tmp_path / "m.safetensors", return_extra=True)
    config, arrays = extra
    again = Preprocessor.from_state(config, arrays)
    assert again.column_transformer is None
    for frame in (features, new_rows()):
        assert np.array_equal(again.transform(frame), pre.transform(frame))
    assert again.feature_names == pre.feature_names
    assert np.array_equal(loaded.predict_proba(again.transform(features)), est.predict_proba(X))


@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_preprocessing_with_one_kind_of_column(kind: str) -> None:
    frame = pd.DataFrame(
        {"a": [1.0, None, 3.0, 4.0]} if kind == "numeric" else {"a": ["x", None, "y", "x"]}
    )
    pre = Preprocessor.for_frame(frame)
    X = pre.fit_transform(frame)
    assert X.shape == (4, 1 if kind == "numeric" else 3)
    back = Preprocessor.from_state(*pre.get_state())
    assert np.array_equal(back.transform(frame), X)


def test_numbers_stored_as_categories_keep_their_spelling() -> None:
    train = pd.DataFrame({"zip": [10115.0, None, 20095.0]})
    pre = Preprocessor([], ["zip"])
    pre.fit_transform(train)
    assert pre.categories == [[MISSING_CATEGORY, "10115", "20095"]]
    assert pre.transform(pd.DataFrame({"zip": [10115, 20095]})).tolist() == [[0, 1, 0], [0, 0, 1]]


def test_prediction_data_with_text_in_a_numeric_column_or_a_missing_column() -> None:
    pre, _, _ = fitted()
    bad = new_rows().astype({"flipper_length_mm": object})
    bad.loc[1, "flipper_length_mm"] = "tall"
    with pytest.raises(DataError, match=r"column 'flipper_length_mm' must hold numbers.*'tall'"):
        pre.transform(bad)
    with pytest.raises(DataError, match="lack the column 'sex'"):
        pre.transform(new_rows().drop(columns="sex"))
    inf = new_rows()
    inf.loc[0, "bill_length_mm"] = np.inf
    with pytest.raises(DataError, match="infinite"):
        pre.transform(inf)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c, a: c.update(format=99), "field 'format' must be 1; got 99"),
        (lambda c, a: c.update(numeric="x"), "field 'numeric' must be a list of column names"),
        (lambda c, a: c.update(numeric=[1]), r"'numeric' must be a list .*got \[1\]"),
        (lambda c, a: c.update(categories=[["a"]]), "field 'categories'"),
        (lambda c, a: a.update(mean=np.zeros(1)), r"'extra/mean' must hold 3 numbers.*\(1,\)"),
        (lambda c, a: a.update(scale=-a["scale"]), "'extra/scale' of column '.*' must be > 0"),
        (lambda c, a: a.update(median=np.array([np.nan, 1, 2])), "'extra/median' .* finite"),
    ],
)
def test_invalid_preprocessing_state(change: object, message: str) -> None:
    pre, _, _ = fitted()
    config, arrays = pre.get_state()
    change(config, arrays)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        Preprocessor.from_state(config, arrays)


def test_corrupt_preprocessing_in_a_model_file_is_a_model_file_error(tmp_path: Path) -> None:
    from deltaprop.app.models import load_estimator as _load_estimator

    pre, _, X = fitted()
    est = MLPRegressor(hidden_layer_sizes=(3,), max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, np.arange(150.0))
    config, arrays = pre.get_state()
    config["categories"] = [["a"], ["b"]]
    save(est, tmp_path / "m.safetensors", extra=(config, arrays))
    with pytest.raises(
        ModelFileError, match="preprocessing makes 5 features but the network takes 10"
    ):
        _load_estimator(tmp_path / "m.safetensors")


def test_target_scaler() -> None:
    y = np.array([100.0, 200.0, 400.0])
    scaler = TargetScaler.fit(y)
    assert np.allclose(scaler.transform(y).mean(), 0) and np.allclose(scaler.transform(y).std(), 1)
    assert np.allclose(scaler.inverse(scaler.transform(y)), y)
    assert TargetScaler.fit([3.0, 3.0]).scale == 1.0
    assert TargetScaler.from_state({"mean": 2, "scale": 0.5}) == TargetScaler(2.0, 0.5)
    assert TargetScaler.from_state(None) is None


@pytest.mark.parametrize("unit", [1e305, 1e-310])
def test_target_scaler_and_metrics_at_the_ends_of_float64(unit: float) -> None:
    """Targets near 1e308 overflowed the sums of the mean and spread (scale 1 kept: the fit
    diverged, or scikit-learn's "Input y contains infinity"), and the metrics' squares
    (RMSE inf, R² n/a; near 1e-308 they underflowed: RMSE 0). Both now equal the table's
    in ordinary units, scaled."""
    from sklearn.metrics import r2_score

    from deltaprop.app.tasks import metrics

    y = np.array([100.0, 200.0, 400.0, 150.0])
    scaler = TargetScaler.fit(y * unit)
    assert scaler.mean == pytest.approx(212.5 * unit) and scaler.scale == pytest.approx(
        TargetScaler.fit(y).scale * unit
    )

    class Fixed:  # a regressor that predicts these values
        def predict(self, X: np.ndarray) -> np.ndarray:
            return np.array([110.0, 190.0, 380.0, 150.0]) * unit

    got = metrics(Fixed(), np.zeros((4, 1)), y * unit)
    assert got["r2"] == pytest.approx(r2_score(y, [110.0, 190.0, 380.0, 150.0]))  # 0.984
    assert got["mae"] == pytest.approx(10.0 * unit) and got["rmse"] == pytest.approx(
        np.sqrt(600 / 4) * unit
    )


@pytest.mark.parametrize(
    ("state", "field", "shown"),
    [
        ({"mean": 0.0, "scale": 0}, "target_scaling.scale", "got 0"),
        ({"mean": 0.0, "scale": -2.0}, "target_scaling.scale", "got -2.0"),
        ({"mean": 0.0, "scale": float("nan")}, "target_scaling.scale", "got nan"),
        ({"mean": 0.0, "scale": float("inf")}, "target_scaling.scale", "got inf"),
        ({"mean": 0.0, "scale": "3"}, "target_scaling.scale", "got '3'"),
        ({"mean": True, "scale": 1.0}, "target_scaling.mean", "got True"),
        ({"mean": 10**400, "scale": 1.0}, "target_scaling.mean", "got 1000"),
        ({"mean": float("-inf"), "scale": 1.0}, "target_scaling.mean", "got -inf"),
        ([1], "target_scaling", r"got \[1\]"),
        ({"mean": 0.0}, "target_scaling", "got {'mean': 0.0}"),
    ],
)
def test_a_malformed_target_scaling_names_its_field(state: object, field: str, shown: str) -> None:
    with pytest.raises(ValueError, match=f"field '{field}' must be .*; {shown}"):
        TargetScaler.from_state(state)


# ---------------------------------------------------------------------------------------


def test_a_poisson_target_is_scaled_not_centred(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--loss poisson`` with the default ``--scale-target``: its counts stay non-negative
    (divided by their spread, mean 0), and predictions come back in the original units."""
    import json
    import warnings

    from clitools import call
    from sklearn.datasets import load_diabetes

    from deltaprop.app.preprocessing import TargetScaler

    y = np.array([1.0, 3.0, 5.0])
    scaler = TargetScaler.fit(y, center=False)
    assert scaler.mean == 0.0 and scaler.scale == pytest.approx(float(y.std()))
    assert np.allclose(scaler.inverse(scaler.transform(y)), y)
    frame = load_diabetes(as_frame=True, scaled=False).frame.iloc[:200]
    frame.to_csv(tmp_path / "d.csv", index=False)
    code, _, err = call(capsys, "train", tmp_path / "d.csv", "--target", "target", "--loss",
                        "poisson", "--hidden", "8", "--out", tmp_path / "r",
                        "--quiet", "--no-report")  # fmt: skip
    assert code == 0, err
    code, text, err = call(capsys, "evaluate", tmp_path / "r" / "model.safetensors",
                           tmp_path / "d.csv", "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(text)["r2"] > 0.2
    import deltaprop

    model = deltaprop.load(tmp_path / "r" / "model.safetensors")  # a Pipeline, as trained
    scaler = model.steps[-1][1].transformer_
    assert scaler.with_mean is False and scaler.with_std is True
    frame.drop(columns="target").pipe(model.predict)  # the raw table, original units
    model.set_params(model__regressor__max_iter=3)  # and refits: its counts stay >= 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(frame.drop(columns="target"), frame["target"])
