"""ONNX export of a model with its preprocessing: onnxruntime on the raw penguins table (one
input per column, missing numbers and categories) gives the command's predictions."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import deltaprop
from deltaprop import MLPRegressor
from deltaprop.export.onnx import export_onnx
from deltaprop.sklearn import TablePreprocessor
from tests.app.clitools import DATA, PENGUINS, call

LEGACY = DATA / "legacy" / "command_penguins.safetensors"


def onnx_feeds(session: ort.InferenceSession, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The raw columns as the graph takes them: (batch, 1) numbers (NaN where missing) and
    strings ("" where missing)."""
    feeds = {}
    for spec in session.get_inputs():
        column = frame[spec.name]
        if spec.type == "tensor(string)":
            feeds[spec.name] = column.fillna("").astype(str).to_numpy(object).reshape(-1, 1)
        else:
            dtype = np.float32 if spec.type == "tensor(float)" else np.float64
            feeds[spec.name] = column.to_numpy(dtype).reshape(-1, 1)
    return feeds


def run_table(path: Path, frame: pd.DataFrame) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, onnx_feeds(session, frame))
    return np.asarray(out)


def predicted(capsys: pytest.CaptureFixture[str], model: Path) -> pd.DataFrame:
    code, text, err = call(capsys, "predict", model, PENGUINS, "--precision", "17")
    assert code == 0, err
    return pd.read_csv(io.StringIO(text))


def exported(capsys: pytest.CaptureFixture[str], model: Path, out: Path, dtype: str) -> str:
    code, text, err = call(capsys, "export", model, "--onnx", out, "--dtype", dtype)
    assert code == 0, err
    return text + err


@pytest.mark.parametrize(("dtype", "tol"), [("float32", 1e-5), ("float64", 1e-12)])
def test_the_commands_classifier_with_its_preprocessing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dtype: str, tol: float
) -> None:
    frame = pd.read_csv(PENGUINS)
    assert frame[["island", "sex", "bill_length_mm"]].isna().any().all()
    text = exported(capsys, LEGACY, tmp_path / "m.onnx", dtype)
    assert "6 inputs (one (batch, 1) per column)" in text and "includes the preprocessing" in text
    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    strings = [
        i.name for i in graph.input if i.type.tensor_type.elem_type == onnx.TensorProto.STRING
    ]
    assert strings == ["island", "sex"]
    expected = predicted(capsys, LEGACY).filter(like="proba_").to_numpy()
    np.testing.assert_allclose(run_table(tmp_path / "m.onnx", frame), expected, rtol=0, atol=tol)


def test_a_regressor_outputs_the_targets_units_and_unknown_categories_are_zeros(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = pd.read_csv(PENGUINS)
    X, y = frame.drop(columns=["body_mass_g", "id"]), frame["body_mass_g"].to_numpy(float)
    pre = TablePreprocessor(["bill_length_mm", "flipper_length_mm"], ["species", "island", "sex"])
    net = MLPRegressor(hidden_layer_sizes=(6,), max_iter=20, tol=1e9, random_state=0)
    reg = TransformedTargetRegressor(net, transformer=StandardScaler())
    model = deltaprop.save(make_pipeline(pre, reg).fit(X, y), tmp_path / "reg.safetensors")
    text = exported(capsys, model, tmp_path / "reg.onnx", "float32")
    assert "the output is in the target's units" in text
    expected = predicted(capsys, model)["prediction"].to_numpy()
    out = run_table(tmp_path / "reg.onnx", frame)
    assert out.shape == (len(frame), 1) and 2000 < out.min()
    np.testing.assert_allclose(out[:, 0], expected, rtol=1e-5)
    unknown = frame.assign(island="Atlantis", sex="")  # unknown: zeros; "": (missing)
    out64 = export_onnx(deltaprop.load(model), tmp_path / "reg64.onnx")
    assert out64.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    np.testing.assert_allclose(
        run_table(tmp_path / "reg64.onnx", unknown)[:, 0],
        deltaprop.load(model).predict(unknown.assign(sex=np.nan)),
        rtol=1e-12,
    )


def test_a_pipeline_of_other_steps_is_refused(tmp_path: Path) -> None:
    pipe = make_pipeline(StandardScaler(), MLPRegressor(max_iter=20, tol=1e9))
    pipe.fit(np.arange(20.0).reshape(-1, 1), np.arange(20.0))
    with pytest.raises(TypeError, match="a Pipeline of StandardScaler, MLPRegressor"):
        export_onnx(pipe, tmp_path / "x.onnx")
