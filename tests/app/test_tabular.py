"""The command's tables (deltaprop.app.tables, tasks, preprocessing, fitting): reading tables,
task detection, preprocessing without pickle, the validation split, resume."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deltaprop import MLPClassifier, MLPRegressor
from deltaprop.app.errors import DataError
from deltaprop.app.fitting import fit_estimator, predict_table, train_validation_split
from deltaprop.app.preprocessing import MISSING_CATEGORY, Preprocessor, TargetScaler
from deltaprop.app.tables import read_table
from deltaprop.app.tasks import align_labels, check_target, detect_task, metrics, split_target
from deltaprop.io import ModelFileError, load, save

DATA = Path(__file__).parents[1] / "data"
# 150 synthetic rows shaped like the Palmer penguins data (generated, not the real records):
# numeric and categorical columns with missing values, a 3-class and a numeric target.
PENGUINS = DATA / "penguins.csv"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------
def test_read_csv_with_numbers_categories_and_missing_values() -> None:
    frame = read_table(PENGUINS)
    assert frame.shape == (150, 7)
    assert frame["bill_length_mm"].dtype == np.float64
    assert frame["bill_length_mm"].isna().sum() == 6
    assert frame["sex"].isna().sum() == 7
    assert detect_task(frame["species"])[0] == "classification"
    assert detect_task(frame["body_mass_g"])[0] == "regression"


def test_text_in_a_numeric_column_names_column_value_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "x,y\n1,a\n2,b\nthree,a\n4,b\n5,a\n")
    with pytest.raises(DataError) as info:
        read_table(path)
    message = str(info.value)
    assert "column 'x'" in message and "'three'" in message
    assert "row 3 (line 4)" in message
    assert "--na-values 'three'" in message and "--categorical 'x'" in message
    assert "\n" not in message


def test_tab_separated_and_sniffed_text_files(tmp_path: Path) -> None:
    tsv = read_table(write(tmp_path / "d.tsv", "a\tb\n1\tx\n2\ty\n"))
    txt = read_table(write(tmp_path / "d.txt", "a;b\n1;x\n2;y\n"))
    for frame in (tsv, txt):
        assert list(frame.columns) == ["a", "b"] and frame["a"].tolist() == [1, 2]


def test_text_marked_missing_or_categorical_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "x,y\n1,a\n2,b\n?,a\n4,b\n5,a\n")
    frame = read_table(path, na_values=["?"])
    assert frame["x"].dtype == np.float64 and frame["x"].isna().sum() == 1
    frame = read_table(path, categorical=["x"])
    assert frame["x"].tolist() == ["1", "2", "?", "4", "5"]


def test_mostly_text_column_is_categorical_and_all_number_text_is_numeric(tmp_path: Path) -> None:
    np.savez(
        tmp_path / "d.npz",
        code=np.array(["A1", "B2", "7", "C"]),
        amount=np.array(["3", " 4", "5e1", "-6"]),
    )
    frame = read_table(tmp_path / "d.npz")
    assert not pd.api.types.is_numeric_dtype(frame["code"])
    assert frame["amount"].tolist() == [3.0, 4.0, 50.0, -6.0]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "is empty"),
        ("blank.csv", "\n\n  \n", "is empty"),
        ("header.csv", "a,b,y\n", "no data rows"),
        ("ragged.csv", "a,b\n1,2\n3,4,5\n", "cannot parse .* as CSV: .*Expected 2 fields"),
        ("nul.csv", "a,b\x00\n1,2\n", "binary file"),
        ("data.xlsx", "a,b\n", "unsupported file type '.xlsx'"),
    ],
)
def test_bad_files_give_one_line_errors(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(DataError, match=message) as info:
        read_table(path)
    assert "\n" not in str(info.value)


def test_missing_file_directory_and_latin1(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a directory"):
        read_table(tmp_path)
    (tmp_path / "latin.csv").write_bytes("a,b\ncafé,1\n".encode("latin-1"))
    with pytest.raises(DataError, match="not a UTF-8 text file"):
        read_table(tmp_path / "latin.csv")


def test_parquet_without_pyarrow_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a)
    )
    with pytest.raises(DataError, match=r"needs pyarrow, which is not installed") as info:
        read_table(path)
    assert "\n" not in str(info.value)


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="pyarrow not installed")
def test_parquet_round_trip_with_pyarrow(tmp_path: Path) -> None:  # pragma: no cover
    frame = read_table(PENGUINS)
    frame.to_parquet(tmp_path / "p.parquet")
    back = read_table(tmp_path / "p.parquet")
    assert back.shape == frame.shape


def test_npz_matrix_with_names_and_columns(tmp_path: Path) -> None:
    X = np.arange(12.0).reshape(4, 3)
    np.savez(
        tmp_path / "d.npz", X=X, y=np.array([0, 1, 0, 1]), feature_names=np.array(["a", "b", "c"])
    )
    frame = read_table(tmp_path / "d.npz")
    assert list(frame.columns) == ["a", "b", "c", "y"]
    np.savez(tmp_path / "e.npz", X=X, label=np.array(["u", "v", "u", "v"]))
    assert list(read_table(tmp_path / "e.npz").columns) == ["x0", "x1", "x2", "label"]
    np.savez(tmp_path / "f.npz", a=np.ones(3), b=np.zeros(4))
    with pytest.raises(DataError, match="different numbers of rows"):
        read_table(tmp_path / "f.npz")
    np.savez(tmp_path / "g.npz", X=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match="object arrays"):
        read_table(tmp_path / "g.npz")
    write(tmp_path / "h.npz", "not a zip")
    with pytest.raises(DataError, match=r"not a valid .npz file|cannot read"):
        read_table(tmp_path / "h.npz")


# ---------------------------------------------------------------------------------------
# Target and task
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["a", "b", "a"], "classification"),
        ([True, False, True], "classification"),
        ([0.5, 1.25, 3.0], "regression"),
        ([0, 1, 1, 0], "classification"),  # two integers: always classes
        (list(range(10)) * 30, "classification"),  # 10 values, 300 rows
        (list(range(10)) * 3, "regression"),  # 10 values, 30 rows: more than 5%
        (list(range(25)) * 40, "regression"),  # more than 20 values
        ([1.0, 2.0, 3.0] * 30, "classification"),  # integral floats
    ],
)
def test_detect_task(values: list[object], task: str) -> None:
    got, reason = detect_task(pd.Series(values, name="y"))
    assert got == task
    assert "'y'" in reason


def test_split_target_drops_rows_without_target_and_suggests_names(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1, 2, 3, 4], "Target": [1.0, None, 2.0, 3.0], "id": [1, 2, 3, 4]})
    features, y, dropped = split_target(frame, "Target", "f.csv", ignore=["id"])
    assert dropped == 1 and list(features.columns) == ["x"] and y.tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(DataError, match="did you mean 'Target'"):
        split_target(frame, "target", "f.csv")
    with pytest.raises(DataError, match="no feature columns"):
        split_target(frame[["Target"]], "Target", "f.csv")


def test_one_class_and_non_numeric_regression_targets_are_errors() -> None:
    with pytest.raises(DataError, match=r"single class \(7\)"):
        check_target(pd.Series([7, 7, 7], name="y"), "classification", "f.csv")
    with pytest.raises(DataError, match="regression needs a numeric target"):
        check_target(pd.Series(["a", "b"], name="y"), "regression", "f.csv")


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
        (lambda c, a: c.update(format=99), "unsupported preprocessing format"),
        (lambda c, a: c.update(numeric="x"), "list of column names"),
        (lambda c, a: c.update(categories=[["a"]]), "categories"),
        (lambda c, a: a.update(mean=np.zeros(1)), "'mean' must have shape"),
        (lambda c, a: a.update(scale=-a["scale"]), "'scale' must be positive"),
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


# ---------------------------------------------------------------------------------------
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


def test_align_labels_follows_the_model_classes() -> None:
    assert align_labels(pd.Series([1.0, 2.0]), np.array([1, 2])).dtype == np.int64
    assert align_labels(pd.Series([1, 2]), np.array(["1", "2"])).tolist() == ["1", "2"]
