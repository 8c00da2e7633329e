"""``deltaprop train``'s defaults: early stopping on the validation loss with the best
weights kept, a results table and ``inspect`` of the kept epoch, ``--schedule`` under every
optimizer, and the one table of defaults (issue 15 items 1, 3, 4, 6)."""

from __future__ import annotations

import inspect as pyinspect
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from clitools import PENGUINS, call, load_quietly, one_line_error

PENGUIN_ARGS = ["--target", "species", "--ignore", "id", "--quiet", "--no-report"]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Penguins trained with the command's defaults: (folder, stdout)."""
    import contextlib
    import io

    from deltaprop.app.cli import main

    out = tmp_path_factory.mktemp("defaults") / "run"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["train", str(PENGUINS), *PENGUIN_ARGS, "--out", str(out)]) == 0
    return out, buf.getvalue()


def _run_summary(model: Path) -> dict[str, Any]:
    """The run summary the command writes in the model file's extra section."""
    config, _arrays = load_quietly(model, return_extra=True)[1]
    return dict(config["run"])


def test_early_stopping_watches_the_validation_loss_and_keeps_its_best_epoch(
    default_run: tuple[Path, str],
) -> None:
    folder, text = default_run
    est = load_quietly(folder / "model.safetensors")
    history = pd.read_csv(folder / "history.csv")
    kept = int(np.argmin(history["val_loss"].to_numpy())) + 1  # the first minimum
    assert kept < len(history)  # it stopped after the best, and went back to it
    assert est.history_ is not None and len(est.loss_curve_) == len(history)
    assert "the validation loss did not improve" in text
    assert f"the weights of epoch {kept} were restored" in text
    # the held-out probabilities are those of epoch `kept`, not of the last epoch
    run = _run_summary(folder / "model.safetensors")
    assert run["kept_epoch"] == kept and run["stop_reason"] == "early_stopping"
    assert run["metrics"]["validation"]["log_loss"] == pytest.approx(
        history["val_loss"][kept - 1], rel=1e-9
    )


def test_the_results_table_is_of_the_kept_epoch(default_run: tuple[Path, str]) -> None:
    folder, text = default_run
    run = _run_summary(folder / "model.safetensors")
    kept, epochs = run["kept_epoch"], run["epochs"]
    history = pd.read_csv(folder / "history.csv")
    assert kept < epochs == len(history)
    assert f"Results (the weights of epoch {kept})" in text
    row = next(line for line in text.splitlines() if f"loss (epoch {kept})" in line)
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    train_loss, val_loss = float(cells[1]), float(cells[2])
    assert train_loss == pytest.approx(history["loss"][kept - 1], rel=1e-3)
    assert val_loss == pytest.approx(history["val_loss"][kept - 1], rel=1e-3)
    # not the last epoch's (the training loss: the validation loss of 30 rows is flat there)
    assert train_loss != pytest.approx(history["loss"].iloc[-1], rel=1e-3)
    assert "loss (last epoch)" not in text
    for label, value in (("epochs trained", epochs), ("weights kept from epoch", kept)):
        line = next(line for line in text.splitlines() if label in line)
        assert line.split("│")[2].strip() == str(value)


def test_the_model_s_parameters_are_the_run_s(default_run: tuple[Path, str]) -> None:
    """A refit in Python holds out what the command held out (it said 0.1, the estimator's
    default, where the run held out 0.2)."""
    from deltaprop.train.defaults import COMMAND_DEFAULTS

    params = load_quietly(default_run[0] / "model.safetensors").get_params()
    assert params["validation_fraction"] == COMMAND_DEFAULTS.validation == 0.2
    assert params["early_stopping"] is True and params["n_iter_no_change"] == 30


