"""The ``deltaprop`` command, run as a user runs it: subprocesses on real files.

Each subcommand runs once as a subprocess (``python -m deltaprop`` and the installed
``deltaprop`` script); the many bad-input cases and the file-policy cases call
:func:`deltaprop.app.cli.main` in-process, which is the same code without the interpreter's
start-up time.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deltaprop.app.cli import main
from deltaprop.app.commands.demo import DEMO_MARKER
from deltaprop.io.persistence import load
from tests.test_report import check_png

DATA = Path(__file__).parent / "data"
PENGUINS = DATA / "penguins.csv"
SCRIPT = Path(sys.executable).parent / "deltaprop"
FAST = ["--epochs", "8", "--quiet"]
# Without pyarrow a Parquet file is refused in one line; with it, this 4-byte file is broken.
PARQUET_MESSAGE = (
    "needs pyarrow, which is not installed"
    if importlib.util.find_spec("pyarrow") is None
    else "cannot read 'data.parquet' as Parquet"
)


def command(*args: str | Path, script: bool = False) -> list[str]:
    head = [str(SCRIPT)] if script else [sys.executable, "-m", "deltaprop"]
    return [*head, *map(str, args)]


def run_all(
    commands: Sequence[Sequence[str]], cwd: Path, timeout: float = 180
) -> list[subprocess.CompletedProcess[str]]:
    """Run the commands concurrently (each one starts its own interpreter)."""
    env = {**os.environ, "COLUMNS": "120", "DELTAPROP_DISTRIBUTED": "0"}
    procs = [
        subprocess.Popen(
            c, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for c in commands
    ]
    done = []
    for cmd, p in zip(commands, procs, strict=True):
        out, err = p.communicate(timeout=timeout)
        done.append(subprocess.CompletedProcess(cmd, p.returncode, out, err))
    return done


def one_line_error(
    result: subprocess.CompletedProcess[str] | tuple[int, str], code: int = 2
) -> str:
    rc, err = (result.returncode, result.stderr) if not isinstance(result, tuple) else result
    assert rc == code, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("deltaprop: error: ")
    return lines[0]


def call(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """``main`` in-process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def load_quietly(path: Path) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(path)


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
    assert "135 to train on, 15 for validation" in out
    for word in ("Results", "accuracy", "log_loss", "f1_macro", "training", "validation"):
        assert word in out
    assert "model:  run/model.safetensors" in out and "report: run/report/report.html" in out
    assert result.stderr == ""
    return work


def test_train_writes_a_model_and_a_report(trained: Path) -> None:
    run = trained / "run"
    model = load_quietly(run / "model.safetensors")
    config, arrays = model.preprocessing_  # type: ignore[attr-defined]
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
        "10 → 64",
        "relu",
        "softmax",
        "total parameters: 2,883",
        "Training",
        "epochs",
        "penguins.csv",
        "island (4)",
    ):
        assert text in inspect.stdout, text
    assert "wrote model.onnx" in export.stdout and "preprocessed features" in export.stdout


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
    (proba,) = sess.run(None, {"X": X})
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
            "one per hidden layer (2)",
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


def test_existing_outputs_need_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    args = ["train", PENGUINS, "--target", "species", "--out", out, *FAST]
    assert call(capsys, *args)[0] == 0
    before = (out / "model.safetensors").read_bytes()
    code, _, err = call(capsys, *args, "--seed", "1")
    assert "model.safetensors' exists; use --force" in one_line_error((code, err))
    assert (out / "model.safetensors").read_bytes() == before
    assert call(capsys, *args, "--seed", "1", "--force")[0] == 0
    assert (out / "model.safetensors").read_bytes() != before
    pred = tmp_path / "pred.csv"
    pred.write_text("precious")
    code, _, err = call(capsys, "predict", out / "model.safetensors", PENGUINS, "-o", pred)
    assert "exists; use --force" in one_line_error((code, err)) and pred.read_text() == "precious"
    code, _, err = call(capsys, "export", out / "model.safetensors", "--onnx", pred)
    assert "exists; use --force" in one_line_error((code, err)) and pred.read_text() == "precious"


