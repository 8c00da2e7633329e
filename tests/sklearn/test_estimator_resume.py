"""What a checkpoint recognises its run by (train.checkpoint: data_fingerprint,
setting_changes, run_changes, the Checkpoint's seconds) and the estimators' resume check."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from deltaprop import MLPClassifier
from deltaprop.train.checkpoint import (
    Checkpoint,
    ResumeFrom,
    checkpoint_run,
    data_fingerprint,
    run_changes,
    setting_changes,
)


def test_data_fingerprint_sees_order_values_types_and_sparsity() -> None:
    a = np.arange(6.0).reshape(3, 2)
    base = data_fingerprint(a, None)
    assert base == data_fingerprint(a.copy(), None) and len(base) == 64
    others = [a[::-1], a[:2], a.astype(np.float32), a + 1e-12, sp.csr_matrix(a)]
    assert len({base, *(data_fingerprint(o, None) for o in others)}) == 1 + len(others)
    assert data_fingerprint(a, None) != data_fingerprint(a, np.ones(3))


def test_setting_changes_name_old_and_new() -> None:
    old = {"seed": 0, "hidden": (8,), "alpha": 1e-4}
    assert setting_changes(old, {"seed": 0, "hidden": [8], "alpha": 1e-4}) == []
    assert setting_changes(old, {"seed": 1, "hidden": [8, 4], "loss": "huber"}) == [
        "hidden: [8] → [8, 4]", 'loss: "(not set)" → "huber"', "seed: 0 → 1",
        'alpha: 0.0001 → "(not set)"',
    ]  # fmt: skip
    current = {"settings": {"seed": 0}, "data": "x"}
    assert run_changes(None, "estimator", current) is None
    assert run_changes({"seconds": 1.0}, "estimator", current) is None
    assert run_changes({"estimator": {"settings": {"seed": 0}, "data": "y"}}, "estimator",
                       current) == ["the data changed"]  # fmt: skip


def digits() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 5))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


KW = {"hidden_layer_sizes": (6,), "tol": 0.0, "random_state": 0, "batch_size": 30}


@pytest.fixture
def interrupted(tmp_path: Path) -> Path:
    X, y = digits()
    path = tmp_path / "run.ckpt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MLPClassifier(**KW, max_iter=3, callbacks=[Checkpoint(path)]).fit(X, y)
    return path


def test_the_checkpoint_records_the_estimators_fingerprint_and_seconds(interrupted: Path) -> None:
    run = checkpoint_run(interrupted)
    assert run is not None and set(run) == {"estimator", "seconds"} and run["seconds"] > 0
    settings = run["estimator"]["settings"]
    assert settings["hidden_layer_sizes"] == [6] and settings["random_state"] == 0
    assert "max_iter" not in settings and "callbacks" not in settings


def test_a_resumed_fit_counts_every_epoch_and_the_seconds(interrupted: Path) -> None:
    X, y = digits()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = MLPClassifier(**KW, max_iter=7).fit(X, y)
        again = Checkpoint(interrupted)
        resumed = MLPClassifier(**KW, max_iter=7, callbacks=[again]).fit(
            X, y, resume_from=interrupted
        )
    np.testing.assert_array_equal(resumed.network_.parameters, whole.network_.parameters)
    assert resumed.n_iter_ == whole.n_iter_ == 7
    assert again.seconds > 0


def test_the_checkpoint_seconds_carry_over(interrupted: Path, tmp_path: Path) -> None:
    X, y = digits()
    before = checkpoint_run(interrupted)
    assert before is not None
    again = Checkpoint(tmp_path / "next.ckpt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MLPClassifier(**KW, max_iter=5, callbacks=[again]).fit(X, y, resume_from=interrupted)
    after = checkpoint_run(tmp_path / "next.ckpt")
    assert after is not None and after["seconds"] > before["seconds"]
    assert again.seconds >= after["seconds"]  # the end's write, then the fit's last instant


@pytest.mark.parametrize(
    ("change", "named"),
    [({"learning_rate_init": 0.01}, "learning_rate_init: 0.001 → 0.01"),
     ({"random_state": 1}, "random_state: 0 → 1"), ({"alpha": 0.1}, "alpha: 0.0001 → 0.1")],
)  # fmt: skip
def test_changed_parameters_are_refused_naming_them(
    interrupted: Path,
    change: dict,
    named: str,  # type: ignore[type-arg]
) -> None:
    X, y = digits()
    est = MLPClassifier(**{**KW, **change}, max_iter=6)
    with pytest.raises(ValueError, match="other parameters or data") as info:
        est.fit(X, y, resume_from=interrupted)
    assert named in str(info.value) and "the data changed" not in str(info.value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(UserWarning, match=named):
            est.fit(X, y, resume_from=ResumeFrom(interrupted, allow_changes=True))
    assert len(est.loss_curve_) == 6 and est.n_iter_ == 6


def test_changed_data_is_refused_and_max_iter_may_change(interrupted: Path) -> None:
    X, y = digits()
    with pytest.raises(ValueError, match="the data changed"):
        MLPClassifier(**KW, max_iter=6).fit(X[::-1], y[::-1], resume_from=interrupted)
    with pytest.raises(ValueError, match="the data changed"):
        MLPClassifier(**KW, max_iter=6).fit(X[:80], y[:80], resume_from=interrupted)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifier(**KW, max_iter=6, n_iter_no_change=3).fit(X, y, resume_from=interrupted)
    assert est.n_iter_ == 6
