"""The engine: shapes, the flat buffer, input checks, and gradients against finite
differences (float64) and PyTorch autograd."""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import ALL_ACTIVATIONS, make_targets

from deltaprop import Network, gradcheck
from deltaprop.core.activations import get_activation

OUTPUT_FOR = {
    "binary_crossentropy": ["sigmoid"],
    "categorical_crossentropy": ["softmax"],
    "mean_squared_error": ["identity", "tanh", "sigmoid", "softplus", "softmax"],
    "mean_absolute_error": ["identity", "tanh"],
    "huber": ["identity", "elu"],
    "poisson": ["exp", "softplus"],
}
LOSSES = list(OUTPUT_FOR)


# --------------------------------------------------------------------------- structure
def test_shapes_follow_the_seeds() -> None:
    net = Network([5, 3, 7, 2], ["relu", "tanh", "sigmoid"], "bce", seed=0)
    assert [W.shape for W in net.weights] == [(3, 5), (7, 3), (2, 7)]
    assert [b.shape for b in net.biases] == [(3,), (7,), (2,)]
    assert net.parameters.shape == (3 * 5 + 3 + 7 * 3 + 7 + 2 * 7 + 2,)
    assert net.forward(np.zeros((4, 5))).shape == (4, 2)


def test_weights_and_biases_are_views_of_one_flat_buffer() -> None:
    net = Network([4, 6, 3], "tanh", "ce", seed=0)
    for p in net.weights + net.biases:
        assert np.shares_memory(p, net.parameters)
    net.parameters[:] = np.arange(net.n_params)
    np.testing.assert_array_equal(net.weights[0].ravel(), np.arange(24))
    np.testing.assert_array_equal(net.biases[0], np.arange(24, 30))
    net.weights[1][0, 0] = -1.0
    assert net.parameters[30] == -1.0
    grads = net.gradients(np.ones((2, 4)), np.eye(3)[[0, 2]])
    offset = 0
    for dW, db in grads:
        np.testing.assert_array_equal(net.grad[offset : offset + dW.size], dW.ravel())
        offset += dW.size
        np.testing.assert_array_equal(net.grad[offset : offset + db.size], db)
        offset += db.size


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_kept_everywhere(dtype: str) -> None:
    net = Network([3, 4, 2], "relu", "ce", seed=0, dtype=dtype, batch_norm=True, dropout=0.1)
    X = np.random.default_rng(0).normal(size=(5, 3))  # float64 input
    Y = np.eye(2)[[0, 1, 0, 1, 1]]
    assert net.parameters.dtype == dtype and net.grad.dtype == dtype
    assert net.forward(X).dtype == dtype
    for dW, db in net.gradients(X, Y, training=True):
        assert dW.dtype == dtype and db.dtype == dtype
    for layer in net.dense:
        assert layer.Z.dtype == dtype and layer.A.dtype == dtype


def test_same_seed_bit_identical_weights() -> None:
    a = Network([5, 8, 3], "relu", "ce", seed=42)
    b = Network([5, 8, 3], "relu", "ce", seed=42)
    c = Network([5, 8, 3], "relu", "ce", seed=43)
    assert a.parameters.tobytes() == b.parameters.tobytes()
    assert a.parameters.tobytes() != c.parameters.tobytes()


