"""Layers: Dense equations, batch normalization against PyTorch, dropout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deltaprop import Network, gradcheck


def test_dense_forward_is_the_seed_equation() -> None:
    net = Network([3, 4], ["tanh"], "mse", seed=0)
    X = np.random.default_rng(0).normal(size=(5, 3))
    (W,), (b,) = net.weights, net.biases
    # The seeds' column form z = W a + b, one column per example, transposed.
    np.testing.assert_allclose(net.forward(X), np.tanh(W @ X.T + b[:, None]).T, rtol=1e-15)


def _torch_bn_net(net: Network) -> torch.nn.Sequential:
    """The same network in PyTorch: Linear -> BatchNorm1d -> activation, per hidden layer."""
    acts = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "identity": torch.nn.Identity}
    mods: list[torch.nn.Module] = []
    for layer in net.dense:
        lin = torch.nn.Linear(layer.n_in, layer.n_out).double()
        lin.weight.data = torch.tensor(layer.W.copy())
        lin.bias.data = torch.tensor(layer.b.copy())
        mods.append(lin)
        if layer.batch_norm is not None:
            bn = torch.nn.BatchNorm1d(layer.n_out).double()
            bn.weight.data = torch.tensor(layer.batch_norm.params["gamma"].copy())
            bn.bias.data = torch.tensor(layer.batch_norm.params["beta"].copy())
            mods.append(bn)
        mods.append(acts[layer.activation.name]())
    return torch.nn.Sequential(*mods)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_torch(training: bool) -> None:
    rng = np.random.default_rng(0)
    net = Network([4, 6, 5, 3], ["relu", "tanh", "identity"], "mse", seed=0, batch_norm=True)
    for layer in net.dense[:-1]:
        bn = layer.batch_norm
        assert bn is not None
        bn.params["gamma"][:] = rng.uniform(0.5, 1.5, bn.n)
        bn.params["beta"][:] = rng.normal(size=bn.n)
    model = _torch_bn_net(net)
    X = rng.normal(size=(9, 4))
    Y = rng.normal(size=(9, 3))
    # Put some history in the running statistics, the same in both.
    for _ in range(3):
        Xb = rng.normal(loc=1.0, size=(7, 4))
        net.forward(Xb, training=True)
        model.train()
        model(torch.tensor(Xb))
    model.train(training)
    out = model(torch.tensor(X))
    J = 0.5 * ((out - torch.tensor(Y)) ** 2).sum(1).mean()
    J.backward()
    ours = net.gradients(X, Y, training=training)
    np.testing.assert_allclose(net.dense[-1].A, out.detach().numpy(), rtol=1e-12, atol=1e-14)
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    for (dW, db), lin in zip(ours, linears, strict=True):
        np.testing.assert_allclose(dW, lin.weight.grad.numpy(), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(db, lin.bias.grad.numpy(), rtol=1e-10, atol=1e-13)
    bns = [m for m in model if isinstance(m, torch.nn.BatchNorm1d)]
    for layer, bn in zip(net.dense[:-1], bns, strict=True):
        ours_bn = layer.batch_norm
        assert ours_bn is not None
        np.testing.assert_allclose(
            ours_bn.grads["gamma"], bn.weight.grad.numpy(), rtol=1e-10, atol=1e-13
        )
        np.testing.assert_allclose(
            ours_bn.grads["beta"], bn.bias.grad.numpy(), rtol=1e-10, atol=1e-13
        )
        np.testing.assert_allclose(ours_bn.running_mean, bn.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(ours_bn.running_var, bn.running_var.numpy(), rtol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck(training: bool) -> None:
    rng = np.random.default_rng(1)
    net = Network([4, 6, 5, 3], "tanh", "ce", seed=0, batch_norm=True)
    X, Y = rng.normal(size=(8, 4)), np.eye(3)[rng.integers(0, 3, 8)]
    result = gradcheck(net, X, Y, training=training)
    assert result.max_relative_error < 1e-7, str(result)
    assert set(result.relative_errors) >= {"gamma[1]", "beta[2]"}


def test_dropout_gradcheck_with_fixed_mask() -> None:
    rng = np.random.default_rng(2)
    net = Network([4, 8, 8, 2], "relu", "ce", seed=0, dropout=0.4)
    for b in net.biases:  # off the ReLU kink at z = 0 for rows whose units all dropped
        b[:] = rng.uniform(0.1, 0.5, b.shape)
    X, Y = rng.normal(size=(10, 4)), np.eye(2)[rng.integers(0, 2, 10)]
    result = gradcheck(net, X, Y, training=True)
    assert result.max_relative_error < 1e-7, str(result)


def test_dropout_inverted_and_only_in_training() -> None:
    net = Network([3, 400, 1], ["relu", "identity"], "mse", seed=0, dropout=0.25)
    drop = net.layers[1]
    A = np.random.default_rng(0).uniform(1, 2, size=(500, 400))
    assert drop.forward(A, training=False) is A
    out = drop.forward(A, training=True)
    mask = drop.mask
    assert set(np.unique(mask)) == {0.0, 1 / 0.75}
    assert abs((mask == 0).mean() - 0.25) < 0.01
    np.testing.assert_array_equal(out, A * mask)
    assert abs(out.mean() / A.mean() - 1) < 0.01  # inverted: the expectation is kept
    dA = np.ones_like(A)
    np.testing.assert_array_equal(drop.backward(dA), mask)
    net.forward(np.ones((2, 3)))
    assert net.layers[1].mask is None  # evaluation: identity


def test_dropout_changes_mask_between_calls_but_is_seeded() -> None:
    a = Network([3, 20, 1], "relu", "mse", seed=5, dropout=0.5)
    b = Network([3, 20, 1], "relu", "mse", seed=5, dropout=0.5)
    X = np.ones((4, 3))
    a1, b1 = a.forward(X, training=True), b.forward(X, training=True)
    np.testing.assert_array_equal(a1, b1)
    assert not np.array_equal(a1, a.forward(X, training=True))


@pytest.mark.parametrize("m", [7, 2], ids=["a batch", "two rows"])
def test_batch_norm_kernels_are_its_numpy_form(m: int) -> None:
    numba = pytest.importorskip("numba")
    from deltaprop.core.layers import BatchNorm

    rng = np.random.default_rng(5)
    Z = rng.normal(2.0, 3.0, (m, 4))
    dOut = rng.normal(size=(m, 4))
    bn = BatchNorm(4, momentum=0.2, epsilon=1e-3)
    P = np.empty((2, 4))
    bn.bind(P.ravel(), np.zeros(8))
    bn.init_buffers(np, np.float64)
    P[0], P[1] = rng.uniform(0.5, 2, 4), rng.normal(size=4)
    bn.running_mean[...], bn.running_var[...] = rng.normal(size=4), rng.uniform(1, 2, 4)
    rm, rv = bn.running_mean.copy(), bn.running_var.copy()
    out = bn.forward(Z, training=True)
    dZ = bn.backward(dOut)
    k = {name: numba.njit(getattr(BatchNorm, name)) for name in (
        "kernel_center", "kernel_add_block", "kernel_statistics", "kernel_normalize",
        "kernel_backward_sums", "kernel_backward_apply")}  # fmt: skip
    Zk, H, mu, s, inv = Z.copy(), np.empty((m, 4)), np.empty(4), np.empty(4), np.empty(4)
    k["kernel_center"](Zk, Zk.sum(axis=0), mu, s)  # one block (the column sums: fast.layered)
    np.testing.assert_array_equal(mu, Z.mean(axis=0))
    var = np.zeros(4)
    k["kernel_add_block"](mu, s, m, mu.copy(), var)
    np.testing.assert_array_equal(var, s)
    k["kernel_statistics"](var, mu, m, inv, rm, rv, 0.2, 1e-3, True)
    k["kernel_normalize"](Zk, mu, inv, P, H)
    np.testing.assert_array_equal(Zk, out)  # one block: the NumPy form's operations
    np.testing.assert_array_equal(H, bn.Z_hat)
    np.testing.assert_array_equal(inv, bn.inv_std)
    np.testing.assert_array_equal(rm, bn.running_mean)
    np.testing.assert_array_equal(rv, bn.running_var)
    d_gamma, d_beta, dk, db = np.empty(4), np.empty(4), dOut.copy(), np.empty(4)
    k["kernel_backward_sums"](dk, H, d_gamma, d_beta)
    k["kernel_backward_apply"](dk, H, inv, P, d_beta / m, d_gamma / m, db)
    np.testing.assert_allclose(dk, dZ, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(db, dk.sum(axis=0))
    np.testing.assert_allclose(d_gamma / m, bn.grads["gamma"], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(d_beta / m, bn.grads["beta"], rtol=1e-13)


def test_batch_norm_refuses_one_row_in_training_as_torch() -> None:
    """Training on 1 row: one row's variance is 0 (Ẑ = 0 and the running variance pulled
    towards 0), which torch.nn.BatchNorm1d refuses; evaluation takes the running statistics."""
    net = Network([3, 4, 3], "tanh", "ce", seed=0, batch_norm=True)
    X, y = np.random.default_rng(0).normal(size=(2, 3)), np.array([0, 2])
    before = {k: v.copy() for k, v in net.buffers()}
    with pytest.raises(ValueError, match=r"more than 1 row per batch in training \(as torch\.nn"
                       r"\.BatchNorm1d\): got a batch of 1 row at BatchNorm\(4\), the batch "
                       r"norm of a layer of 4 units"):  # fmt: skip
        net.cost(X[:1], y[:1], training=True)
    for k, v in net.buffers():
        np.testing.assert_array_equal(v, before[k])  # the running statistics unchanged
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        torch.nn.BatchNorm1d(4).train()(torch.zeros(1, 4))
    assert np.isfinite(net.cost(X[:1], y[:1])) and np.isfinite(net.cost(X, y, training=True))
