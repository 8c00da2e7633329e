"""Input checks (core/inputs.py): integer class labels with categorical cross-entropy."""

from __future__ import annotations

import numpy as np
import pytest

from deltaprop import Network, gradcheck
from deltaprop.core import Activation, get_loss
from deltaprop.core.inputs import check_layer_sizes, check_Y

CE = get_loss("categorical_crossentropy")
RNG = np.random.default_rng(0)
X = RNG.normal(size=(6, 3))
LABELS = np.array([0, 2, 1, 3, 3, 0])
ONE_HOT = np.eye(4)[LABELS]


@pytest.mark.parametrize(
    "labels", [LABELS, LABELS.astype(np.int32), LABELS.astype(np.uint8), LABELS.astype(float),
               LABELS.reshape(-1, 1), list(LABELS)],
)  # fmt: skip
def test_integer_labels_become_one_hot(labels: object) -> None:
    Y = check_Y(labels, 6, 4, np.dtype("float32"), np, CE)
    assert Y.dtype == np.float32
    np.testing.assert_array_equal(Y, ONE_HOT)


def test_labels_out_of_range_or_fractional_are_refused_by_value() -> None:
    with pytest.raises(ValueError, match=r"must be in \[0, 4\). Received: Y\[1\]=4"):
        check_Y(np.array([0, 4, 1, 3, 3, 0]), 6, 4, np.dtype("float64"), np, CE)
    with pytest.raises(ValueError, match=r"Received: Y\[0\]=-1"):
        check_Y(np.array([-1, 0, 1, 3, 3, 0]), 6, 4, np.dtype("float64"), np, CE)
    with pytest.raises(ValueError, match=r"whole numbers in \[0, 4\). Received: Y\[2\]=1.5"):
        check_Y(np.array([0, 1, 1.5, 3, 3, 0]), 6, 4, np.dtype("float64"), np, CE)


def test_the_shape_error_mentions_labels_only_for_categorical_cross_entropy() -> None:
    with pytest.raises(ValueError, match=r"shape \(6, 4\) to match X and the output layer, or "
                       r"integer class labels of shape \(6,\) with values in \[0, 4\)"):  # fmt: skip
        check_Y(np.ones((6, 3)), 6, 4, np.dtype("float64"), np, CE)
    with pytest.raises(ValueError, match=r"output layer. Received: Y with shape \(6,\)"):
        check_Y(np.zeros(6), 6, 4, np.dtype("float64"), np, get_loss("mse"))


