"""``deltaprop gradcheck`` (app/commands/gradcheck.py): its ``--activation`` list is one name
per layer, and a cross-entropy needs an output that gives probabilities."""

from __future__ import annotations

import pytest

from tests.app.clitools import call, one_line_error


def test_a_list_of_activations_needs_one_per_layer(capsys: pytest.CaptureFixture[str]) -> None:
    args = ("gradcheck", "--layers", "4,6,5,3", "--loss", "categorical_crossentropy")
    line = one_line_error(call(capsys, *args, "--activation", "relu,tanh")[::2])
    assert "--activation needs one name" in line and "one per layer: 3 for --layers 4,6,5,3" in line
    assert "e.g. tanh,tanh,softmax" in line
    assert line.endswith("Received: --activation relu,tanh (2 names)")
    line = one_line_error(call(capsys, *args, "--activation", "relu,tanh,tanh,softmax")[::2])
    assert line.endswith("Received: --activation relu,tanh,tanh,softmax (4 names)")
    code, text, _ = call(capsys, *args, "--activation", "relu,tanh,softmax")
    assert code == 0 and text.splitlines()[-1].startswith("passed: worst relative error")


def test_a_cross_entropy_on_an_output_that_is_no_probability_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ("gradcheck", "--layers", "4,6,5,3", "--activation", "relu,tanh,tanh")
    line = one_line_error(call(capsys, *args, "--loss", "categorical_crossentropy")[::2])
    assert "loss 'categorical_crossentropy' takes the outputs as probabilities" in line
    assert line.endswith("Received: output activation 'tanh' (the last of activations)")
    code, text, _ = call(capsys, *args, "--loss", "mean_squared_error")  # any output for mse
    assert code == 0 and "tanh output, loss mean_squared_error" in text.splitlines()[0]
