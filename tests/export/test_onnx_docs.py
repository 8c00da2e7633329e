"""The docs' code runs as written: docs/cli.md's onnxruntime snippet on a default export
(float64 inputs, padded category text) gives ``deltaprop predict``'s probabilities, and
docs/api.md's pipeline of a bare ``TablePreprocessor`` fits, saves and loads."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.app.clitools import DATA, PENGUINS, call

DOCS = Path(__file__).parents[2] / "docs"


def python_block(doc: str, heading: str) -> str:
    """The first ```python block after ``heading`` in ``docs/<doc>``."""
    text = (DOCS / doc).read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    match = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert match is not None, f"no python block after {heading!r} in {doc}"
    return match.group(1)


def test_the_cli_docs_onnx_snippet_runs_on_a_default_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    heading = "## `deltaprop export MODEL --onnx OUT`"
    section = (DOCS / "cli.md").read_text(encoding="utf-8").split(heading)[1]
    command = re.search(r"`deltaprop (export model\.safetensors --onnx model\.onnx)`", section)
    assert command is not None  # the command the snippet's model comes from
    shutil.copy(DATA / "legacy" / "command_penguins.safetensors", tmp_path / "model.safetensors")
    frame = pd.read_csv(PENGUINS)
    frame.loc[:30, "island"] = " " + frame.loc[:30, "island"] + " "  # as a hand-made CSV has it
    frame.to_csv(tmp_path / "new.csv", index=False)
    monkeypatch.chdir(tmp_path)
    code, _, err = call(capsys, *command.group(1).split())
    assert code == 0, err
    code, text, err = call(capsys, "predict", "model.safetensors", "new.csv", "--precision", "17")
    assert code == 0, err
    expected = pd.read_csv(io.StringIO(text)).filter(like="proba_").to_numpy()
    namespace: dict[str, Any] = {}
    exec(python_block("cli.md", heading), namespace)
    probabilities = np.asarray(namespace["probabilities"])
    assert probabilities.dtype == np.float64  # the default export keeps the model's type
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-12)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_the_api_docs_pipeline_of_a_bare_preprocessor_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(PENGUINS, tmp_path / "penguins.csv")
    monkeypatch.chdir(tmp_path)
    code = python_block("api.md", "## A table's preprocessing")
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # the docs' own code
    pipe, X = namespace["pipe"], namespace["X"]
    loaded = namespace["deltaprop"].load("model.safetensors")
    assert pipe[0].categorical_ == ["island", "sex"]
    assert list(loaded.predict(X)) == list(pipe.predict(X))
    assert np.mean(pipe.predict(X) == namespace["y"]) > 0.9


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_the_cli_docs_onnx_snippet_on_integer_codes_read_as_floats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """diabetes' ``sex`` (1.0/2.0, one missing) as a category: the snippet feeds "2.0", the
    model's categories are "1" and "2" (as predict reads the numbers)."""
    from sklearn.datasets import load_diabetes
    from sklearn.pipeline import make_pipeline

    import deltaprop
    from deltaprop import MLPClassifier
    from deltaprop.sklearn import TablePreprocessor

    X, y = load_diabetes(return_X_y=True, as_frame=True, scaled=False)
    X.loc[3, "sex"] = np.nan
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0)
    pipe = make_pipeline(TablePreprocessor(categorical=["sex"]), clf).fit(X, y > 140)
    assert pipe[0].categories_ == [["(missing)", "1", "2"]]
    monkeypatch.chdir(tmp_path)
    deltaprop.save(pipe, "model.safetensors")
    X.to_csv("new.csv", index=False)
    code, _, err = call(capsys, "export", "model.safetensors", "--onnx", "model.onnx")
    assert code == 0, err
    namespace: dict[str, Any] = {}
    exec(python_block("cli.md", "## `deltaprop export MODEL --onnx OUT`"), namespace)
    expected = pipe.predict_proba(pd.read_csv("new.csv"))
    np.testing.assert_allclose(np.asarray(namespace["probabilities"]), expected, rtol=0, atol=1e-12)