def test_activation_forms() -> None:
    per_layer = Network([2, 3, 3, 1], ["relu", "tanh", "sigmoid"], "bce")
    assert [a.name for a in per_layer.activations] == ["relu", "tanh", "sigmoid"]
    hidden_output = Network([2, 3, 3, 3, 1], ["tanh", "identity"], "mse")
    assert [a.name for a in hidden_output.activations] == ["tanh"] * 3 + ["identity"]
    single = Network([2, 3, 4], "elu", "ce")
    assert [a.name for a in single.activations] == ["elu", "softmax"]
    assert [a.name for a in Network([2, 1], "relu", "bce").activations] == ["sigmoid"]


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"layer_sizes": [3, 0, 1]}, r"layer_sizes must be positive integers.*\[3, 0, 1\]"),
        ({"layer_sizes": [3, -2, 1]}, r"width -2"),
        ({"layer_sizes": [3]}, r"at least an input and an output"),
        ({"layer_sizes": [3, 2.5, 1]}, r"width 2\.5"),
        ({"activations": "swish"}, r"Could not interpret activation.*'swish'.*Valid names:.*relu"),
        ({"loss": "hinge"}, r"Could not interpret loss identifier: 'hinge'.*Valid names"),
        ({"activations": ["relu", "relu", "relu", "relu"]}, r"activations must be one name"),
        ({"dtype": "int32"}, r"dtype must be float32 or float64. Received: dtype='int32'"),
        ({"dropout": 1.0}, r"dropout must be a rate in \[0, 1\).*Received: dropout=1.0"),
        ({"dropout": None}, r"dropout must be a rate in \[0, 1\).*Received: dropout=None"),
        ({"batch_norm": "no"}, r"batch_norm must be a bool. Received: batch_norm='no'"),
        ({"init": "zeros"}, r"Could not interpret initializer identifier: 'zeros'"),
    ],
)
def test_bad_construction(kwargs: dict, match: str) -> None:
    args = {"layer_sizes": [3, 4, 1], **kwargs}
    with pytest.raises(ValueError, match=match):
        Network(**args)


@pytest.mark.parametrize(
    ("X", "Y", "match"),
    [
        (np.ones((4, 2)), np.ones(4), r"X has 2 features, but the network expects 3.*\(4, 2\)"),
        (np.ones(3), np.ones(1), r"X must be 2-D.*shape \(3,\)"),
        (np.ones((0, 3)), np.ones(0), r"X is empty"),
        (np.array([[1.0, np.nan, 0.0]]), np.ones(1), r"X contains NaN or infinity"),
        (np.array([[1.0, np.inf, 0.0]]), np.ones(1), r"X contains NaN or infinity"),
        (np.ones((4, 3)), np.ones(5), r"Y must have shape \(4, 1\).*shape \(5, 1\)"),
        (np.ones((4, 3)), np.ones((4, 2)), r"Y must have shape \(4, 1\).*\(4, 2\)"),
        (np.ones((2, 3)), np.array([0.0, np.nan]), r"Y contains NaN or infinity"),
        (np.ones((2, 3)), np.array([0.0, 3.0]), r"binary_crossentropy needs targets in \[0, 1\]"),
        ([["a", "b", "c"]], np.ones(1), r"X must hold real numbers, not text.*dtype <U1"),
        ([[{}, 1, 2]], np.ones(1), r"X must be a numeric array"),
    ],
)
def test_bad_data(X, Y, match: str) -> None:  # type: ignore[no-untyped-def]
    net = Network([3, 4, 1], "relu", "bce", seed=0)
    with pytest.raises(ValueError, match=match):
        net.gradients(X, Y)


def test_bad_sample_weight() -> None:
    net = Network([3, 4, 1], "relu", "bce", seed=0)
    X, Y = np.ones((4, 3)), np.ones(4)
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(4,\)"):
        net.cost(X, Y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match=r"non-negative. Received: sample_weight\[1\]=-1.0$"):
        net.cost(X, Y, sample_weight=np.array([1.0, -1.0, 1.0, -5.0]))  # the first entry
    with pytest.raises(ValueError, match=r"non-negative. Received: sample_weight\[2\]=nan$"):
        net.cost(X, Y, sample_weight=np.array([1.0, 0.0, np.nan, -1.0]))
    with pytest.raises(
        ValueError, match=r"finite and non-negative. Received: sample_weight\[0\]=inf$"
    ):
        net.cost(X, Y, sample_weight=np.array([np.inf, 1.0, 1.0, 1.0]))
    with pytest.raises(
        ValueError, match=r"not be all zero. Received: sample_weight with sum 0.0 over 4 entries"
    ):
        net.cost(X, Y, sample_weight=np.zeros(4))


# --------------------------------------------------------------------------- finite differences
def _pairs() -> list[tuple[str, str, str]]:
    out = [(h, o, loss) for loss in LOSSES for o in OUTPUT_FOR[loss][:1] for h in ALL_ACTIVATIONS]
    out += [("tanh", o, loss) for loss in LOSSES for o in OUTPUT_FOR[loss][1:]]
    return out


