"""A model trained by the command, loaded in Python: ``deltaprop.load`` gives a scikit-learn
Pipeline that takes the raw table and answers in the target's units; ``save`` takes such a
pipeline back (no pickle), and refuses any other."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import deltaprop
from deltaprop import MLPClassifier, MLPRegressor, ModelFileError
from deltaprop.app.cli import main
from deltaprop.app.preprocessing import Preprocessor
from deltaprop.sklearn import TablePreprocessor
from tests.app.clitools import DATA, FAST, PENGUINS, call, load_quietly

LEGACY = DATA / "legacy"


@pytest.fixture(scope="module")
def regressor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A regressor of body mass (standardized target) trained by the command."""
    out = tmp_path_factory.mktemp("reg")
    args = ["train", str(PENGUINS), "--target", "body_mass_g", "--ignore", "id", *FAST]
    assert main([*args, "--no-report", "--out", str(out)]) == 0
    return out / "model.safetensors"


def _predicted(capsys: pytest.CaptureFixture[str], model: Path, *options: str) -> pd.DataFrame:
    code, text, err = call(capsys, "predict", model, PENGUINS, "--precision", "17", *options)
    assert code == 0, err
    return pd.read_csv(io.StringIO(text))


def test_a_command_classifier_takes_the_raw_table_with_missing_values() -> None:
    frame = pd.read_csv(PENGUINS)  # text columns, NaN in numbers and categories
    assert frame.isna().any().any() and not pd.api.types.is_numeric_dtype(frame["island"])
    pipe = deltaprop.load(LEGACY / "command_penguins.safetensors")
    assert isinstance(pipe, Pipeline)
    assert isinstance(pipe[0], TablePreprocessor) and isinstance(pipe[-1], MLPClassifier)
    expected = pd.read_csv(LEGACY / "command_penguins_predictions.csv")  # the command's
    assert list(pipe.predict(frame)) == list(expected["prediction"])
    proba = expected[[f"proba_{c}" for c in pipe.classes_]].to_numpy()
    np.testing.assert_allclose(pipe.predict_proba(frame), proba, rtol=1e-14, atol=0)


