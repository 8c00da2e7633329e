"""The ``deltaprop`` command in-process: file policy, regression, checkpoints, inspect,
gradcheck, ``.npz`` input, ``mpiexec``, small tables, plain estimators, a diverging run."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import deltaprop
from deltaprop.app.cli import main
from deltaprop.app.commands.demo import DEMO_MARKER
from tests.app.clitools import FAST, PENGUINS, call, command, load_quietly, one_line_error


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
    assert '--hidden: "auto" → [5]' in one_line_error((code, err))


def test_inspect_json_and_a_bare_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from deltaprop import Network
    from deltaprop.io import save

    save(
        Network([3, 4, 2], "tanh", "categorical_crossentropy", seed=0, batch_norm=True),
        tmp_path / "n.st",
    )
    code, text, _ = call(capsys, "inspect", tmp_path / "n.st", "--json")
    info = json.loads(text)
    assert code == 0 and info["class"] == "Network" and info["parameters"] == 16 + 8 + 10
    assert (info["library_version"], info["format_version"]) == (deltaprop.__version__, "1")
    code, text, _ = call(capsys, "inspect", tmp_path / "n.st")
    assert text.splitlines()[1] == f"written by deltaprop {deltaprop.__version__} (file format 1)"
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
    assert "column 'name' has 96 distinct values" in text and "--ignore 'name'" in text
    html = (tmp_path / "i" / "report" / "report.html").read_text(encoding="utf-8")
    assert "--ignore &#x27;name&#x27;" in html  # the notes are in the report too


def test_model_trained_in_python_without_preprocessing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from deltaprop import MLPRegressor
    from deltaprop.io import save

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
    assert line.startswith("deltaprop: error: training diverged in epoch 1: the loss reached ")
    assert line.endswith("; no model was written. Try a lower --learning-rate (it was 1e+06).")
    assert not out.exists()


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_diverged_run_is_not_saved_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], optimizer: str
) -> None:
    """SGD or Adam at learning rate 10 explodes while the loss stays finite: no model is
    written, and the message suggests only the command's own options."""
    from sklearn.datasets import load_digits

    frame = load_digits(as_frame=True).frame
    data = tmp_path / "digits.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "run"
    code, _, err = call(
        capsys, "train", data, "--target", "target", "--optimizer", optimizer,
        "--learning-rate", "10", "--out", out, "--no-report", "--epochs", "20",
    )  # fmt: skip
    line = one_line_error((code, err), code=1)
    assert re.fullmatch(
        r"deltaprop: error: training diverged in epoch 1: the loss reached \S+, more than 100 "
        r"times the larger of the starting loss \(\S+\) and a constant predictor's \(\S+\); "
        r"no model was written\. Try a lower --learning-rate \(it was 10\)\.",
        line,
    ), line
    # one message: not scikit-learn's too, nor the library's "weights ... were kept"
    assert "Solver" not in line and "kept" not in line and "clip_norm" not in line
    assert not (out / "model.safetensors").exists()


def test_every_run_says_why_it_stopped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    args = ["train", PENGUINS, "--target", "species", "--out", out, "--no-report"]
    code, stdout, _ = call(capsys, *args, "--no-early-stopping", "--epochs", "7")
    assert code == 0 and "stopped at epoch 7: reached the epoch limit (--epochs=7)" in stdout


def test_gradcheck_names_activations_and_checks_float32_at_its_own_tolerance(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, text, _ = call(capsys, "gradcheck", "--activation", "relu,tanh,softmax")
    assert code == 0
    assert text.splitlines()[0].startswith("network 4-6-5-3, relu, tanh hidden, softmax output")
    assert "[" not in text.splitlines()[0]
    code, text, _ = call(capsys, "gradcheck", "--dtype", "float32")
    assert code == 0 and "passed" in text and "≤ 0.01" in text  # step 1e-4 failed: 0.52
    assert call(capsys, "gradcheck", "--dtype", "float32", "--tolerance", "1e-6")[0] == 1


def test_train_writes_the_curves_beside_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import csv

    out = tmp_path / "run"
    args = ["train", PENGUINS, "--target", "species", "--out", out, "--no-report"]
    assert call(capsys, *args, "--epochs", "6", "--no-early-stopping")[0] == 0
    with (out / "history.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    model = load_quietly(out / "model.safetensors")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [float(r["loss"]) for r in rows] == model.loss_curve_
    assert [float(r["val_loss"]) for r in rows] == model.validation_loss_curve_
    code, _, err = call(capsys, *args, "--epochs", "6")
    assert "exists; use --force" in one_line_error((code, err))