@pytest.mark.parametrize(("hidden", "output", "loss"), _pairs())
def test_gradcheck_every_activation_and_loss(hidden: str, output: str, loss: str) -> None:
    rng = np.random.default_rng(zlib.crc32(f"{hidden}-{output}-{loss}".encode()))
    net = Network([4, 5, 3], [hidden, output], loss, seed=1)
    X = rng.normal(size=(7, 4))
    Y = make_targets(rng, loss, 7, 3)
    result = gradcheck(net, X, Y, sample_weight=rng.uniform(0.2, 2.0, 7))
    assert result.max_relative_error < 1e-7, str(result)
    assert np.abs(result.analytic).max() > 1e-3  # not a trivially zero gradient


def test_l2_is_alpha_over_2m_with_its_gradient() -> None:
    """One L2 convention, scikit-learn's MLP one: α/(2m)·Σ‖W‖², m = Σ w (the batch's rows)."""
    rng = np.random.default_rng(0)
    net = Network([3, 4, 2], "tanh", "ce", seed=0)
    X, Y = rng.normal(size=(6, 3)), np.eye(2)[rng.integers(0, 2, 6)]
    w = rng.uniform(0.5, 2.0, 6)
    sq = sum((W**2).sum() for W in net.weights)
    for weights, m in [(None, 6.0), (w, float(w.sum()))]:
        result = gradcheck(net, X, Y, weights, alpha=0.3)  # finite differences of cost
        assert result.max_relative_error < 1e-7, str(result)
        assert net.cost(X, Y, weights, alpha=0.3) == pytest.approx(
            net.cost(X, Y, weights) + 0.3 / (2 * m) * sq, rel=1e-14
        )
        with_l2 = net.gradients(X, Y, weights, alpha=0.3)
        without = net.gradients(X, Y, weights)
        for (a, _), (b, _), W in zip(with_l2, without, net.weights, strict=True):
            np.testing.assert_allclose(a - b, 0.3 / m * W, rtol=1e-12)


def test_l2_equals_scikit_learns_mlp_objective() -> None:
    """What alpha adds to the cost and to dW is what it adds in scikit-learn's MLP."""
    from sklearn.neural_network import MLPRegressor as SkMLP

    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(9, 3)), rng.normal(size=(9, 1))
    w = rng.uniform(0.5, 2.0, 9)
    net = Network([3, 4, 1], ["tanh", "identity"], "mse", seed=0)

    def sk_backprop(alpha: float) -> tuple[float, list[np.ndarray]]:
        sk = SkMLP(hidden_layer_sizes=(4,), activation="tanh", alpha=alpha)
        sk._random_state = np.random.RandomState(0)
        sk._initialize(y, [3, 4, 1], X.dtype)
        sk.coefs_ = [W.T.copy() for W in net.weights]
        sk.intercepts_ = [b.copy() for b in net.biases]
        acts = [X, np.empty((9, 4)), np.empty((9, 1))]
        deltas = [np.empty((9, 4)), np.empty((9, 1))]
        grads = [np.empty_like(c) for c in sk.coefs_]
        loss, grads, _ = sk._backprop(X, y, w, acts, deltas, grads,
                                      [np.empty_like(b) for b in sk.intercepts_])  # fmt: skip
        return loss, grads

    (l_a, g_a), (l_0, g_0) = sk_backprop(0.7), sk_backprop(0.0)
    assert net.cost(X, y, w, alpha=0.7) - net.cost(X, y, w) == pytest.approx(l_a - l_0, rel=1e-12)
    ours, zero = net.gradients(X, y, w, alpha=0.7), net.gradients(X, y, w)
    for l in range(2):
        np.testing.assert_allclose(ours[l][0] - zero[l][0], (g_a[l] - g_0[l]).T, rtol=1e-10)


def test_gradcheck_detects_a_wrong_gradient(monkeypatch: pytest.MonkeyPatch) -> None:
    """A gradient check that cannot fail is a defect: break the sigmoid's derivative."""
    rng = np.random.default_rng(0)
    net = Network([3, 4, 1], ["sigmoid", "sigmoid"], "bce", seed=0)
    X, Y = rng.normal(size=(6, 3)), rng.integers(0, 2, (6, 1))
    assert gradcheck(net, X, Y).max_relative_error < 1e-7
    sig = type(net.activations[0])
    monkeypatch.setattr(sig, "derivative", lambda self, Z, A: A * (1 - A) * 1.01)
    result = gradcheck(net, X, Y)
    assert result.relative_errors["W[1]"] > 1e-3
    assert result.relative_errors["W[2]"] < 1e-7  # the output layer is fused: untouched


