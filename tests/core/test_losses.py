"""Losses against PyTorch, from logits and from outputs, with extreme values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deltaprop.core.losses import LOSSES, get_loss


def test_bce_from_logits_matches_torch(rng: np.random.Generator) -> None:
    Z = rng.normal(scale=5, size=(8, 3))
    Y = rng.integers(0, 2, (8, 3)).astype(float)
    ours = get_loss("binary_crossentropy").value_from_logits(Y, Z)
    ref = F.binary_cross_entropy_with_logits(torch.tensor(Z), torch.tensor(Y), reduction="none")
    np.testing.assert_allclose(ours, ref.sum(1).numpy(), rtol=1e-13)


def test_ce_from_logits_matches_torch(rng: np.random.Generator) -> None:
    Z = rng.normal(scale=5, size=(8, 4))
    labels = rng.integers(0, 4, 8)
    ours = get_loss("categorical_crossentropy").value_from_logits(np.eye(4)[labels], Z)
    ref = F.cross_entropy(torch.tensor(Z), torch.tensor(labels), reduction="none")
    np.testing.assert_allclose(ours, ref.numpy(), rtol=1e-13)


@pytest.mark.parametrize(
    ("name", "ref"),
    [
        ("mean_squared_error", lambda a, y: 0.5 * F.mse_loss(a, y, reduction="none").sum(1)),
        ("mean_absolute_error", lambda a, y: F.l1_loss(a, y, reduction="none").sum(1)),
        ("huber", lambda a, y: F.huber_loss(a, y, reduction="none", delta=1.0).sum(1)),
    ],
)
def test_regression_losses_match_torch(name: str, ref, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
    A = rng.normal(scale=2, size=(9, 2))
    Y = rng.normal(scale=2, size=(9, 2))
    loss = get_loss(name)
    at = torch.tensor(A, requires_grad=True)
    lt = ref(at, torch.tensor(Y))
    lt.sum().backward()
    np.testing.assert_allclose(loss.value(Y, A), lt.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(loss.gradient(Y, A), at.grad.numpy(), rtol=1e-13)


def test_poisson_matches_torch_up_to_constant(rng: np.random.Generator) -> None:
    A = rng.uniform(0.1, 5, size=(9, 2))
    Y = rng.poisson(2.0, size=(9, 2)).astype(float)
    at = torch.tensor(A, requires_grad=True)
    # torch's Poisson NLL (log_input=False) is a - y log a; ours adds y log y - y.
    lt = F.poisson_nll_loss(at, torch.tensor(Y), log_input=False, eps=0.0, reduction="none").sum(1)
    lt.sum().backward()
    const = (np.where(Y > 0, Y * np.log(np.where(Y > 0, Y, 1)), 0) - Y).sum(1)
    loss = get_loss("poisson")
    np.testing.assert_allclose(loss.value(Y, A), lt.detach().numpy() + const, rtol=1e-12)
    np.testing.assert_allclose(loss.gradient(Y, A), at.grad.numpy(), rtol=1e-13)
    assert np.all(loss.value(A, A) < 1e-12)  # zero at a perfect fit


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropies_from_logits_never_log_zero(dtype: type) -> None:
    Z = np.array([[1e4, -1e4], [-1e4, 1e4]], dtype=dtype)
    Y = np.array([[1.0, 0.0], [1.0, 0.0]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        ce = get_loss("ce").value_from_logits(Y, Z)
        bce = get_loss("bce").value_from_logits(Y, Z)
    np.testing.assert_allclose(ce, [0.0, 2e4], rtol=1e-6)
    np.testing.assert_allclose(bce, [0.0, 2e4], rtol=1e-6)


def test_value_from_probabilities_clips_instead_of_log_zero() -> None:
    A = np.array([[0.0, 1.0]])
    Y = np.array([[1.0, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert np.isfinite(get_loss("bce").value(Y, A)).all()
        assert np.isfinite(get_loss("ce").value(Y, A)).all()


def test_targets_outside_domain_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"binary_crossentropy needs targets in \[0, 1\]"):
        get_loss("bce").check_target(np.array([[2.0]]))
    with pytest.raises(ValueError, match="poisson needs non-negative"):
        get_loss("poisson").check_target(np.array([[-1.0]]))


def test_registry() -> None:
    assert set(LOSSES) == {
        "binary_crossentropy", "categorical_crossentropy", "mean_squared_error",
        "mean_absolute_error", "huber", "poisson",
    }  # fmt: skip
    assert get_loss("squared_error").name == "mean_squared_error"
    assert get_loss({"name": "huber", "delta": 0.5}).delta == 0.5
    with pytest.raises(ValueError, match=r"Could not interpret loss identifier: 'hinge'.*huber"):
        get_loss("hinge")
    with pytest.raises(ValueError, match="delta"):
        get_loss({"name": "huber", "delta": 0})


def test_config_with_unknown_parameters_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"Could not build loss 'mean_squared_error'.*delta"):
        get_loss({"name": "mse", "delta": 1.0})
