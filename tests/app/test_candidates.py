"""--hidden auto: the option's values, the linear candidate's L2, the cross-validated
choice (no candidate sees the fold it is scored on) and its record in the model file."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import pandas as pd
import pytest
from clitools import call, load_quietly

import deltaprop.app.candidates as candidates
from deltaprop.app.candidates import (
    CV_FOLDS,
    HiddenChoice,
    choose_hidden,
    command_alpha,
    cross_validated_losses,
    describe_hidden,
    hidden_layers,
    linear_alpha,
    one_standard_error,
)
from deltaprop.app.console import Output
from deltaprop.app.parser import build_parser, hidden_option
from deltaprop.app.runs import make_estimator


def _args(*extra: str) -> argparse.Namespace:
    return build_parser().parse_args(["train", "t.csv", "--target", "y", "--quiet", *extra])


def _regression(n: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    return X, X @ np.array([1.0, -0.5, 0.25, 0.0]) + 0.5 * rng.standard_normal(n)


def test_the_option_takes_auto_none_and_sizes() -> None:
    assert hidden_option("auto") == "auto"
    assert hidden_option("none") == ()
    assert hidden_option("64,32") == (64, 32)
    assert hidden_layers("auto") == (32,)
    # the size check's layers: above the comparison's row limit auto trains 100
    assert candidates.largest_hidden("auto", 1000) == (32,)
    assert candidates.largest_hidden("auto", 1001) == (100,)
    assert candidates.largest_hidden((8,), 5000) == (8,)
    assert describe_hidden(()) == "none"
    assert _args().hidden == "auto"  # the default


def test_the_linear_candidate_keeps_the_mini_batch_objective() -> None:
    # alpha/(2m) per batch of m is alpha*n/m on a full batch of n (C = m/(alpha*n))
    assert linear_alpha(0.1, 320, 32) == pytest.approx(1.0)
    assert linear_alpha(0.1, 20, 32) == pytest.approx(0.1)  # the batch is all 20 rows


def test_auto_alpha_is_0_1_then_the_total_l2_of_c_1() -> None:
    assert command_alpha(0.5, 5000, 32) == 0.5  # a number is itself
    assert command_alpha("auto", 200, 32) == 0.1  # m/n = 0.16: 0.1 is less
    assert command_alpha("auto", 1077, 32) == pytest.approx(32 / 1077)  # digits' rows
    assert command_alpha("auto", 1000, "auto") == pytest.approx(0.1)  # batches of 200: m/n 0.2
    # above 10*m rows the linear model's full-batch L2 is LogisticRegression's C=1
    assert linear_alpha("auto", 5000, 32) == pytest.approx(1.0)
    assert make_estimator(_args(), "classification", 1077, True).alpha == pytest.approx(32 / 1077)


def test_the_choice_says_what_it_compared() -> None:
    chose = HiddenChoice((), {"none": 0.25, "32": 0.2}, {"none": 0.01, "32": 0.05})
    assert chose.linear
    assert chose.describe() == (
        "none (mean 5-fold cross-validated loss: none 0.25 ± 0.01, 32 0.2 ± 0.05; "
        "the simplest within one standard error of the lowest)"
    )
    assert HiddenChoice((32,), {}, why="streamed").describe() == "32 (no comparison: streamed)"


def test_the_network_must_beat_the_linear_model_by_one_standard_error() -> None:
    lin = np.array([0.30, 0.32, 0.28, 0.31, 0.29])  # mean 0.30
    near = lin - 0.01 + np.array([0.06, -0.06, 0.04, -0.04, 0.0])  # mean 0.29, se 0.018
    assert one_standard_error({"none": lin, "32": near}).hidden == ()
    far = lin - 0.05 + np.array([0.01, -0.01, 0.0, 0.0, 0.0])  # mean 0.25, se 0.003
    chose = one_standard_error({"none": lin, "32": far})
    assert chose.hidden == (32,)
    assert chose.losses == pytest.approx({"none": 0.30, "32": 0.25})
    assert chose.errors["32"] == pytest.approx(np.std(far, ddof=1) / np.sqrt(5))


def test_no_candidate_is_fitted_or_stopped_on_the_fold_that_scores_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    X, y = _regression()
    X = np.column_stack([X, np.arange(len(y)) / len(y)])  # the last column names the row
    seen: list[set[float]] = []

    def recording(*a: Any) -> Any:
        est = make_estimator(*a)
        fit = est.fit

        def fit_and_record(Xf: np.ndarray, yf: np.ndarray, **kw: Any) -> Any:
            rows = set(Xf[:, -1]) | set(kw.get("X_val", Xf)[:, -1])
            seen.append(rows)
            return fit(Xf, yf, **kw)

        est.fit = fit_and_record
        return est

    losses = cross_validated_losses(recording, _args("--epochs", "20"), "regression", X, y)
    assert set(losses) == {"none", "32"}
    assert all(v.shape == (CV_FOLDS,) and (v > 0).all() for v in losses.values())
    from sklearn.model_selection import KFold

    folds = [fold for _, fold in KFold(CV_FOLDS, shuffle=True, random_state=0).split(X)]
    assert len(seen) == 2 * CV_FOLDS  # per fold: the linear fit, the stopped fit of 32
    for k, rows in enumerate(seen):
        held_out = set(X[folds[k // 2], -1])
        assert not rows & held_out
        assert len(rows) == len(y) - len(held_out)  # the stopped fit: its inner split too


def test_a_linear_target_picks_the_linear_model_reproducibly() -> None:
    X, y = _regression(120)
    out = Output(enabled=False)
    args = _args("--epochs", "40")
    first = choose_hidden(args, "regression", X, y, make_estimator, out)
    again = choose_hidden(args, "regression", X, y, make_estimator, out)
    assert first is not None and first.linear, first
    assert again == first  # the folds and the fits follow --seed
    assert first.losses["none"] < first.losses["32"]
    assert choose_hidden(_args("--hidden", "32"), "regression", X, y, make_estimator, out) is None


def test_no_comparison_above_the_row_limit_or_without_early_stopping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    X, y = _regression(60)
    out = Output(enabled=False)
    monkeypatch.setattr(candidates, "AUTO_ROW_LIMIT", 50)
    big = choose_hidden(_args(), "regression", X, y, make_estimator, out)
    assert big == HiddenChoice((100,), {}, why="60 rows, more than 50", dropout=0.1)
    assert big.describe() == "100 with dropout 0.1 (no comparison: 60 rows, more than 50)"
    est = candidates.candidate_estimator(big, make_estimator, _args(), "regression", 48, True)
    assert (tuple(est.hidden_layer_sizes), est.dropout) == ((100,), 0.1)
    given = choose_hidden(_args("--dropout", "0.3"), "regression", X, y, make_estimator, out)
    assert given == HiddenChoice((100,), {}, why="60 rows, more than 50")  # --dropout's
    est = candidates.candidate_estimator(
        given, make_estimator, _args("--dropout", "0.3"), "regression", 48, True
    )
    assert (tuple(est.hidden_layer_sizes), est.dropout) == ((100,), 0.3)
    monkeypatch.setattr(candidates, "AUTO_ROW_LIMIT", 1000)
    off = choose_hidden(_args("--no-early-stopping"), "regression", X, y, make_estimator, out)
    assert off == HiddenChoice((32,), {}, why="no early stopping")
    labels = np.array(["a"] * 56 + ["b"] * 4)
    few = choose_hidden(_args(), "classification", X, labels, make_estimator, out)
    assert few is not None and few.why == f"a class has fewer than {CV_FOLDS} rows"


def test_the_command_records_the_choice_and_trains_it(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    X, y = _regression(120, seed=1)
    frame = pd.DataFrame(X, columns=list("abcd")).assign(y=y)
    frame.to_csv(tmp_path / "t.csv", index=False)
    code, text, err = call(capsys, "train", tmp_path / "t.csv", "--target", "y",
                           "--epochs", "40", "--out", tmp_path / "run", "--no-report",
                           "--checkpoint-every", "5")  # fmt: skip
    assert code == 0, err
    assert "hidden layers (--hidden auto): none (mean 5-fold cross-validated loss:" in text
    # a linear model keeps no state to resume: no checkpoint, and the line says so
    assert "note: no checkpoint written: the linear model" in text and "checkpoint:" not in text
    assert not (tmp_path / "run" / "checkpoint.safetensors").exists()
    est = load_quietly(tmp_path / "run" / "model.safetensors")
    assert tuple(est.hidden_layer_sizes) == ()
    code, text, err = call(capsys, "inspect", tmp_path / "run" / "model.safetensors")
    assert code == 0, err
    assert "hidden layers (--hidden auto)" in text and "none (mean 5-fold" in text


def test_above_the_row_limit_the_command_trains_100_with_dropout_and_records_it(
    tmp_path: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(candidates, "AUTO_ROW_LIMIT", 50)
    X, y = _regression(120, seed=2)
    pd.DataFrame(X, columns=list("abcd")).assign(y=y).to_csv(tmp_path / "t.csv", index=False)
    code, text, err = call(capsys, "train", tmp_path / "t.csv", "--target", "y",
                           "--epochs", "5", "--out", tmp_path / "run", "--no-report")  # fmt: skip
    assert code == 0, err
    line = "100 with dropout 0.1 (no comparison: 120 rows, more than 50)"
    assert f"hidden layers (--hidden auto): {line}" in text
    est, (extra, _) = load_quietly(tmp_path / "run" / "model.safetensors", return_extra=True)
    assert (tuple(est.hidden_layer_sizes), est.dropout) == ((100,), 0.1)
    settings = extra["run"]["settings"]
    assert settings["dropout"] == 0.1  # what it trained with, not --dropout's 0
    assert settings["hidden layers (--hidden auto)"] == line
    code, text, err = call(capsys, "inspect", tmp_path / "run" / "model.safetensors")
    assert code == 0, err
    assert "4 → 100" in text and "dropout 0.1" in text


def test_a_refit_cut_short_by_epochs_does_not_claim_convergence(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    X, y = _regression(120, seed=1)
    pd.DataFrame(X, columns=list("abcd")).assign(y=y).to_csv(tmp_path / "t.csv", index=False)
    code, text, err = call(capsys, "train", tmp_path / "t.csv", "--target", "y",
                           "--epochs", "2", "--out", tmp_path / "run", "--no-report")  # fmt: skip
    assert code == 0, err
    assert "refit the linear model on all 120 rows for --epochs 2 (2 L-BFGS" in text, text
    assert "to convergence" not in text
