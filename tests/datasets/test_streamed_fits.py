"""Streamed fits equal in-memory fits: bit for bit where the orders coincide (one buffer, or
no shuffling), and the same steps whatever the files' chunking
(deltaprop/train/streaming.py, deltaprop/sklearn/streamed.py)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from test_sources import write_csv, write_parquet

from deltaprop import MLPClassifier, MLPRegressor, Network, Trainer
from deltaprop.core import fused
from deltaprop.data import NpyDataset, open_dataset
from deltaprop.train import Callback

rng = np.random.default_rng(0)
X = np.round(rng.normal(size=(1500, 6)), 6)
y = np.round((X[:, 0] * X[:, 1] > 0).astype(float), 6)


def fit(data: tuple, n_hidden: int = 16, **kw) -> tuple[np.ndarray, list[float]]:  # type: ignore[type-arg]
    net = Network([6, n_hidden, 1], "tanh", "binary_crossentropy", seed=0)
    t = Trainer(net, "adam", learning_rate=0.01, batch_size=64, epochs=3, seed=0, **kw)
    loss = t.fit(*data).loss
    return net.parameters.copy(), loss


class Batches(Callback):
    """Watches batches: the Python loop runs."""

    def on_batch_end(self, trainer, batch, logs):  # type: ignore[no-untyped-def]
        pass


@pytest.mark.parametrize("n_hidden", [16, 1024])  # the Python loop, the compiled one
@pytest.mark.parametrize("shuffle", [True, False])
def test_one_buffer_is_the_in_memory_fit_bit_for_bit(n_hidden: int, shuffle: bool) -> None:
    if n_hidden == 1024 and fused.get(10**6) is None:
        pytest.skip("numba is not installed")
    a = fit((X, y), n_hidden, shuffle=shuffle)
    b = fit((NpyDataset(X, y, block_rows=100, buffer_blocks=15),), n_hidden, shuffle=shuffle)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], rtol=1e-14)


def test_small_buffers_python_and_compiled_take_the_same_steps() -> None:
    data = NpyDataset(X, y, block_rows=50, buffer_blocks=3)
    compiled = fit((data,), 1024)
    python = fit((data,), 1024, callbacks=[Batches()])
    np.testing.assert_allclose(compiled[0], python[0], rtol=1e-9, atol=1e-12)
    in_memory = fit((X, y), 1024)
    assert np.abs(compiled[0] - in_memory[0]).max() > 1e-6  # another order: other weights


def test_the_files_chunking_changes_nothing(tmp_path: Path) -> None:
    write_parquet(tmp_path / "a", X, y, files=1, group=1500)
    write_parquet(tmp_path / "b", X, y, files=4, group=33)
    write_csv(tmp_path / "t.csv", X, y)
    layout = {"block_rows": 50, "buffer_blocks": 4}
    ref = fit((NpyDataset(X, y, **layout),))  # read in the training thread
    assert open_dataset(tmp_path / "a", "target").read_ahead  # 8 buffers, read ahead
    for data in (
        open_dataset(tmp_path / "a", "target", **layout),
        open_dataset(tmp_path / "b", "target", **layout),
        open_dataset(tmp_path / "t.csv", "target", chunk_rows=7, **layout),
    ):
        got = fit((data,))
        np.testing.assert_array_equal(got[0], ref[0])


def test_validation_split_and_early_stopping() -> None:
    data = NpyDataset(X, y, block_rows=50, buffer_blocks=4)
    net = Network([6, 16, 1], "tanh", "binary_crossentropy", seed=0)
    t = Trainer(net, "adam", learning_rate=0.01, batch_size=64, epochs=40, seed=0,
                validation_fraction=0.2, early_stopping=True, n_iter_no_change=2)  # fmt: skip
    h = t.fit(data)
    assert len(h.val_loss) == len(h.loss) < 40 and h.stop_reason == "early_stopping"
    assert h.val_score[-1] > 0.6


def test_estimators_streamed_equal_in_memory() -> None:
    kw = {"hidden_layer_sizes": (16,), "max_iter": 4, "random_state": 0, "batch_size": 64}
    labels = (X[:, 0] > 0).astype(int) + (X[:, 2] > 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = MLPClassifier(**kw).fit(X, labels)
        b = MLPClassifier(**kw).fit(NpyDataset(X, labels.astype(float), buffer_blocks=8))
        c = MLPRegressor(**kw).fit(X, X[:, 0])
        d = MLPRegressor(**kw).fit(NpyDataset(X, X[:, 0], buffer_blocks=8))
    np.testing.assert_array_equal(b.classes_, [0.0, 1.0, 2.0])
    assert a.classes_.dtype == np.int64 and b.classes_.dtype == np.float64  # the labels' own
    with warnings.catch_warnings():  # integer labels on disk: integer classes, as in memory
        warnings.simplefilter("ignore")  # (they were floats: "proba_0.0" in the command)
        e = MLPClassifier(**kw).fit(NpyDataset(X, labels, buffer_blocks=8))
    assert e.classes_.dtype == np.int64 and e.classes_.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(e.predict_proba(X), b.predict_proba(X))
    for u, v in ((a, b), (c, d)):
        for cu, cv in zip(u.coefs_, v.coefs_, strict=True):
            np.testing.assert_array_equal(cu, cv)
        assert u.loss_curve_ == v.loss_curve_
    assert b.n_features_in_ == 6 and b.predict(X[:5]).shape == (5,)


def test_estimator_refuses_what_a_dataset_cannot_take_each_with_its_reason() -> None:
    d = NpyDataset(X, (y > 0).astype(float))
    start = "fit on a Dataset \\(out of core\\) does not take "
    cases = [
        (lambda: MLPRegressor(max_iter=1).fit(d, sample_weight=np.ones(1500)),
         "sample_weight: every row of a streamed fit weighs the same; fit arrays in memory"),
        (lambda: MLPRegressor(max_iter=1).fit(d, y),
         "y: the dataset carries its own target; call fit\\(dataset\\)"),
        (lambda: MLPClassifier(max_iter=1, class_weight="balanced").fit(d),
         "class_weight='balanced': class weights are not applied to streamed rows; set "
         "class_weight=None"),
        (lambda: MLPClassifier(max_iter=1, warm_start=True).fit(d),
         "warm_start=True: a streamed fit starts from fresh weights; set warm_start=False"),
        (lambda: MLPClassifier(max_iter=1).partial_fit(d, None, classes=[0, 1]),
         "partial_fit: a streamed fit is one whole run of max_iter epochs; call "
         "fit\\(dataset\\) .*; nor classes: the classes are read from the dataset's target"),
        (lambda: MLPClassifier(max_iter=1).partial_fit(d, classes=[0, 1]),
         "partial_fit: a streamed fit is one whole run"),  # no y: the same ValueError
        (lambda: MLPClassifier(max_iter=1).partial_fit(d), "partial_fit: a streamed"),
        (lambda: MLPRegressor(max_iter=1).partial_fit(d), "partial_fit: a streamed"),
    ]  # fmt: skip
    for call, match in cases:
        with pytest.raises(ValueError, match=start + match):
            call()
    with pytest.raises(ValueError, match="requires y to be passed"):  # arrays need their y
        MLPRegressor(max_iter=1).partial_fit(X)
    with pytest.raises(ValueError, match="requires y to be passed"):
        MLPClassifier(max_iter=1).partial_fit(X, classes=[0, 1])


def test_trainer_refuses_y_with_a_dataset() -> None:
    net = Network([6, 4, 1], "tanh", "binary_crossentropy", seed=0)
    with pytest.raises(ValueError, match="a Dataset carries its own target"):
        Trainer(net).fit(NpyDataset(X, y), y)
    with pytest.raises(ValueError, match="the dataset has 6 features but the network takes 5"):
        Trainer(Network([5, 4, 1], "tanh", "binary_crossentropy")).fit(NpyDataset(X, y))


def test_a_read_ahead_error_is_raised_by_fit() -> None:
    class Failing(NpyDataset):
        read_ahead, calls = True, 0

        def take_unordered(self, rows, *args, **kw):  # type: ignore[no-untyped-def]
            self.calls += 1  # every read of a buffer comes here (take gathers after it)
            if self.calls == 5:
                raise OSError("disk gone")
            return super().take_unordered(rows, *args, **kw)

    with pytest.raises(OSError, match="disk gone"):
        fit((Failing(X, y, block_rows=50, buffer_blocks=4),))


@pytest.mark.parametrize("group", [50, 500])  # a block each; larger than a buffer
@pytest.mark.parametrize("n_hidden", [16, 1024])  # the Python loop, the compiled one
def test_a_spilled_parquet_decodes_each_row_group_once_and_gives_the_same_bits(
    tmp_path: Path, n_hidden: int, group: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    if n_hidden == 1024 and fused.get(10**6) is None:
        pytest.skip("numba is not installed")
    write_parquet(tmp_path / "a", X, y, files=3, group=group)
    layout = {"block_rows": 50, "buffer_blocks": 4}
    decoding = open_dataset(tmp_path / "a", "target", spill_dir=None, **layout)
    spilled = open_dataset(tmp_path / "a", "target", spill_dir=tmp_path, **layout)
    assert (decoding.spill_path, spilled.spill_path) == (None, tmp_path)
    decoded: list[int] = []
    arrow = type(spilled)._tables  # every decoding of row groups goes through it

    def counting(self, pieces, *args):  # type: ignore[no-untyped-def]
        decoded.extend(pieces.tolist())
        return arrow(self, pieces, *args)

    monkeypatch.setattr(type(spilled), "_tables", counting)
    ref = fit((decoding,), n_hidden)
    groups = len(X) // group
    assert len(decoded) >= 3 * groups  # every epoch decodes every row group again
    decoded.clear()
    got = fit((spilled,), n_hidden)  # 3 epochs
    np.testing.assert_array_equal(got[0], ref[0])
    assert got[1] == ref[1]
    assert sorted(decoded) == list(range(groups))  # each row group once
    assert list(tmp_path.glob("deltaprop-spill-*")) == []  # an unnamed file
