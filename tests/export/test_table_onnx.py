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
from deltaprop.export import OpsetError
from deltaprop.export.onnx import export_onnx
from deltaprop.export.table_onnx import category_pattern
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
            feeds[spec.name] = column.astype(object).fillna("").astype(str).to_numpy(object)
            feeds[spec.name] = feeds[spec.name].reshape(-1, 1)
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


def test_categories_with_whitespace_around_them_give_predicts_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = pd.read_csv(PENGUINS)
    padded = frame.copy()
    padded.loc[:20, "island"] = " Dream "
    padded.loc[21:40, "sex"] = "\tmale\u00a0"  # any whitespace str.strip removes
    padded.loc[41:45, "sex"] = " (missing) "  # the missing category, spelled out
    padded.loc[46:50, "sex"] = ""  # the graph's missing value
    padded.loc[51:55, "island"] = "Dre am"  # unknown: all zeros, as predict has it
    padded.to_csv(tmp_path / "padded.csv", index=False)
    code, text, err = call(capsys, "predict", LEGACY, tmp_path / "padded.csv", "--precision", "17")
    assert code == 0, err
    expected = pd.read_csv(io.StringIO(text)).filter(like="proba_").to_numpy()
    stripped = frame.assign(island=padded["island"].str.strip(), sex=padded["sex"].str.strip())
    stripped.loc[46:50, "sex"] = np.nan
    np.testing.assert_array_equal(deltaprop.load(LEGACY).predict_proba(stripped), expected)
    exported(capsys, LEGACY, tmp_path / "m.onnx", "float64")
    out = run_table(tmp_path / "m.onnx", padded)
    assert np.abs(out - run_table(tmp_path / "m.onnx", frame)).max() > 1e-3  # the rows changed
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)


def test_category_patterns_match_the_stripped_text_only() -> None:
    cats = ["a.b", "c++", "x|y", "(missing)", "é\\d", "Dre am"]
    texts = ["a.b", " a.b\n", "axb", "c++", "cc", "x|y", "x", "y", "(missing)", "", " ",
             "é\\d", "é1", "\u3000Dre am ", "Dream", "Dre  am"]  # fmt: skip
    got = _matcher(cats).run(None, {"x": np.asarray(texts, dtype=object).reshape(-1, 1)})
    for hits, category in zip(got, cats, strict=True):
        expected = [t.strip() == category or (category == "(missing)" and t == "") for t in texts]
        assert list(hits[:, 0]) == expected, category
        assert sum(expected) >= 1


def test_integral_categories_match_their_float_spellings_where_asked() -> None:
    texts = ["2", "2.0", " 2.000 ", "2.", "2.5", "12.0", "-3.0", "-3", "3.0", "20"]
    floats = _matcher(["2", "-3"], floats=True).run(
        None, {"x": np.asarray(texts, dtype=object).reshape(-1, 1)}
    )
    assert [t for t, hit in zip(texts, floats[0][:, 0], strict=True) if hit] == [
        "2",
        "2.0",
        " 2.000 ",
        "2.",
    ]
    assert [t for t, hit in zip(texts, floats[1][:, 0], strict=True) if hit] == ["-3.0", "-3"]
    exact = _matcher(["2"]).run(None, {"x": np.asarray(texts, dtype=object).reshape(-1, 1)})
    assert [t for t, hit in zip(texts, exact[0][:, 0], strict=True) if hit] == ["2"]


def _matcher(categories: list[str], floats: bool = False) -> ort.InferenceSession:
    """A graph of one RegexFullMatch per category's pattern over the input ``x``."""
    from onnx import helper

    nodes = [
        helper.make_node(
            "RegexFullMatch",
            ["x"],
            [f"y{j}"],
            pattern=category_pattern(c, c == "(missing)", floats),
        )
        for j, c in enumerate(categories)
    ]
    outputs = [
        helper.make_tensor_value_info(f"y{j}", onnx.TensorProto.BOOL, ["b", 1])
        for j in range(len(categories))
    ]
    x = helper.make_tensor_value_info("x", onnx.TensorProto.STRING, ["b", 1])
    graph = helper.make_graph(nodes, "g", [x], outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_a_table_with_categories_needs_opset_20(tmp_path: Path) -> None:
    with pytest.raises(OpsetError, match=r"opset 20 or later .* Received: opset=17"):
        export_onnx(deltaprop.load(LEGACY), tmp_path / "m.onnx", opset=17)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "transformer",
    [StandardScaler(with_mean=m, with_std=s) for m in (True, False) for s in (True, False)]
    + [None],
    ids=["mean_std", "mean", "std", "neither", "none"],
)
def test_the_target_transformer_is_exported_as_applied(
    tmp_path: Path, transformer: StandardScaler | None
) -> None:
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True, as_frame=True, scaled=False)
    net = MLPRegressor(hidden_layer_sizes=(4,), max_iter=10, random_state=0)
    reg = TransformedTargetRegressor(regressor=net, transformer=transformer)
    pipe = make_pipeline(TablePreprocessor(), reg).fit(X, y)
    export_onnx(pipe, tmp_path / "m.onnx")
    out = run_table(tmp_path / "m.onnx", X)
    np.testing.assert_allclose(out.ravel(), pipe.predict(X), rtol=1e-13, atol=0)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_column_named_as_the_output_renames_the_output_not_the_input(tmp_path: Path) -> None:
    from deltaprop import MLPClassifier

    frame = pd.DataFrame({"output": np.arange(20.0), "probabilities": np.arange(20.0) % 3})
    y = np.arange(20) % 2
    for est, name in (
        (MLPRegressor(max_iter=5), "output_"),
        (MLPClassifier(max_iter=5), "probabilities_"),
    ):
        pipe = make_pipeline(TablePreprocessor(), est).fit(frame, y)
        export_onnx(pipe, tmp_path / "m.onnx")
        session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == ["output", "probabilities"]
        assert [o.name for o in session.get_outputs()] == [name]
        (out,) = session.run(None, onnx_feeds(session, frame))
        expected = pipe.predict(frame) if name == "output_" else pipe.predict_proba(frame)
        np.testing.assert_allclose(np.asarray(out).reshape(expected.shape), expected, atol=1e-12)