def test_demo_overwrites_only_its_own_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    args = ["demo", "--dataset", "moons", "--epochs", "3", "--no-compare-activations", "--quiet"]
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, err = call(capsys, *args, "--out", out)
    assert "was not written by 'deltaprop demo'; use --force" in one_line_error((code, err))
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    fresh = tmp_path / "fresh"
    assert call(capsys, *args, "--out", fresh)[0] == 0
    assert (fresh / DEMO_MARKER).exists() and (fresh / "model.safetensors").exists()
    code, out_text, _ = call(capsys, *args, "--out", fresh)  # its own folder: overwritten
    assert code == 0 and "report:" in out_text
    assert call(capsys, *args, "--out", out, "--force")[0] == 0
    assert (out / "notes.txt").read_text() == "mine"


def test_regression_with_target_scaling(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "reg"
    code, text, err = call(
        capsys,
        "train",
        PENGUINS,
        "--target",
        "body_mass_g",
        "--ignore",
        "id",
        "--out",
        out,
        "--epochs",
        "60",
        "--quiet",
    )
    assert code == 0, err
    assert "task: regression of 'body_mass_g'" in text and "r2" in text and "rmse" in text
    assert (out / "report" / "predicted_vs_true.png").exists()
    code, text, _ = call(capsys, "evaluate", out / "model.safetensors", PENGUINS, "--json")
    metrics = json.loads(text)
    assert metrics["r2"] > 0.7 and 50 < metrics["mae"] < 600
    code, text, _ = call(capsys, "predict", out / "model.safetensors", PENGUINS)
    pred = pd.read_csv(io.StringIO(text))["prediction"]
    assert 2000 < pred.mean() < 6500  # grams, not standardized units


def test_checkpoint_and_resume_continue_the_same_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = [
        "--target",
        "species",
        "--ignore",
        "id",
        "--no-early-stopping",
        "--quiet",
        "--dropout",
        "0.1",
    ]
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert (
        call(
            capsys,
            "train",
            PENGUINS,
            *common,
            "--epochs",
            "3",
            "--checkpoint-every",
            "1",
            "--out",
            a,
        )[0]
        == 0
    )
    ckpt = a / "checkpoint.safetensors"
    assert ckpt.exists()
    code, _, err = call(
        capsys, "train", PENGUINS, *common, "--epochs", "7", "--resume", ckpt, "--out", b
    )
    assert code == 0, err
    assert call(capsys, "train", PENGUINS, *common, "--epochs", "7", "--out", c)[0] == 0
    resumed, straight = load_quietly(b / "model.safetensors"), load_quietly(c / "model.safetensors")
    assert np.array_equal(resumed.network_.parameters, straight.network_.parameters)  # type: ignore[attr-defined]
    assert resumed.loss_curve_ == straight.loss_curve_  # type: ignore[attr-defined]
    code, _, err = call(
        capsys,
        "train",
        PENGUINS,
        *common,
        "--epochs",
        "2",
        "--resume",
        ckpt,
        "--out",
        tmp_path / "d",
    )
    assert "nothing left to train" in one_line_error((code, err))
    code, _, err = call(
        capsys,
        "train",
        PENGUINS,
        *common,
        "--hidden",
        "5",
        "--epochs",
        "9",
        "--resume",
        ckpt,
        "--out",
        tmp_path / "e",
    )
    assert "different network" in one_line_error((code, err))


def test_inspect_json_and_a_bare_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from deltaprop import Network
    from deltaprop.io.persistence import save

    save(
        Network([3, 4, 2], "tanh", "categorical_crossentropy", seed=0, batch_norm=True),
        tmp_path / "n.st",
    )
    code, text, _ = call(capsys, "inspect", tmp_path / "n.st", "--json")
    info = json.loads(text)
    assert code == 0 and info["class"] == "Network" and info["parameters"] == 16 + 8 + 10
    code, _, err = call(capsys, "predict", tmp_path / "n.st", PENGUINS)
    assert "bare Network" in one_line_error((code, err))


def test_gradcheck_failure_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, text, _ = call(capsys, "gradcheck", "--tolerance", "1e-30")
    assert code == 1 and "FAILED" in text


def test_npz_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    np.savez(tmp_path / "d.npz", X=X, y=(X[:, 0] > 0).astype(int))
    code, _, err = call(
        capsys, "train", tmp_path / "d.npz", "--target", "y", "--out", tmp_path / "o", *FAST
    )
    assert code == 0, err
    assert (tmp_path / "o" / "report" / "decision_boundary.png").exists()


@pytest.mark.mpi
def test_mpiexec_two_ranks_train_like_one_process(tmp_path: Path) -> None:
    mpiexec = Path(sys.executable).parent / "mpiexec"
    if not mpiexec.exists():
        mpiexec = Path(shutil.which("mpiexec") or "mpiexec")
    args = ["train", str(PENGUINS), "--target", "species", "--epochs", "4", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("DELTAPROP_DISTRIBUTED", None)
    mpi = subprocess.run(
        [str(mpiexec), "-n", "2", *command(*args, "--out", "mpi", script=True)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert mpi.returncode == 0, mpi.stderr
    assert "data-parallel training on 2 MPI processes" in mpi.stdout
    assert mpi.stdout.count("Results") == 1  # rank 0 prints, rank 1 does not
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    a = load_quietly(tmp_path / "mpi" / "model.safetensors")
    b = load_quietly(tmp_path / "one" / "model.safetensors")
    assert np.allclose(a.network_.parameters, b.network_.parameters, rtol=0, atol=1e-12)  # type: ignore[attr-defined]


def test_tiny_table_missing_targets_and_identifier_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "tiny.csv").write_text("x,y\n1,a\n2,b\n3,\n")
    code, text, err = call(
        capsys, "train", tmp_path / "tiny.csv", "--target", "y", "--out", tmp_path / "t", *FAST
    )
    assert code == 0, err
    assert "1 rows without a value of 'y' were left out" in text
    assert "early stopping is off" in text and "-> 1 feature\n" in text
    names = [f"user{k}" for k in range(120)]
    frame = pd.DataFrame({"name": names, "x": np.arange(120.0), "y": [0, 1] * 60})
    frame.to_csv(tmp_path / "ids.csv", index=False)
    code, text, err = call(
        capsys, "train", tmp_path / "ids.csv", "--target", "y", "--out", tmp_path / "i", *FAST
    )
    assert code == 0, err
    assert "column 'name' has 108 distinct values" in text and "--ignore 'name'" in text
    html = (tmp_path / "i" / "report" / "report.html").read_text(encoding="utf-8")
    assert "--ignore &#x27;name&#x27;" in html  # the notes are in the report too


def test_model_trained_in_python_without_preprocessing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from deltaprop import MLPRegressor
    from deltaprop.io.persistence import save

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    frame["y"] = 2 * frame["a"] - frame["b"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPRegressor(
            hidden_layer_sizes=(8,), max_iter=300, learning_rate_init=0.01, random_state=0
        ).fit(frame[["a", "b"]], frame["y"])
    save(est, tmp_path / "py.safetensors")
    frame[["b", "y", "a"]].to_csv(tmp_path / "d.csv", index=False)  # columns found by name
    code, text, err = call(capsys, "predict", tmp_path / "py.safetensors", tmp_path / "d.csv")
    assert code == 0 and err == ""
    got = pd.read_csv(io.StringIO(text))["prediction"].to_numpy()
    assert np.allclose(got, est.predict(frame[["a", "b"]]))
    code, _, err = call(capsys, "evaluate", tmp_path / "py.safetensors", tmp_path / "d.csv")
    assert "give --target COLUMN" in one_line_error((code, err))
    code, text, err = call(
        capsys,
        "evaluate",
        tmp_path / "py.safetensors",
        tmp_path / "d.csv",
        "--target",
        "y",
        "--json",
    )
    assert code == 0 and json.loads(text)["r2"] > 0.9


def test_a_diverging_run_is_one_line_and_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "div"
    code, _, err = call(
        capsys,
        "train",
        PENGUINS,
        "--target",
        "body_mass_g",
        "--out",
        out,
        "--optimizer",
        "sgd",
        "--learning-rate",
        "1e6",
        "--no-scale-target",
        "--quiet",
    )
    line = one_line_error((code, err), code=1)
    assert "diverged" in line and "--learning-rate" in line
    assert not out.exists()
