"""``deltaprop gradcheck``: backpropagation against central finite differences, array by array."""

from __future__ import annotations

import argparse

from deltaprop.app.console import Output
from deltaprop.app.errors import EXIT_FAILURE, EXIT_OK, UsageError

__all__ = ["DEFAULT_TOLERANCE", "run_gradcheck"]

DEFAULT_TOLERANCE = {"float64": 1e-6, "float32": 1e-2}
"""The largest relative error that passes, where ``--tolerance`` is not given, by dtype:
float32 keeps about 7 digits, and its differences (step 1e-2) agree to about 1e-3."""


def run_gradcheck(args: argparse.Namespace, out: Output) -> int:
    import numpy as np

    from deltaprop.core import Network, get_loss, gradcheck

    sizes = list(args.layers)
    if len(sizes) < 2:
        raise UsageError("--layers needs at least an input and an output size, e.g. 4,3")
    tolerance = args.tolerance
    if tolerance is None:
        tolerance = DEFAULT_TOLERANCE[args.dtype]
    try:
        loss_fn = get_loss(args.loss)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    loss = loss_fn.name
    acts = list(args.activation)
    n_layers = len(sizes) - 1
    if len(acts) > 1 and len(acts) != n_layers:
        example = ",".join(["tanh"] * (n_layers - 1) + [loss_fn.default_activation])
        raise UsageError(
            "--activation needs one name (the hidden layers', the output following the loss) "
            f"or one per layer: {n_layers} for --layers {','.join(map(str, sizes))}, the last "
            f"the output's (e.g. {example}). Received: --activation {','.join(acts)} "
            f"({len(acts)} names)"
        )
    try:
        net = Network(
            sizes,
            acts[0] if len(acts) == 1 else acts,
            loss,
            seed=args.seed,
            dtype=args.dtype,
            dropout=args.dropout,
            batch_norm=args.batch_norm,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    rng = np.random.default_rng(args.seed)
    m, n_out = args.samples, sizes[-1]
    X = rng.normal(size=(m, sizes[0]))
    if loss == "categorical_crossentropy":
        Y = np.eye(n_out)[rng.integers(0, n_out, m)]
    elif loss == "binary_crossentropy":
        Y = rng.integers(0, 2, (m, n_out)).astype(float)
    elif loss == "poisson":
        Y = rng.poisson(2.0, (m, n_out)).astype(float)
    else:
        Y = rng.normal(size=(m, n_out))
    training = args.dropout > 0 or args.batch_norm
    result = gradcheck(net, X, Y, training=training, alpha=args.l2)
    shapes = dict(net.named_parameters())
    rows = []
    for name, rel, abs_ in result.rows():
        ok = rel <= tolerance
        rows.append(
            [
                name,
                "×".join(map(str, shapes[name].shape)),
                f"{rel:.2e}",
                f"{abs_:.2e}",
                "ok" if ok else "FAIL",
            ]
        )
    hidden = ", ".join(dict.fromkeys(d.activation.name for d in net.dense[:-1])) or "no"
    out.line(
        f"network {'-'.join(map(str, sizes))}, {hidden} hidden, "
        f"{net.output_activation.name} output, loss {loss}, {m} examples, {args.dtype}"
        + (", training mode (fixed dropout mask, batch statistics)" if training else "")
    )
    out.table(
        "Backpropagation against central finite differences",
        ["array", "shape", "max rel. error", "max abs. error", ""],
        rows,
    )
    kinks = sum(result.kinks.values())
    if kinks:
        out.line(
            f"{kinks} of {net.n_params} entries not compared: their steps moved a hidden unit "
            "across the kink of its activation at 0, where the cost has no derivative"
        )
    worst = result.max_relative_error
    if worst <= tolerance:
        out.line(f"passed: worst relative error {worst:.2e} ≤ {tolerance:g}")
        return EXIT_OK
    out.line(f"FAILED: worst relative error {worst:.2e} > {tolerance:g}")
    return EXIT_FAILURE
