"""Network summaries (core/summary.py), as Keras's model.summary()."""

from __future__ import annotations

from deltaprop import Network
from deltaprop.core import summary
from deltaprop.core.summary import summary_rows


def test_rows_count_every_parameter_with_batch_norm_and_dropout() -> None:
    net = Network([5, 3, 7, 2], ["relu", "tanh", "softmax"], "ce", seed=0,
                  dropout=0.25, batch_norm=True, dtype="float32")  # fmt: skip
    rows = summary_rows(net)
    assert [r[0] for r in rows] == [
        "Dense 1 (relu, batch norm)", "Dropout (0.25)",
        "Dense 2 (tanh, batch norm)", "Dropout (0.25)", "Dense 3 (softmax)",
    ]  # fmt: skip
    assert [r[1] for r in rows] == ["(batch, 3)", "(batch, 3)", "(batch, 7)", "(batch, 7)",
                                    "(batch, 2)"]  # fmt: skip
    assert [r[2] for r in rows] == [3 * 6 + 2 * 3, 0, 7 * 4 + 2 * 7, 0, 2 * 8]
    assert sum(r[2] for r in rows) == net.n_params
    text = summary(net)
    assert (
        text.splitlines()[-1]
        == f"Total parameters: {net.n_params} (float32, {4 * net.n_params} bytes)"
    )


def test_network_summary_method_is_the_function_and_shows_as_the_table() -> None:
    net = Network([4, 8, 3], ["relu", "softmax"], "categorical_crossentropy", seed=0)
    text = net.summary()
    assert text == summary(net)
    assert repr(text) == str(text)  # the interpreter shows the table, not an escaped string
    assert text.splitlines()[2].split() == ["Dense", "1", "(relu)", "(batch,", "8)", "40"]
    assert text.splitlines()[-1] == "Total parameters: 67 (float64, 536 bytes)"