def test_network_cost_and_gradients_take_labels() -> None:
    net = Network([3, 5, 4], "tanh", "categorical_crossentropy", seed=0)
    assert net.cost(X, LABELS) == net.cost(X, ONE_HOT)
    for (a, b), (c, d) in zip(net.gradients(X, LABELS), net.gradients(X, ONE_HOT), strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    assert gradcheck(net, X, LABELS).max_relative_error < 1e-7


def test_layer_sizes_check() -> None:
    assert check_layer_sizes((2, np.int64(3))) == [2, 3]
    with pytest.raises(ValueError, match=r"positive integers. Received: layer_sizes=\[2, 0\]"):
        check_layer_sizes([2, 0])
    with pytest.raises(ValueError, match="at least an input and an output"):
        check_layer_sizes(5)


@pytest.mark.parametrize(
    ("activations", "loss", "output"),
    [(["relu", "tanh"], "categorical_crossentropy", "tanh"),  # [hidden, output] form
     (["relu", "relu", "identity"], "ce", "identity"), (["tanh", "relu"], "bce", "relu"),
     (["tanh", "tanh", "exp"], "log_loss", "exp")],
)  # fmt: skip
def test_a_cross_entropy_needs_an_output_that_gives_probabilities(
    activations: list[str], loss: str, output: str
) -> None:
    with pytest.raises(ValueError) as info:
        Network([4, 6, 5, 3], activations, loss, seed=0)
    message = str(info.value)
    name = get_loss(loss).name
    assert message.startswith(f"loss {name!r} takes the outputs as probabilities")
    assert "'softmax'" in message and "'sigmoid'" in message
    if isinstance(activations, list) and len(activations) == 2:  # [hidden, output], 3 layers
        assert message.endswith(
            f"Received: output activation {output!r} (activations={activations!r} read as "
            "[hidden, output] for 3 layers; one per hidden layer needs the output too: "
            f"[..., {get_loss(loss).default_activation!r}])"
        )
    else:
        assert message.endswith(f"Received: output activation {output!r} (the last of activations)")


@pytest.mark.parametrize(
    ("activations", "loss"),
    [(["relu", "softmax"], "ce"), (["relu", "sigmoid"], "ce"), (["relu", "sigmoid"], "bce"),
     (["relu", "softmax"], "bce"), ("relu", "ce"), (["relu", "tanh"], "mse")],
)  # fmt: skip
def test_outputs_in_0_1_and_other_losses_are_accepted(activations: object, loss: str) -> None:
    net = Network([4, 6, 5, 3], activations, loss, seed=0)
    A = net.forward(RNG.normal(size=(5, 4)))
    if loss != "mse":
        assert float(A.min()) > 0.0 and float(A.max()) < 1.0
        assert net.cost(RNG.normal(size=(5, 4)), np.eye(3)[[0, 1, 2, 0, 1]]) > 0.0


class _HardSigmoid(Activation):
    """A user's own output activation in ``(0, 1)``: ``clip(Z/6 + 1/2, ε, 1 - ε)``."""

    name = "test_hard_sigmoid"
    probabilities = True

    def forward(self, Z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return np.clip(Z / 6 + 0.5, 1e-6, 1 - 1e-6, out=out)

    def derivative(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        return np.where(np.abs(Z) < 3, 1 / 6, 0.0)


class _Cube(_HardSigmoid):
    name = "test_cube"
    probabilities = False


def test_an_own_output_activation_that_says_it_gives_probabilities_takes_a_cross_entropy() -> None:
    net = Network([4, 5, 1], ["tanh", _HardSigmoid()], "bce", seed=0)
    assert net.cost(RNG.normal(size=(6, 4)), np.array([[0, 1, 1, 0, 1, 0]]).T) > 0.0
    with pytest.raises(ValueError, match=r"an activation of your own whose class sets "
                       r"probabilities = True\. Received: output activation 'test_cube'"):  # fmt: skip
        Network([4, 5, 1], ["tanh", _Cube()], "bce", seed=0)


@pytest.mark.parametrize("kind", ["complex", "text", "complex list", "complex frame"])
def test_complex_or_text_inputs_are_refused_naming_the_dtype(kind: str) -> None:
    import pandas as pd

    net = Network([3, 2, 1], "tanh", "mse", seed=0)
    bad = {"complex": X + 5j, "text": X.astype(str), "complex list": (X + 1j).tolist(),
           "complex frame": pd.DataFrame(X + 1j)}[kind]  # fmt: skip
    dtype = "<U" if kind == "text" else "complex128"
    with pytest.raises(
        ValueError, match=rf"^X must hold real numbers.*Received: X of dtype {dtype}"
    ):
        net.check_X(bad)
    with pytest.raises(ValueError, match=r"^Y must hold real numbers, not complex. .*complex128"):
        net.check_Y(np.zeros(6) + 1j, 6)


@pytest.mark.parametrize(
    ("seed", "error", "match"),
    [(-1, ValueError, r"seed=-1 \(expected non-negative"), (1.5, TypeError, r"seed=1.5 "),
     (True, TypeError, r"seed=True$"), ("a", TypeError, r"seed='a'")],
)  # fmt: skip
def test_a_bad_network_seed_is_named(seed: object, error: type, match: str) -> None:
    with pytest.raises(error, match=r"^seed must be None, a non-negative int or a Generator. "
                       r"Received: " + match):  # fmt: skip
        Network([3, 1], seed=seed)
