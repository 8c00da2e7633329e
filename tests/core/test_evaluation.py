"""The evaluation-mode forward pass: row batches, one output array, no caches on the layers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from deltaprop import Network
from deltaprop.core.evaluation import BATCH_BYTES, batch_rows, check_batch_size, evaluate


def _net(**kwargs: object) -> Network:
    kwargs = {"activations": "tanh", "loss": "ce", "seed": 0, **kwargs}
    return Network([6, 16, 8, 3], **kwargs)  # type: ignore[arg-type]


def _arrays(layer: object) -> list[np.ndarray]:
    """Every array a layer (and its batch norm) holds as an attribute."""
    found = [v for v in vars(layer).values() if isinstance(v, np.ndarray)]
    bn = getattr(layer, "batch_norm", None)
    return found + (_arrays(bn) if bn is not None else [])


def _trained_bn(net: Network, rng: np.random.Generator) -> None:
    for _ in range(3):  # running statistics away from (0, 1)
        net.forward(rng.normal(loc=0.5, size=(9, 6)), training=True)


@pytest.mark.parametrize("kwargs", [{}, {"batch_norm": True, "dropout": 0.3},
                                    {"dtype": "float32"}, {"activations": ["relu", "softmax"]}])  # fmt: skip
def test_one_batch_is_bit_identical_to_the_cached_forward(kwargs: dict[str, object]) -> None:
    rng = np.random.default_rng(0)
    net = _net(**kwargs)
    _trained_bn(net, rng)
    X = net.check_X(rng.normal(size=(300, 6)))
    cached = net._forward(X, training=False).copy()
    logits = net.dense[-1].Z.copy()
    hidden = [layer.A.copy() for layer in net.dense[:-1]]
    assert np.array_equal(net.forward(X, batch_size=300), cached)
    assert np.array_equal(net.forward(X, logits=True, batch_size=300), logits)
    for ours, theirs in zip(net.hidden_activations(X, batch_size=300), hidden, strict=True):
        assert np.array_equal(ours, theirs)
    assert net.forward(X).dtype == net.dtype


def test_batches_agree_with_one_batch_to_rounding() -> None:
    """Rows are independent; only BLAS's kernel choice by block shape reorders a dot's sum."""
    rng = np.random.default_rng(1)
    net = _net(batch_norm=True)
    _trained_bn(net, rng)
    X = rng.normal(size=(1001, 6))
    whole = net.forward(X, batch_size=1001)
    for size in (1, 7, 256, 1000):
        np.testing.assert_allclose(net.forward(X, batch_size=size), whole, rtol=1e-13, atol=1e-15)
    assert np.array_equal(net.forward(X, batch_size=7), net.forward(X, batch_size=7))


def test_sparse_input_goes_in_batches() -> None:
    rng = np.random.default_rng(2)
    net = _net()
    dense = rng.normal(size=(40, 6)) * (rng.random((40, 6)) < 0.3)
    np.testing.assert_allclose(
        net.forward(sp.csr_matrix(dense), batch_size=16), net.forward(dense), rtol=1e-13
    )


def test_evaluation_leaves_no_cache_of_its_rows() -> None:
    rng = np.random.default_rng(3)
    net = _net(batch_norm=True, dropout=0.2)
    net.forward(rng.normal(size=(5, 6)), training=True)  # training caches 5 rows
    n = 777
    out = net.forward(rng.normal(size=(n, 6)), batch_size=100)
    assert out.shape == (n, 3)
    for layer in net.layers:
        assert all(a.shape[0] != n for a in _arrays(layer) if a.ndim), type(layer).__name__
    assert net.dense[0].Z.shape == (5, 16)  # the training caches are as training left them


def test_default_batch_rows_bound_the_widest_layer() -> None:
    net = Network([20, 256, 128, 1], seed=0)
    rows = batch_rows(net)
    assert rows % 256 == 0 and rows * 256 * 8 <= BATCH_BYTES
    assert rows == 2048
    assert batch_rows(Network([2, 100_000, 1], seed=0)) == 256  # at least 256 rows
    assert batch_rows(net, 10) == 10


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "100"])
def test_bad_batch_size_is_named(bad: object) -> None:
    with pytest.raises(
        ValueError, match=r"batch_size must be a positive integer .*Received: batch_size="
    ):
        check_batch_size(bad)
    with pytest.raises(ValueError, match="batch_size"):
        evaluate(_net(), np.zeros((2, 6)), batch_size=bad)  # type: ignore[arg-type]
    assert check_batch_size(None) is None and check_batch_size(np.int64(4)) == 4