def test_inspect_prints_the_kept_epoch_and_why_the_run_stopped(
    default_run: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _ = default_run
    model = folder / "model.safetensors"
    run = _run_summary(model)
    code, text, _ = call(capsys, "inspect", model)
    assert code == 0
    kept = run["kept_epoch"]
    assert f"weights kept from epoch │ {kept}" in " ".join(text.split()).replace("  ", " ")
    assert run["stop_message"] in " ".join(text.split())
    assert run["stop_message"].startswith(f"stopped at epoch {run['epochs']}: the validation loss")
    code, text, _ = call(capsys, "inspect", model, "--json")
    info = json.loads(text)
    assert (info["kept_epoch"], info["epochs"]) == (kept, run["epochs"])
    assert info["stop_message"] == run["stop_message"]


def test_monitor_val_score_keeps_scikit_learns_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text, err = call(
        capsys,
        "train",
        PENGUINS,
        *PENGUIN_ARGS,
        "--monitor",
        "val_score",
        "--hidden",
        "32",
        "--out",
        tmp_path,
    )
    assert code == 0, err
    history = pd.read_csv(tmp_path / "history.csv")
    kept = int(np.argmax(history["val_score"].to_numpy())) + 1
    assert "the validation score did not improve" in text
    assert f"Results (the weights of epoch {kept})" in text


def test_cosine_schedule_drives_adam(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    epochs, lr = 12, 0.01
    common = [*PENGUIN_ARGS, "--no-early-stopping", "--epochs", str(epochs)]
    code, _, err = call(
        capsys, "train", PENGUINS, *common, "--learning-rate", str(lr),
        "--schedule", "cosine", "--out", tmp_path / "cosine",
    )  # fmt: skip
    assert code == 0, err
    rates = pd.read_csv(tmp_path / "cosine" / "history.csv")["learning_rate"].to_numpy()
    expected = [lr * 0.5 * (1 + math.cos(math.pi * e / epochs)) for e in range(epochs)]
    np.testing.assert_allclose(rates, expected, rtol=1e-12)
    assert rates[-1] < 0.03 * lr  # annealed to nearly 0: not the constant rate
    est = load_quietly(tmp_path / "cosine" / "model.safetensors")
    assert est.solver == "adam" and est.learning_rate == "cosine"


def test_scikit_learns_sgd_schedules_are_refused_with_adam(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("invscaling", "adaptive"):
        code, _, err = call(
            capsys, "train", PENGUINS, *PENGUIN_ARGS, "--schedule", name, "--out", tmp_path
        )
        line = one_line_error((code, err))
        assert f"--schedule {name} drives --optimizer sgd only" in line
        assert "--optimizer adam" in line
    assert not (tmp_path / "model.safetensors").exists()


def test_the_estimators_defaults_are_the_table_s() -> None:
    """The estimators differ from the Trainer only where the table says (scikit-learn's)."""
    from deltaprop import MLPClassifier, MLPRegressor, Trainer
    from deltaprop.train import ESTIMATOR_DEFAULTS, TRAINER_DEFAULTS

    for cls in (MLPClassifier, MLPRegressor):
        params = cls().get_params()
        assert {k: params[k] for k in ESTIMATOR_DEFAULTS} == dict(ESTIMATOR_DEFAULTS)
        assert (params["solver"], params["learning_rate"]) == (
            TRAINER_DEFAULTS.optimizer, TRAINER_DEFAULTS.schedule,
        )  # fmt: skip
        assert (params["learning_rate_init"], params["max_iter"], params["tol"]) == (
            TRAINER_DEFAULTS.learning_rate, TRAINER_DEFAULTS.epochs, TRAINER_DEFAULTS.tol,
        )  # fmt: skip
        assert params["n_iter_no_change"] == TRAINER_DEFAULTS.n_iter_no_change
        assert params["validation_fraction"] == TRAINER_DEFAULTS.early_stopping_fraction
    signature = pyinspect.signature(Trainer).parameters
    assert signature["batch_size"].default == TRAINER_DEFAULTS.batch_size == 200
    assert signature["alpha"].default == TRAINER_DEFAULTS.alpha == 0.0


def test_the_estimators_early_stopping_monitor(capsys: pytest.CaptureFixture[str]) -> None:
    from sklearn.datasets import load_iris
    from sklearn.utils._param_validation import InvalidParameterError

    from deltaprop import MLPClassifier

    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    kw = {"hidden_layer_sizes": (8,), "early_stopping": True, "random_state": 0,
          "learning_rate_init": 0.03, "max_iter": 300}  # fmt: skip
    by_loss = MLPClassifier(early_stopping_monitor="val_loss", **kw).fit(X, y)
    assert "the validation loss did not improve" in by_loss.stop_message_
    best = int(np.argmin(by_loss.validation_loss_curve_)) + 1
    assert by_loss.history_.best_epoch == best
    by_score = MLPClassifier(**kw).fit(X, y)
    assert "the validation score did not improve" in by_score.stop_message_
    with pytest.raises(InvalidParameterError, match="early_stopping_monitor"):
        MLPClassifier(early_stopping_monitor="loss").fit(X, y)


def test_the_estimators_schedules_under_adam() -> None:
    """deltaprop's own schedules drive Adam; scikit-learn's stay sgd-only, as there."""
    from sklearn.datasets import load_iris

    from deltaprop import MLPClassifier

    X, y = load_iris(return_X_y=True)
    kw = {"hidden_layer_sizes": (4,), "max_iter": 4, "random_state": 0, "tol": 0.0,
          "learning_rate_init": 0.01}  # fmt: skip
    with pytest.warns(UserWarning):  # ConvergenceWarning: max_iter reached, on purpose
        cosine = MLPClassifier(learning_rate="cosine", **kw).fit(X, y)
        inv = MLPClassifier(learning_rate="invscaling", **kw).fit(X, y)
    np.testing.assert_allclose(
        cosine.history_.learning_rate,
        [0.01 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)],
        rtol=1e-12,
    )
    assert inv.history_.learning_rate == [0.01] * 4


def test_refit_trains_on_all_rows_for_the_kept_epochs(
    default_run: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from deltaprop.app.fitting import refit_on_all_rows

    folder, _ = default_run
    refit = load_quietly(folder / "model.safetensors")
    run = _run_summary(folder / "model.safetensors")
    kept = run["kept_epoch"]
    assert run["settings"]["refit on all rows (epochs)"] == kept
    code, _, err = call(capsys, "train", PENGUINS, *PENGUIN_ARGS, "--out", tmp_path / "n",
                        "--no-refit")  # fmt: skip
    assert code == 0, err
    kept_only = load_quietly(tmp_path / "n" / "model.safetensors")
    assert (
        "refit on all rows (epochs)"
        not in _run_summary(tmp_path / "n" / "model.safetensors")["settings"]
    )
    # the same validated fit (curves, kept epoch), other weights: those of all 150 rows
    assert list(kept_only.loss_curve_) == list(refit.loss_curve_)
    assert not np.allclose(kept_only.coefs_[0], refit.coefs_[0])
    with pytest.raises(ValueError, match="epochs must be at least 1, got 0"):
        refit_on_all_rows(kept_only, np.zeros((3, 11)), np.array(["a", "b", "a"]), 0)


def test_a_run_at_the_epoch_limit_names_and_refits_its_best_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Early stopping on, patience never out: the 200-epoch run keeps epoch 199's weights,
    and every label, the stop line and the refit on all rows say and use epoch 199."""
    args = ["train", PENGUINS, *PENGUIN_ARGS, "--hidden", "32"]
    code, text, err = call(capsys, *args, "--epochs", "200", "--out", tmp_path / "a")
    assert code == 0, err
    history = pd.read_csv(tmp_path / "a" / "history.csv")
    kept = int(np.argmin(history["val_loss"].to_numpy())) + 1
    assert (kept, len(history)) == (199, 200)
    assert f"Results (the weights of epoch {kept})" in text
    assert f"loss (epoch {kept})" in text and "epoch 200)" not in text
    assert (
        f"stopped at epoch 200: reached the epoch limit (--epochs=200); the best validation "
        f"loss was {history['val_loss'][kept - 1]:.6g} at epoch {kept}, whose weights were kept"
    ) in text
    assert f"refit on all 150 rows for {kept} epochs" in text
    run = _run_summary(tmp_path / "a" / "model.safetensors")
    assert run["kept_epoch"] == kept and run["settings"]["refit on all rows (epochs)"] == kept
    # the refit is the one of a run that ends at its best epoch: the same weights
    code, _, err = call(capsys, *args, "--epochs", str(kept), "--out", tmp_path / "b")
    assert code == 0, err
    a = load_quietly(tmp_path / "a" / "model.safetensors")
    b = load_quietly(tmp_path / "b" / "model.safetensors")
    for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        np.testing.assert_array_equal(wa, wb)