# --------------------------------------------------------------------------- PyTorch autograd
TORCH_ACT = {
    "identity": lambda z: z,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
    "elu": F.elu,
    "gelu": F.gelu,
    "softplus": F.softplus,
    "exp": torch.exp,
    "softmax": lambda z: torch.softmax(z, dim=1),
}


def torch_cost(net: Network, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None, l2: float = 0.0):  # type: ignore[no-untyped-def]
    """The same cost written with PyTorch; returns (cost, [W tensors], [b tensors])."""
    Ws = [torch.tensor(W, requires_grad=True) for W in net.weights]
    bs = [torch.tensor(b, requires_grad=True) for b in net.biases]
    a = torch.tensor(X)
    for W, b, g in zip(Ws, bs, net.activations, strict=True):
        z = a @ W.T + b
        a = TORCH_ACT[g.name](z)
    y = torch.tensor(Y)
    name = net.loss.name
    if name == "binary_crossentropy":
        per = F.binary_cross_entropy_with_logits(z, y, reduction="none").sum(1)
    elif name == "categorical_crossentropy":
        per = -(y * torch.log_softmax(z, dim=1)).sum(1)
    elif name == "mean_squared_error":
        per = 0.5 * ((a - y) ** 2).sum(1)
    elif name == "mean_absolute_error":
        per = (a - y).abs().sum(1)
    elif name == "huber":
        per = F.huber_loss(a, y, reduction="none", delta=1.0).sum(1)
    else:
        per = (torch.xlogy(y, y) - torch.xlogy(y, a) - y + a).sum(1)
    wt = torch.ones(len(X), dtype=torch.float64) if w is None else torch.tensor(w)
    J = (per * wt).sum() / wt.sum() + 0.5 * l2 * sum((W**2).sum() for W in Ws)
    J.backward()
    return J, Ws, bs


