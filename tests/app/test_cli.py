"""The ``deltaprop`` command, run as a user runs it: subprocesses on real files.

Each subcommand runs once as a subprocess (``python -m deltaprop`` and the installed
``deltaprop`` script); the many bad-input cases and the file-policy cases call
:func:`deltaprop.app.cli.main` in-process, which is the same code without the interpreter's
start-up time.
"""

from __future__ import annotations

import io
import json
import shutil
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deltaprop.app.commands.demo import DEMO_MARKER
from tests.app.clitools import (
    PARQUET_MESSAGE,
    PENGUINS,
    call,
    command,
    load_quietly,
    one_line_error,
    run_all,
)
from tests.app.test_report import check_png


# ---------------------------------------------------------------------------------------
# Every subcommand as a subprocess
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m deltaprop train`` on the CSV with numbers, categories and missing values."""
    work = tmp_path_factory.mktemp("cli")
    shutil.copy(PENGUINS, work / "penguins.csv")
    (result,) = run_all(
        [
            command(
                "train",
                "penguins.csv",
                "--target",
                "species",
                "--ignore",
                "id",
                "--epochs",
                "40",
                "--hidden",
                "32",
                "--out",
                "run",
            )
        ],
        work,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "task: classification of 'species' (3 classes)" in out
    assert "inputs: 3 numeric and 2 categorical columns -> 10 features" in out
    assert "120 to train on, 30 for validation" in out
    for word in ("Results", "accuracy", "log_loss", "f1_macro", "training", "validation"):
        assert word in out
    assert "model:  run/model.safetensors" in out and "report: run/report/report.html" in out
    assert result.stderr == ""
    return work


def test_train_writes_a_model_and_a_report(trained: Path) -> None:
    run = trained / "run"
    _, (config, arrays) = load_quietly(run / "model.safetensors", return_extra=True)
    assert config["target"] == "species" and config["task"] == "classification"
    assert config["numeric"] == ["bill_length_mm", "flipper_length_mm", "body_mass_g"]
    assert config["categorical"] == ["island", "sex"]
    assert set(arrays) == {"median", "mean", "scale"}
    html = (run / "report" / "report.html").read_text(encoding="utf-8")
    figures = sorted(p.name for p in (run / "report").glob("*.png"))
    assert figures == ["confusion_matrix.png", "gradient_flow.png", "loss.png", "score.png"]
    for name in figures:
        assert f'href="{name}"' in html
        check_png(run / "report" / name, (720, 450))
    assert html.count("data:image/png;base64,") == len(figures)
    assert "penguins.csv" in html and "Settings" in html and "Results" in html
    stop = config["run"]["stop_message"]  # why the run stopped, as the command printed it
    assert stop.startswith("stopped at epoch ") and f"<th>stopped</th><td>{escape(stop)}" in html


def test_predict_evaluate_inspect_export_as_subprocesses(trained: Path) -> None:
    model = "run/model.safetensors"
    results = run_all(
        [
            command("predict", model, "penguins.csv", "-o", "pred.csv", "--keep", "id"),
            command("evaluate", model, "penguins.csv", "--json", script=True),
            command("inspect", model),
            command("export", model, "--onnx", "model.onnx"),
        ],
        trained,
    )
    for r in results:
        assert r.returncode == 0, (r.args, r.stderr)
        assert r.stderr == ""
    predict, evaluate, inspect, export = results
    assert "wrote 150 predictions to pred.csv" in predict.stdout
    table = pd.read_csv(trained / "pred.csv")
    assert list(table.columns) == [
        "id",
        "prediction",
        "proba_Adelie",
        "proba_Chinstrap",
        "proba_Gentoo",
    ]
    assert np.allclose(table.filter(like="proba_").sum(axis=1), 1)
    assert set(table["prediction"]) <= {"Adelie", "Chinstrap", "Gentoo"}
    metrics = json.loads(evaluate.stdout)
    assert metrics["rows"] == 150 and set(metrics) == {"rows", "accuracy", "log_loss", "f1_macro"}
    truth = pd.read_csv(PENGUINS)["species"]
    assert metrics["accuracy"] == pytest.approx((table["prediction"] == truth).mean())
    assert metrics["accuracy"] > 0.8
    for text in (
        "MLPClassifier",
        "Architecture",
        "10 → 32",
        "relu",
        "softmax",
        "total parameters: 451",
        "Training",
        "epochs",
        "penguins.csv",
        "island (4)",
    ):
        assert text in inspect.stdout, text
    assert "wrote model.onnx" in export.stdout and "includes the preprocessing" in export.stdout


def test_model_outputs_in_process(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Predictions on standard output, the metrics table, and the ONNX file's outputs."""
    import onnxruntime as ort

    from deltaprop.app.models import load_estimator as _load_estimator
    from deltaprop.app.models import model_inputs as _features

    model = trained / "run" / "model.safetensors"
    code, text, _ = call(capsys, "predict", model, PENGUINS)
    assert code == 0 and text.startswith("prediction,proba_Adelie,")
    assert len(pd.read_csv(io.StringIO(text))) == 150
    code, text, _ = call(capsys, "evaluate", model, PENGUINS)
    assert code == 0 and "accuracy" in text and "f1_macro" in text and "150 rows" in text
    loaded = _load_estimator(model)
    X = _features(loaded, pd.read_csv(PENGUINS), PENGUINS)
    sess = ort.InferenceSession(str(trained / "model.onnx"), providers=["CPUExecutionProvider"])
    frame = pd.read_csv(PENGUINS)  # the graph takes the raw columns, one input each
    feeds = {
        i.name: (
            frame[i.name].fillna("").astype(str).to_numpy(object)
            if i.type == "tensor(string)"
            else frame[i.name].to_numpy(np.float64)
        ).reshape(-1, 1)
        for i in sess.get_inputs()
    }
    (proba,) = sess.run(None, feeds)
    assert np.allclose(proba, loaded.est.predict_proba(X), atol=1e-9)
    code, _, err = call(capsys, "predict", model, PENGUINS, "--keep", "nope")
    assert "--keep 'nope'" in one_line_error((code, err))


