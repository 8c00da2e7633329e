"""Activations against PyTorch: values, derivatives, stability at |z| = 1e4."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deltaprop.core.activations import ACTIVATIONS, get_activation

TORCH = {
    "identity": lambda z: z,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01),
    "elu": torch.nn.functional.elu,
    "gelu": torch.nn.functional.gelu,
    "softplus": torch.nn.functional.softplus,
    "exp": torch.exp,
    "softmax": lambda z: torch.softmax(z, dim=1),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_forward_and_backward_match_torch(name: str, rng: np.random.Generator) -> None:
    Z = rng.normal(scale=3.0, size=(6, 5))
    Z[0, :3] = [-0.0, 1e-9, -1e-9]
    dA = rng.normal(size=Z.shape)
    g = get_activation(name)
    A = g.forward(Z)
    zt = torch.tensor(Z, requires_grad=True)
    at = TORCH[name](zt)
    at.backward(torch.tensor(dA))
    want = at.detach().numpy()
    if name == "gelu":  # PyTorch's z (1 + erf(z/√2)) / 2 cancels below -1 (4e-10 at z = -5.9)
        tail = Z < -1
        assert tail.sum() >= 3
        want[tail] = [v * math.erfc(-v / math.sqrt(2.0)) / 2 for v in Z[tail]]  # libm's erfc
    np.testing.assert_allclose(A, want, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(g.backward(dA, Z, A), zt.grad.numpy(), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) - {"softmax"}))
def test_derivative_matches_finite_differences(name: str, rng: np.random.Generator) -> None:
    g = get_activation(name)
    Z = rng.normal(scale=2.0, size=(4, 7))
    Z[np.abs(Z) < 1e-3] = 0.5  # away from the kinks of relu and leaky relu
    h = 1e-5
    numeric = (g.forward(Z + h) - g.forward(Z - h)) / (2 * h)
    np.testing.assert_allclose(g.derivative(Z, g.forward(Z)), numeric, rtol=1e-7, atol=1e-9)


def test_seed_table_derivatives() -> None:
    """The seeds' table: σ' = σ(1-σ), ReLU' = 1 for z > 0 and 0 for z ≤ 0, tanh' = 1 - tanh²."""
    Z = np.array([[-2.0, 0.0, 3.0]])
    s = 1 / (1 + np.exp(-Z))
    sig = get_activation("sigmoid")
    np.testing.assert_allclose(sig.derivative(Z, sig.forward(Z)), s * (1 - s), rtol=1e-15)
    relu = get_activation("relu")
    assert relu.derivative(Z, relu.forward(Z)).tolist() == [[0.0, 0.0, 1.0]]
    tanh = get_activation("tanh")
    np.testing.assert_allclose(tanh.derivative(Z, np.tanh(Z)), 1 - np.tanh(Z) ** 2, rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_stable_at_extremes(name: str, dtype: type) -> None:
    g = get_activation(name)
    Z = np.array([[-1e4, -1e3, -50.0, 0.0, 50.0, 1e3, 1e4]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        A = g.forward(Z)
        dZ = g.backward(np.ones_like(Z), Z, A)
    assert A.dtype == dtype and dZ.dtype == dtype
    assert np.isfinite(A).all() and np.isfinite(dZ).all()


def test_sigmoid_exact_in_tails() -> None:
    g = get_activation("sigmoid")
    A = g.forward(np.array([[-30.0, 30.0]]))
    np.testing.assert_allclose(
        A, [[np.exp(-30) / (1 + np.exp(-30)), 1 / (1 + np.exp(-30))]], rtol=1e-15
    )


def test_softmax_rows_sum_to_one_for_huge_logits() -> None:
    A = get_activation("softmax").forward(np.array([[1e4, -1e4, 0.0], [5.0, 5.0, 5.0]]))
    np.testing.assert_allclose(A.sum(axis=1), 1.0)
    np.testing.assert_allclose(A[1], 1 / 3)


def test_registry_errors_list_valid_names() -> None:
    with pytest.raises(ValueError, match=r"Could not interpret activation.*'swish'.*relu.*tanh"):
        get_activation("swish")
    assert get_activation("logistic").name == "sigmoid"
    assert get_activation({"name": "leaky_relu", "alpha": 0.2}).alpha == 0.2
    with pytest.raises(ValueError, match="alpha"):
        get_activation({"name": "elu", "alpha": float("nan")})


def test_config_with_unknown_parameters_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"Could not build activation function 'relu'.*alpha"):
        get_activation({"name": "relu", "alpha": 0.1})


def test_each_activation_declares_its_facts() -> None:
    from deltaprop.core.activations import activation_class, hidden_activation_names
    from deltaprop.core.initializers import default_initializer

    relu_like = {name for name, cls in ACTIVATIONS.items() if cls.relu_like}
    assert relu_like == {"relu", "leaky_relu", "elu", "gelu", "softplus"}
    assert {n for n, c in ACTIVATIONS.items() if not c.hidden} == {"softmax", "exp"}
    assert hidden_activation_names() == (
        "identity", "linear", "sigmoid", "logistic", "tanh", "relu", "leaky_relu", "elu",
        "gelu", "softplus",
    )  # fmt: skip
    assert activation_class("logistic") is ACTIVATIONS["sigmoid"]
    assert {n: c.torch_module for n, c in ACTIVATIONS.items()} == {
        "identity": "Identity", "sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "ReLU",
        "leaky_relu": "LeakyReLU", "elu": "ELU", "gelu": "GELU", "softplus": "Softplus",
        "softmax": "Softmax", "exp": "Exp",
    }  # fmt: skip
    assert get_activation({"name": "leaky_relu", "alpha": 0.2}).torch_kwargs() == {
        "negative_slope": 0.2
    }
    assert get_activation("elu").torch_kwargs() == {"alpha": 1.0}
    assert get_activation("softmax").torch_kwargs() == {"dim": 1}
    assert get_activation("relu").torch_kwargs() == {}
    compiled = {
        n: c.compiled_form() for n, c in ACTIVATIONS.items() if c.compiled_form() is not None
    }
    assert sorted(compiled) == sorted(ACTIVATIONS)  # every shipped one (tests/core/test_kernels.py)
    assert len(set(compiled.values())) == len(ACTIVATIONS)

    class MyReLU(ACTIVATIONS["relu"]):  # type: ignore[misc,valid-type]
        pass

    assert MyReLU.compiled_form() is None  # its forward may differ: the Python loop runs
    assert default_initializer("leaky_relu") == "he_normal"
    assert default_initializer("tanh") == default_initializer("swish") == "glorot_uniform"
    with pytest.raises(ValueError, match="Could not interpret activation function identifier"):
        activation_class("swish")
