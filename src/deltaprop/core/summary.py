"""A network's summary, as Keras's ``model.summary()``: each layer, its output shape and its
parameter count, then the totals.

>>> from deltaprop import Network
>>> print(summary(Network([4, 8, 3], ["relu", "softmax"], "categorical_crossentropy", seed=0)))
Layer                Output shape    Parameters
-----------------------------------------------
Dense 1 (relu)       (batch, 8)              40
Dense 2 (softmax)    (batch, 3)              27
-----------------------------------------------
Total parameters: 67 (float64, 536 bytes)
"""

from __future__ import annotations

from typing import Any

from deltaprop.core.layers import Dense, Dropout

__all__ = ["Summary", "summary", "summary_rows"]


class Summary(str):
    """The summary's text, a ``str`` whose ``repr`` is the text itself, so that the
    interpreter shows ``net.summary()`` as the table (``print`` shows it anywhere)."""

    def __repr__(self) -> str:
        return str(self)


def summary_rows(net: Any) -> list[tuple[str, str, int]]:
    """``(layer, output shape, parameters)`` for each layer of ``net`` (a
    :class:`~deltaprop.core.network.Network`), in order; batch norm is shown with its dense
    layer (its ``γ``, ``β`` counted there), dropout as its own row with no parameters."""
    rows: list[tuple[str, str, int]] = []
    l = 0
    for layer in net.layers:
        if isinstance(layer, Dense):
            l += 1
            extra = ", batch norm" if layer.batch_norm is not None else ""
            name = f"Dense {l} ({layer.activation.name}{extra})"
            rows.append((name, f"(batch, {layer.n_out})", layer.n_params))
        elif isinstance(layer, Dropout):
            rows.append((f"Dropout ({layer.rate:g})", f"(batch, {net.layer_sizes[l]})", 0))
        else:  # pragma: no cover - no other layer kind exists
            rows.append((type(layer).__name__, "", layer.n_params))
    return rows


def summary(net: Any) -> Summary:
    """The summary of ``net`` as text: a row per layer, then the parameter count, the dtype
    and the bytes the parameters take. ``Network.summary()`` and the estimators'
    ``summary()`` return it."""
    rows = summary_rows(net)
    head = ("Layer", "Output shape", "Parameters")
    w0 = max(len(head[0]), *(len(r[0]) for r in rows)) + 4
    w1 = max(len(head[1]), *(len(r[1]) for r in rows)) + 4
    w2 = max(len(head[2]), *(len(f"{r[2]:,}") for r in rows))
    rule = "-" * (w0 + w1 + w2)
    lines = [f"{head[0]:<{w0}}{head[1]:<{w1}}{head[2]:>{w2}}", rule]
    lines += [f"{name:<{w0}}{shape:<{w1}}{n:>{w2},}" for name, shape, n in rows]
    total = net.n_params
    lines += [
        rule,
        f"Total parameters: {total:,} ({net.dtype}, {total * net.dtype.itemsize:,} bytes)",
    ]
    return Summary("\n".join(lines))