def test_gradcheck_demo_and_bad_input_as_subprocesses(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "text.csv").write_text("x,y\n1,a\n2,b\nthree,a\n4,b\n")
    results = run_all(
        [
            command(
                "gradcheck",
                "--layers",
                "5,3,7,2",
                "--activation",
                "sigmoid",
                "--loss",
                "binary_crossentropy",
            ),
            command("demo", "--dataset", "moons", "--epochs", "10", "--out", "demo", script=True),
            command("train", "empty.csv", "--target", "y"),
            command("train", "text.csv", "--target", "y", script=True),
        ],
        tmp_path,
    )
    gc, demo, empty, text = results
    assert gc.returncode == 0, gc.stderr
    for name in ("W[1]", "b[1]", "W[2]", "W[3]", "b[3]", "passed: worst relative error"):
        assert name in gc.stdout
    assert demo.returncode == 0, demo.stderr
    assert "Results" in demo.stdout and "test" in demo.stdout and "sigmoid" in demo.stdout
    assert (tmp_path / "demo" / DEMO_MARKER).exists()
    assert (tmp_path / "demo" / "model.safetensors").exists()
    page = (tmp_path / "demo" / "report" / "report.html").read_text(encoding="utf-8")
    for name in ("decision_boundary", "gradient_flow_comparison", "confusion_matrix", "loss"):
        assert f'href="{name}.png"' in page
    check_png(tmp_path / "demo" / "report" / "gradient_flow_comparison.png", (1200, 450))
    assert "is empty" in one_line_error(empty)
    line = one_line_error(text)
    assert "column 'x'" in line and "'three'" in line


# ---------------------------------------------------------------------------------------
# In-process: the rest of the behaviour
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sub", ["demo", "train", "predict", "evaluate", "inspect", "export", "gradcheck"]
)
def test_every_subcommand_has_help_with_examples(
    capsys: pytest.CaptureFixture[str], sub: str
) -> None:
    code, out, _ = call(capsys, sub, "--help")
    assert code == 0 and "examples:" in out and f"deltaprop {sub}" in out


def test_no_subcommand_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call(capsys)
    assert code == 2 and "train" in out and "demo" in out


