"""The batch size a run takes, and the Trainer's best weights (deltaprop.train.batches,
deltaprop.train.trainer.Trainer.best_state)."""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Any

import numpy as np
import pytest

from deltaprop import Network, Trainer
from deltaprop.train import (
    TRAINER_DEFAULTS,
    Callback,
    effective_batch_size,
    validation_indices,
    validation_split,
)
from deltaprop.train.batches import check_batch_norm_batches


@pytest.mark.parametrize(
    ("batch_size", "n", "expected"), [(None, 7, 7), (200, 50, 50), (32, 50, 32), (0, 5, 1)]
)
def test_effective_batch_size_clips_to_the_rows(
    batch_size: int | None, n: int, expected: int
) -> None:
    assert effective_batch_size(batch_size, n) == expected
    if batch_size is not None:
        assert effective_batch_size(batch_size, n) == int(np.clip(batch_size, 1, n))


def test_defaults_are_the_signatures() -> None:
    params = inspect.signature(Trainer).parameters
    for name, value in dataclasses.asdict(TRAINER_DEFAULTS).items():
        if name == "learning_rate":  # None: an optimizer object's own, else the default
            assert params[name].default is None
            net = Network([3, 4, 1], "tanh", "bce", seed=0)
            assert Trainer(net, "sgd").learning_rate == value
        elif name in params:
            assert params[name].default == value, name


def test_best_state_and_restore_best() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(80, 3)), rng.integers(0, 2, 80).astype(float)
    net = Network([3, 4, 1], "tanh", "bce", seed=0)
    trainer = Trainer(net, "adam", learning_rate=0.05, epochs=5, early_stopping=True, seed=0)
    assert trainer.best_state() is None and trainer.restore_best() is False
    trainer.fit(X, y)
    state = trainer.best_state()
    assert state is not None
    net.parameters[...] = 0.0
    assert trainer.restore_best()
    np.testing.assert_array_equal(net.parameters, state[0])


def test_validation_split_is_the_trainers() -> None:
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(50, 2)), np.eye(3)[rng.integers(0, 3, 50)]
    tr, va = validation_indices(Y, 0.2, 7, "categorical_crossentropy")
    Xt, Yt, wt, Xv, Yv, wv = validation_split(X, Y, None, 0.2, 7, "categorical_crossentropy")
    np.testing.assert_array_equal(Yv, Y[va])
    np.testing.assert_array_equal(Yt, Y[tr])
    assert wt is None and wv is None and len(va) == 10
    np.testing.assert_array_equal(Xv, X[va])
    np.testing.assert_array_equal(Xt, X[tr])


class _Epochs(Callback):
    def __init__(self) -> None:
        self.begun = 0

    def on_epoch_begin(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.begun += 1


@pytest.mark.parametrize(
    ("optimizer", "n", "batch_size", "text"),
    [("sgd", 9, 8, "batch_size=8 over 9 training rows leaves a last batch of 1 row"),
     ("adam", 9, 1, "batch_size=1 over 9 training rows gives batches of 1 row"),
     ("lbfgs", 1, None, "a fit on 1 training row has a batch of 1 row")],
)  # fmt: skip
def test_a_batch_of_one_row_under_batch_norm_is_refused_before_any_epoch(
    optimizer: str, n: int, batch_size: int | None, text: str
) -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(n, 3)), rng.integers(0, 2, n)
    net = Network([3, 4, 4, 2], "tanh", "ce", seed=0, batch_norm=[False, True])
    p0, counter = net.parameters.copy(), _Epochs()
    t = Trainer(net, optimizer, batch_size=batch_size, epochs=2, callbacks=[counter])
    with pytest.raises(ValueError, match=re.escape(
        f"{text}, and batch norm (on hidden layer 2) needs more than 1 row per batch"
    )) as info:  # fmt: skip
        t.fit(X, y)
    if n > 1:  # batch sizes that leave no row alone
        suggested = [int(b) for b in str(info.value).split("such as ")[1].split(" or ")]
        assert suggested == ([9, 7] if batch_size == 8 else [3, 5])
        assert all(n % b != 1 for b in suggested)
    assert counter.begun == 0 and np.array_equal(net.parameters, p0)
    Trainer(Network([3, 4, 2], "tanh", "ce", seed=0), optimizer, batch_size=batch_size,
            epochs=1).fit(X, y)  # fmt: skip  # without batch norm: trains
    if n > 1:  # a batch size that leaves no row alone: trains
        t.batch_size = 3
        t.fit(X, y)
        assert counter.begun == 2 and not np.array_equal(net.parameters, p0)


def test_the_estimators_auto_batch_refuses_a_last_row_alone_under_batch_norm() -> None:
    from deltaprop import MLPClassifier

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(201, 3)), rng.integers(0, 2, 201)  # "auto": min(200, n) rows
    with pytest.raises(ValueError, match=r"batch_size=200 over 201 training rows leaves a last "
                       r"batch of 1 row, .* such as 201 or 199"):  # fmt: skip
        MLPClassifier((4,), batch_norm=True, max_iter=1).fit(X, y)
    with pytest.warns(Warning, match="Maximum iterations"):
        MLPClassifier((4,), batch_norm=True, max_iter=1).fit(X[:200], y[:200])


def test_over_mpi_ranks_each_share_of_a_batch_needs_two_rows_under_batch_norm() -> None:
    """Each rank normalizes its share by its own statistics (even_share: 3 rows over 2
    ranks are 2 and 1): a batch needs 2 rows a rank."""
    net = Network([3, 4, 2], "tanh", "ce", batch_norm=True)
    check_batch_norm_batches(net, 10, 44, ranks=2)  # shares of 5 and 5, then 2 and 2
    check_batch_norm_batches(net, 10, 43, ranks=1)  # a last batch of 3 rows, on one process
    with pytest.raises(ValueError, match=re.escape(
        "batch_size=10 over 43 training rows leaves a last batch of 3 rows, with a share of 1 "
        "row, and batch norm (on hidden layer 1) needs more than 1 row per batch in training "
        "(one row's variance is 0: its normalized values would all be 0, as "
        "torch.nn.BatchNorm1d refuses) on each rank, which normalizes its share of a batch by "
        "the share's own statistics: a batch needs 4 rows over 2 ranks; choose a batch_size "
        "that leaves no share of 1 row, such as 11 or 9"
    )):  # fmt: skip
        check_batch_norm_batches(net, 10, 43, ranks=2)
    with pytest.raises(ValueError, match="batch_size=3 over 30 training rows gives batches of 3"):
        check_batch_norm_batches(net, 3, 30, ranks=2)
    with pytest.raises(ValueError, match="a fit on 3 training rows over 2 ranks has a share of 1"):
        check_batch_norm_batches(net, None, 3, ranks=2)
    check_batch_norm_batches(Network([3, 4, 2], "tanh", "ce"), 1, 43, ranks=2)  # no batch norm