def test_a_command_regressor_answers_in_the_targets_units(
    regressor: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = pd.read_csv(PENGUINS).drop(columns="body_mass_g")
    pipe = deltaprop.load(regressor)
    assert isinstance(pipe[-1], TransformedTargetRegressor)
    assert isinstance(pipe[-1].regressor_, MLPRegressor)
    predicted = pipe.predict(frame)
    assert predicted.shape == (len(frame),)
    # grams (the target's mean is about 4200), not standardized values near 0
    assert 2000 < predicted.min() and predicted.max() < 7000
    command = _predicted(capsys, regressor)["prediction"].to_numpy()
    np.testing.assert_array_equal(predicted, command)
    raw = load_quietly(regressor)  # the stored estimator predicts the standardized target
    assert abs(raw.predict(pipe[0].transform(frame)).mean()) < 3


def test_save_takes_the_loaded_pipeline_and_the_command_reads_it(
    regressor: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pipe = deltaprop.load(regressor)
    copy = deltaprop.save(pipe, tmp_path / "copy.safetensors")
    again = deltaprop.load(copy)
    frame = pd.read_csv(PENGUINS)
    np.testing.assert_array_equal(again.predict(frame), pipe.predict(frame))
    pd.testing.assert_frame_equal(_predicted(capsys, copy), _predicted(capsys, regressor))
    model, (config, arrays) = deltaprop.load(copy, return_extra=True)  # the parts as stored
    assert isinstance(model, MLPRegressor) and config["task"] == "regression"
    assert config["target_scaling"]["scale"] == pipe[-1].transformer_.scale_[0] > 1
    assert set(arrays) == {"median", "mean", "scale"}
    assert pipe[0].target_ == config["target"] == "body_mass_g"  # was lost: evaluate needed it
    code, text, _ = call(capsys, "evaluate", copy, PENGUINS, "--json")
    assert code == 0 and "r2" in text
    code, text, _ = call(capsys, "inspect", copy, "--json")  # the run's own summary is gone,
    info = json.loads(text)  # not the estimator's record of its kept epoch
    kept = pipe[-1].regressor_.history_.stop.best_epoch
    assert kept is not None and info["kept_epoch"] == kept <= info["epochs"]
    assert info["stop_message"] == pipe[-1].regressor_.stop_message_


def test_a_pipeline_fitted_in_python_saves_and_predicts_as_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = pd.read_csv(PENGUINS)
    X, y = frame.drop(columns=["species", "id"]), frame["species"]
    pre = TablePreprocessor(
        ["bill_length_mm", "flipper_length_mm", "body_mass_g"], ["island", "sex"]
    )
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=30, tol=1e9, random_state=0)
    pipe = make_pipeline(pre, clf).fit(X, y)
    path = deltaprop.save(pipe, tmp_path / "py.safetensors")
    assert deltaprop.load(path)[0].target_ == "species"  # y's name at fit
    table = _predicted(capsys, path)
    np.testing.assert_array_equal(table.filter(like="proba_").to_numpy(), pipe.predict_proba(X))
    assert list(table["prediction"]) == list(pipe.predict(X))


def test_the_transformer_is_the_commands_preprocessing_bit_for_bit() -> None:
    frame = pd.read_csv(PENGUINS)
    ours = Preprocessor.for_frame(frame.drop(columns="species"))
    features = ours.fit_transform(frame)
    pre = TablePreprocessor(ours.numeric, ours.categorical).fit(frame)
    np.testing.assert_array_equal(pre.transform(frame), features)
    np.testing.assert_array_equal(ours.to_sklearn().transform(frame), features)
    assert list(pre.get_feature_names_out()) == ours.feature_names
    assert pre.get_state()[0] == ours.get_state()[0]


def test_save_refuses_other_pipelines_saying_what_it_takes(tmp_path: Path) -> None:
    X = pd.DataFrame({"x": np.arange(30.0)})
    y = np.arange(30) % 2
    path = tmp_path / "p.safetensors"
    fitted = make_pipeline(StandardScaler(), MLPClassifier(max_iter=20, tol=1e9)).fit(X, y)
    with pytest.raises(
        TypeError,
        match=r"a TablePreprocessor, then an MLPClassifier.*Received: a Pipeline of StandardScaler, MLPClassifier",
    ):
        deltaprop.save(fitted, path)
    unfitted = make_pipeline(TablePreprocessor(["x"]), MLPClassifier())
    with pytest.raises(TypeError, match="Received: an unfitted TablePreprocessor"):
        deltaprop.save(unfitted, path)
    pre = TablePreprocessor(["x"]).fit(X)
    other = Pipeline(
        [
            ("p", pre),
            (
                "m",
                TransformedTargetRegressor(
                    MLPRegressor(max_iter=20, tol=1e9), func=np.log1p, inverse_func=np.expm1
                ),
            ),
        ]
    )
    with pytest.raises(TypeError, match="with transformer FunctionTransformer"):
        deltaprop.save(other.fit(X, y + 1.0), path)
    assert not path.exists()


def test_other_extra_sections_load_as_the_estimator_and_bad_ones_name_the_field(
    regressor: Path, tmp_path: Path
) -> None:
    model, (config, arrays) = load_quietly(regressor, return_extra=True)
    note = deltaprop.save(model, tmp_path / "note.safetensors", extra=({"note": "x"}, {}))
    assert isinstance(deltaprop.load(note), MLPRegressor)
    config["categories"] = "island"
    bad = deltaprop.save(model, tmp_path / "bad.safetensors", extra=(config, arrays))
    with pytest.raises(ModelFileError, match=r"bad\.safetensors.*preprocessing field 'categories'"):
        deltaprop.load(bad)