def bad_files(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("a,b,y\n")
    (tmp_path / "oneclass.csv").write_text("x,y\n1,a\n2,a\n3,a\n")
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n")
    (tmp_path / "data.parquet").write_bytes(b"PAR1")
    (tmp_path / "notmodel.safetensors").write_text("not a model")
    (tmp_path / "cat.csv").write_text("x,y\na,1.5\nb,2.5\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "empty.csv", "--target", "y"], "'empty.csv' is empty"),
        (["train", "header.csv", "--target", "y"], "no data rows"),
        (["train", "oneclass.csv", "--target", "y"], "single class ('a')"),
        (["train", "binary.csv", "--target", "y"], "binary file"),
        (["train", "ragged.csv", "--target", "b"], "cannot parse 'ragged.csv' as CSV"),
        (["train", "nothere.csv", "--target", "y"], "no such file: 'nothere.csv'"),
        (["train", "data.parquet", "--target", "y"], PARQUET_MESSAGE),
        (["train", str(PENGUINS), "--target", "specie"], "did you mean 'species'"),
        (["train", str(PENGUINS), "--target", "species", "--ignore", "nope"], "--ignore 'nope'"),
        (["train", str(PENGUINS), "--target", "Species"], "did you mean 'species'"),
        (
            ["train", str(PENGUINS), "--target", "species", "--ignore", "ID"],
            f"--ignore 'ID': no such column in '{PENGUINS}' (columns: id, species, island, "
            "bill_length_mm, flipper_length_mm, sex, body_mass_g); did you mean 'id'?",
        ),
        (
            ["train", str(PENGUINS), "--target", "species", "--categorical", "Island"],
            "--categorical 'Island': no such column",
        ),
        (
            ["train", str(PENGUINS), "--target", "species", "--categorical", "Island"],
            "did you mean 'island'?",
        ),
        (["train", str(PENGUINS), "--target", "species", "--categorical", "Isl"], "'island'?"),
        (
            ["train", str(PENGUINS), "--target", "species", "--categorical", "nope"],
            "--categorical 'nope'",
        ),
        (
            ["train", "cat.csv", "--target", "x", "--task", "regression"],
            "regression needs a numeric target",
        ),
        (["train", str(PENGUINS)], "required: --target"),
        (
            ["train", str(PENGUINS), "--target", "species", "--epochs", "0"],
            "--epochs: expected a positive integer",
        ),
        (["train", str(PENGUINS), "--target", "species", "--hidden", "8,x"], "layer sizes"),
        (
            ["train", str(PENGUINS), "--target", "species", "--activation", "relu,tanh,relu"],
            "one per hidden layer (1)",
        ),
        (
            ["train", str(PENGUINS), "--target", "species", "--activation", "swish"],
            "unknown activation 'swish'",
        ),
        (
            ["train", str(PENGUINS), "--target", "species", "--resume", "nope.ckpt"],
            "--resume: no such file",
        ),
        (["predict", "notmodel.safetensors", str(PENGUINS)], "not a model file"),
        (["inspect", "nothere.safetensors"], "no such file"),
        (["evaluate", "notmodel.safetensors", str(PENGUINS)], "not a model file"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["gradcheck", "--loss", "nope"], "loss"),
    ],
)
def test_bad_input_ends_with_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    bad_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    code, _, err = call(capsys, *args)
    line = one_line_error((code, err))
    assert message in line, line
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.safetensors"))


def test_debug_shows_the_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = call(capsys, "inspect", tmp_path / "nothere.safetensors", "--debug")
    assert code == 2 and "Traceback" in err and err.strip().endswith("no such file")


def test_the_command_words_a_divergence_from_its_fields() -> None:
    from deltaprop.app.cli import _message
    from deltaprop.train import DivergenceError

    exc = DivergenceError(epoch=2, loss=float("inf"), learning_rate=0.5).prefaced("Solver said.")
    assert _message(exc) == (
        "training diverged in epoch 2: the loss became inf; no model was written. Try a lower "
        "--learning-rate (it was 0.5)."
    )


def test_the_command_defaults_are_read_from_the_one_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from deltaprop.app.parser import build_parser
    from deltaprop.core import hidden_activation_names
    from deltaprop.train import COMMAND_DEFAULTS as C
    from deltaprop.train import TRAINER_DEFAULTS as D

    args = build_parser().parse_args(["train", "data.csv", "--target", "y"])
    assert (args.optimizer, args.schedule, args.monitor) == (
        D.optimizer, D.schedule, D.monitor,
    ) == ("adam", "constant", "val_loss")  # fmt: skip
    assert args.validation == C.validation == 0.2
    assert (
        args.hidden, args.activation, args.learning_rate, args.epochs, args.batch_size,
        args.alpha, args.patience, args.early_stopping, args.momentum, args.seed,
    ) == (
        C.hidden, [C.activation], C.learning_rate, C.epochs, C.batch_size, C.alpha,
        C.patience, C.early_stopping, C.momentum, C.seed,
    ) == ("auto", ["relu"], 3e-3, 500, 32, "auto", 30, True, 0.9, 0)  # fmt: skip
    code, help_text, _ = call(capsys, "train", "--help")
    assert code == 0
    text = " ".join(help_text.split())
    assert ", ".join(hidden_activation_names()) + " (default: relu)" in text
    for shown in ("(default: auto)", "(default: 0.003)", "(default: 500)",
                  "(default: val_loss)", "(default: 30)", "C=1) (default: auto)"):  # fmt: skip
        assert shown in text, shown


def test_export_as_float32(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import onnx

    from tests.app.clitools import call

    out = trained / "m32.onnx"
    model = trained / "run" / "model.safetensors"
    code, _, err = call(capsys, "export", model, "--onnx", out, "--dtype", "float32")
    assert code == 0, err
    graph = onnx.load(out).graph
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