ODD = [
    ([5, 3, 7, 2], ["relu", "tanh", "sigmoid"], "binary_crossentropy"),
    ([5, 3, 7, 2], ["gelu", "elu", "softmax"], "categorical_crossentropy"),
    ([3, 1, 4], ["sigmoid", "identity"], "mean_squared_error"),
    ([3, 1, 4], ["tanh", "softmax"], "categorical_crossentropy"),
    ([5, 3, 7, 2], ["softplus", "leaky_relu", "identity"], "huber"),
    ([3, 1, 4], ["elu", "tanh"], "mean_absolute_error"),
    ([5, 3, 7, 2], ["tanh", "relu", "exp"], "poisson"),
    ([5, 3, 7, 2], ["relu", "sigmoid", "softmax"], "mean_squared_error"),
    ([4, 6, 6, 6, 3], ["tanh", "gelu", "softplus", "sigmoid"], "binary_crossentropy"),
]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("sizes", "acts", "loss"), ODD)
def test_equals_torch_autograd(
    sizes: list[int], acts: list[str], loss: str, weighted: bool
) -> None:
    rng = np.random.default_rng(len(sizes) * 100 + len(loss))
    net = Network(sizes, acts, loss, seed=3)
    for b in net.biases:
        b[:] = rng.normal(scale=0.3, size=b.shape)
    m = 11
    X = rng.normal(size=(m, sizes[0]))
    Y = make_targets(rng, loss, m, sizes[-1])
    w = rng.uniform(0.1, 3.0, m) if weighted else None
    J, Ws, bs = torch_cost(net, X, Y, w, l2=0.05 / (m if w is None else w.sum()))
    assert net.cost(X, Y, w, alpha=0.05) == pytest.approx(J.item(), rel=1e-12)
    grads = net.gradients(X, Y, w, alpha=0.05)
    for (dW, db), W, b in zip(grads, Ws, bs, strict=True):
        np.testing.assert_allclose(dW, W.grad.numpy(), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(db, b.grad.numpy(), rtol=1e-10, atol=1e-14)


# --------------------------------------------------------------------------- properties
@pytest.mark.parametrize("loss", LOSSES)
def test_duplicating_the_data_leaves_gradients_unchanged(loss: str) -> None:
    """The 1/m: a data set and its copy twice over have the same cost and gradient."""
    rng = np.random.default_rng(5)
    net = Network([4, 6, 3], ["tanh", OUTPUT_FOR[loss][0]], loss, seed=0)
    X = rng.normal(size=(8, 4))
    Y = make_targets(rng, loss, 8, 3)
    once = net.gradients(X, Y)
    twice = net.gradients(np.vstack([X, X]), np.vstack([Y, Y]))
    for (a, b), (c, d) in zip(once, twice, strict=True):
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(b, d, rtol=1e-12, atol=1e-15)
    assert net.cost(X, Y) == pytest.approx(
        net.cost(np.vstack([X, X]), np.vstack([Y, Y])), rel=1e-13
    )


def test_weight_two_equals_duplicating_a_row() -> None:
    rng = np.random.default_rng(6)
    net = Network([3, 5, 2], "relu", "ce", seed=0)
    X, Y = rng.normal(size=(5, 3)), np.eye(2)[rng.integers(0, 2, 5)]
    w = np.array([2.0, 1, 1, 1, 1])
    a = net.gradients(X, Y, sample_weight=w)
    b = net.gradients(np.vstack([X, X[:1]]), np.vstack([Y, Y[:1]]))
    for (dW1, db1), (dW2, db2) in zip(a, b, strict=True):
        np.testing.assert_allclose(dW1, dW2, rtol=1e-12)
        np.testing.assert_allclose(db1, db2, rtol=1e-12)


@pytest.mark.parametrize(
    ("output", "loss"), [("sigmoid", "bce"), ("softmax", "ce"), ("identity", "mse")]
)
def test_fused_output_gradient_equals_general_chain_rule(output: str, loss: str) -> None:
    """dZ[L] = A - Y for the canonical pairs is what the chain rule gives."""
    rng = np.random.default_rng(1)
    net = Network([3, 4, 3], ["tanh", output], loss, seed=0)
    assert net.fused
    X = rng.normal(size=(6, 3))
    Y = make_targets(rng, net.loss.name, 6, 3)
    net.cost(X, Y)  # the cached forward pass that backward reads
    out = net.dense[-1]
    general = out.activation.backward(net.loss.gradient(Y, out.A), out.Z, out.A)
    np.testing.assert_allclose(net.output_dZ(Y), general, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(net.output_dZ(Y), out.A - Y)


def test_non_canonical_pair_is_not_fused() -> None:
    assert not Network([2, 3, 2], ["relu", "tanh"], "mse").fused
    assert not Network([2, 3, 2], ["relu", "softmax"], "mse").fused
    assert not Network([2, 3, 2], ["relu", "exp"], "poisson").fused


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float32_gradients_close_to_float64(dtype: str) -> None:
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(10, 4)), np.eye(3)[rng.integers(0, 3, 10)]
    ref = Network([4, 8, 3], "relu", "ce", seed=0)
    net = Network([4, 8, 3], "relu", "ce", seed=0, dtype=dtype)
    for (a, b), (c, d) in zip(ref.gradients(X, Y), net.gradients(X, Y), strict=True):
        np.testing.assert_allclose(c, a, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(d, b, rtol=1e-4, atol=1e-6)


def test_hidden_activations() -> None:
    net = Network([3, 4, 5, 2], ["relu", "tanh", "softmax"], "ce", seed=0)
    X = np.random.default_rng(0).normal(size=(6, 3))
    H = net.hidden_activations(X)
    assert [h.shape for h in H] == [(6, 4), (6, 5)]
    np.testing.assert_allclose(H[0], np.maximum(X @ net.weights[0].T + net.biases[0], 0))


def test_calling_the_network_is_its_forward_pass() -> None:
    net = Network([3, 4, 2], ["relu", "softmax"], "ce", seed=0)
    X = np.random.default_rng(0).normal(size=(6, 3))
    np.testing.assert_array_equal(net(X), net.forward(X))
    np.testing.assert_array_equal(net(X, logits=True, batch_size=2), net.forward(X, logits=True))
    assert np.allclose(net(X).sum(axis=1), 1.0)


def test_all_activations_are_registered_for_tests() -> None:
    for name in itertools.chain(ALL_ACTIVATIONS, ["exp", "softmax"]):
        get_activation(name)
