"""A streamed fit resumed from a checkpoint gives the bits of the fit never interrupted
(deltaprop/sklearn/streamed.py: ``resume_from``), as an in-memory one does."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from deltaprop import MLPClassifier
from deltaprop.data import NpyDataset
from deltaprop.train import Checkpoint

rng = np.random.default_rng(3)
X = rng.normal(size=(700, 5))
y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(float)
KW = {"hidden_layer_sizes": (12,), "tol": 0.0, "random_state": 0, "batch_size": 50}


def data() -> NpyDataset:
    return NpyDataset(X, y, block_rows=64, buffer_blocks=3)  # 11 blocks, 4 buffers


@pytest.mark.parametrize("early_stopping", [False, True])
def test_resume_gives_the_uninterrupted_bits(tmp_path: Path, early_stopping: bool) -> None:
    kw = {**KW, "early_stopping": early_stopping, "n_iter_no_change": 50}
    path = tmp_path / "run.ckpt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = MLPClassifier(**kw, max_iter=6).fit(data())
        # the epoch-3 checkpoint, as an interrupted run leaves it (before early stopping
        # restores its best weights at the end)
        stop = Checkpoint(path, at_end=False)
        MLPClassifier(**kw, max_iter=3, callbacks=[stop]).fit(data())
        again = MLPClassifier(**kw, max_iter=6).fit(data(), resume_from=path)
    assert again.n_iter_ == 6 and len(again.loss_curve_) == 6
    for a, b in zip(
        whole.coefs_ + whole.intercepts_, again.coefs_ + again.intercepts_, strict=True
    ):
        np.testing.assert_array_equal(a, b)
    assert whole.loss_curve_ == again.loss_curve_


def test_resume_refuses_another_dataset(tmp_path: Path) -> None:
    path = tmp_path / "run.ckpt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MLPClassifier(**KW, max_iter=2, callbacks=[Checkpoint(path)]).fit(data())
        other = NpyDataset(X[:600], y[:600], block_rows=64, buffer_blocks=3)
        with pytest.raises(ValueError, match="the data changed"):
            MLPClassifier(**KW, max_iter=4).fit(other, resume_from=path)
