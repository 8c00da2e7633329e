"""--hidden auto's pieces: the option's values and the linear candidate's L2."""

from __future__ import annotations

import pytest

from deltaprop.app.candidates import describe_hidden, hidden_layers, linear_alpha
from deltaprop.app.parser import hidden_option


def test_the_option_takes_auto_none_and_sizes() -> None:
    assert hidden_option("auto") == "auto"
    assert hidden_option("none") == ()
    assert hidden_option("64,32") == (64, 32)
    assert hidden_layers("auto") == (32,)
    assert describe_hidden(()) == "none"


def test_the_linear_candidate_keeps_the_mini_batch_objective() -> None:
    # alpha/(2m) per batch of m is alpha*n/m on a full batch of n (C = m/(alpha*n))
    assert linear_alpha(0.1, 320, 32) == pytest.approx(1.0)
    assert linear_alpha(0.1, 20, 32) == pytest.approx(0.1)  # the batch is all 20 rows
