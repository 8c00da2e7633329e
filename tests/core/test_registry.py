"""Names to objects (deltaprop.core.registry): the one error for an unknown name, with the
closest valid name where one is close."""

from __future__ import annotations

import pytest

from deltaprop.core.backend import get_backend
from deltaprop.core.registry import did_you_mean, lookup, unknown_identifier
from deltaprop.optim import get_optimizer, get_schedule


@pytest.mark.parametrize(
    ("name", "valid", "hint"),
    [
        ("rleu", ["relu", "tanh"], "; did you mean 'relu'?"),
        ("Tanh", ["relu", "tanh"], "; did you mean 'tanh'?"),  # case ignored
        ("ADMA", ["Adam", "sgd"], "; did you mean 'Adam'?"),  # the valid name as spelled
        ("swish", ["relu", "tanh"], ""),  # nothing close
        (3, ["relu"], ""),  # no string
        ("", ["relu"], ""),
    ],
)
def test_did_you_mean_names_the_closest_valid_name(
    name: object, valid: list[str], hint: str
) -> None:
    assert did_you_mean(name, valid) == hint


def test_the_error_lists_the_valid_names_sorted_after_the_hint() -> None:
    error = unknown_identifier("activation function", "sigmod", ["tanh", "sigmoid", "relu"])
    assert str(error) == (
        "Could not interpret activation function identifier: 'sigmod'; did you mean "
        "'sigmoid'? Valid names: relu, sigmoid, tanh."
    )
    assert str(unknown_identifier("loss", "hinge", ["mse", "mae"])) == (
        "Could not interpret loss identifier: 'hinge'. Valid names: mae, mse."
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: get_optimizer("adma"), "optimizer identifier: 'adma'; did you mean 'adam'?"),
        (lambda: get_schedule("cosin"), "schedule identifier: 'cosin'; did you mean 'cosine'?"),
        (lambda: get_backend("nupmy"), "backend identifier: 'nupmy'; did you mean 'numpy'?"),
        (lambda: lookup("Rmsprop", {"rmsprop": 1}, {}, "optimizer"),
         "optimizer identifier: 'Rmsprop'; did you mean 'rmsprop'?"),
    ],
)  # fmt: skip
def test_every_registry_suggests_the_closest_name(call: object, message: str) -> None:
    with pytest.raises(ValueError, match="Could not interpret " + message.replace("?", r"\?")):
        call()  # type: ignore[operator]
