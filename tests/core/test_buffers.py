"""The flat buffers (core/buffers.py): assigned in place, sized before they are allocated."""

from __future__ import annotations

import numpy as np
import pytest

from deltaprop import Network, Trainer
from deltaprop.core import buffers
from deltaprop.core.buffers import ParameterMemoryError

X = np.random.default_rng(0).normal(size=(40, 3))
y = np.arange(40) % 2


def test_assigning_parameters_copies_into_the_buffer_and_training_sees_it() -> None:
    net = Network([3, 4, 1], ["relu", "sigmoid"], "bce", seed=0)
    buffer = net.parameters
    net.parameters = np.zeros(net.n_params)
    assert net.parameters is buffer  # the same array: the views are still its views
    assert all(not W.any() for W in net.weights) and all(not b.any() for b in net.biases)
    net.parameters = np.arange(net.n_params, dtype=np.int64)  # castable
    assert net.weights[0][0, 1] == 1.0 and net.biases[-1][0] == net.n_params - 1
    before = net.parameters.copy()
    Trainer(net, "sgd", epochs=1, batch_size=40, seed=0).fit(X / 10, y)
    assert not np.array_equal(net.weights[0], before[:12].reshape(4, 3))


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (np.zeros(20), r"shape \(21,\) .*Received: parameters of shape \(20,\) \(size 20\)"),
        (np.zeros((3, 7)), r"Received: parameters of shape \(3, 7\) \(size 21\)"),
        (np.r_[np.zeros(5), np.nan, np.zeros(15)], r"Received: parameters\[5\]=nan"),
        (np.full(21, np.inf), r"Received: parameters\[0\]=inf"),
        (np.zeros(21) + 1j, r"Received: parameters of dtype complex128"),
        (["a"] * 21, r"Received: parameters of dtype <U1"),
    ],
)
def test_a_wrong_parameters_value_is_refused_and_nothing_changes(value: object, match: str) -> None:
    net = Network([3, 4, 1], ["relu", "sigmoid"], "bce", seed=0)
    before = net.parameters.copy()
    with pytest.raises(ValueError, match=r"^parameters must be .*" + match):
        net.parameters = value
    np.testing.assert_array_equal(net.parameters, before)


def test_a_network_beyond_physical_memory_is_refused_before_allocating() -> None:
    with pytest.raises(MemoryError, match=r"layer_sizes=\[3, 1000000000000, 1\] makes "
                       r"5,000,000,000,001 parameters: .*80,000,000,000,016 bytes"):  # fmt: skip
        Network([3, 10**12, 1])


def test_a_failed_allocation_names_layer_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(buffers, "physical_memory", lambda: None)

    class NoMemory:
        @staticmethod
        def zeros(*args: object, **kwargs: object) -> None:
            raise MemoryError("Unable to allocate")

    with pytest.raises(ParameterMemoryError, match=r"layer_sizes=\[3, 4, 1\] makes 21 "
                       r"parameters: .* \(336 bytes\), and their allocation failed") as info:  # fmt: skip
        buffers.allocate_flat(21, np.dtype("float64"), NoMemory, [3, 4, 1])
    assert info.value.n_params == 21 and info.value.nbytes == 336


def test_set_buffers_refuses_unknown_and_missing_names() -> None:
    net = Network([3, 4, 1], ["relu", "sigmoid"], "bce", seed=0, batch_norm=True)
    state = {k: v.copy() for k, v in net.buffers()}
    with pytest.raises(ValueError, match=r"unknown buffer 'bogus'; the network's buffers are "
                       r"'running_mean\[1\]', 'running_var\[1\]'"):  # fmt: skip
        net.set_buffers({**state, "bogus": np.zeros(4)})
    with pytest.raises(ValueError, match=r"missing the buffer 'running_var\[1\]'"):
        net.set_buffers({"running_mean[1]": np.zeros(4)})
    with pytest.raises(ValueError, match=r"buffers are none \(no batch normalization\)"):
        Network([3, 1], seed=0).set_buffers({"bogus": 1})
    net.set_buffers({k: v + 1 for k, v in state.items()})
    np.testing.assert_array_equal(net.buffers()[1][1], state["running_var[1]"] + 1)
