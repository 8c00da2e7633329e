"""The product of a fit's options (hidden activation × output pair × optimizer × dropout ×
batch norm × weights × dtype × layout), sampled with a fixed seed: each sampled fit runs
the compiled loop (``Trainer.engine == "compiled"``) and trains as the Python loop does,
to 1e-12 relative in float64. Options the compiled loop does not run yet would be marked
``xfail(strict=True)`` (:data:`NOT_COMPILED`), so that the mark must go when they do.

With batch norm, the bias of a layer that feeds it has a gradient that is zero in exact
arithmetic (the normalization subtracts it again): each loop's is rounding noise, which
Adam and RMSprop divide by its own size into steps of about the learning rate, different
in each loop. Those biases change no training output; they are held only to stay within
``BN_BIAS_BOUND`` of their start (0), and the running means (which take them in) as much;
every other parameter, the running variances and the losses to 1e-12."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import deltaprop
from deltaprop.core import fused as _fused
from deltaprop.core.activations import hidden_activation_names
from deltaprop.train import trainer as training

pytest.importorskip("numba")

HIDDEN = [n for n in hidden_activation_names() if n not in ("linear", "logistic")]
OUTPUTS = [  # (output activation, loss): the fused pairs and the chain rule's
    ("softmax", "ce"), ("sigmoid", "bce"), ("identity", "mse"), ("identity", "mae"),
    ("identity", "huber"), ("exp", "poisson"), ("softmax", "mse"), ("sigmoid", "ce"),
]  # fmt: skip
OPTIMIZERS = [
    ("sgd", {}), ("momentum", {"weight_decay": 1e-3}), ("nesterov", {}),
    ("rmsprop", {"centered": True, "momentum": 0.5}), ("adam", {"amsgrad": True}),
    ("adamw", {"weight_decay": 0.1}),
]  # fmt: skip
WEIGHTS = ["none", "sample", "class"]
N_SAMPLED = 24

NOT_COMPILED: dict[str, str] = {}  # option: why the Python loop still runs it (none now)
BN_BIAS_BOUND = 0.05
"""The biases before a batch norm: 10 steps of about the learning rate 1e-3 from 0 (RMSprop's
first steps up to 10 times it)."""


def _sampled() -> list[Any]:
    """Every option value at least once, then the rest sampled from the product."""
    product = list(itertools.product(HIDDEN, OUTPUTS, OPTIMIZERS, [0.0, 0.2], [False, True],
                                     WEIGHTS, ["float64", "float32"], ["C", "F"]))  # fmt: skip
    rng = np.random.default_rng(13)
    picks = [product[i] for i in rng.choice(len(product), N_SAMPLED, replace=False)]
    for a, out in itertools.zip_longest(HIDDEN, OUTPUTS):  # each activation, each pair
        picks.append((a or "relu", out or ("softmax", "ce"), ("adam", {}), 0.0, False,
                      "none", "float64", "C"))  # fmt: skip
    for opt in OPTIMIZERS:
        picks.append(("tanh", ("softmax", "ce"), opt, 0.0, False, "sample", "float64", "F"))
    params = []
    for p in picks:
        marks: list[Any] = []
        ident = f"{p[0]}-{p[1][0]}+{p[1][1]}-{p[2][0]}-do{p[3]}-bn{int(p[4])}-{p[5]}-{p[6]}-{p[7]}"
        params.append(pytest.param(*p, marks=marks, id=ident))
    return params


def _data(loss: str, n: int = 150) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 6))
    labels = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int) + (X[:, 3] > 1)
    if loss in ("ce", "bce"):
        return X, np.eye(3)[labels % 3]
    if loss == "poisson":
        return X, rng.poisson(np.exp(0.3 * X[:, :3])).astype(float)
    return X, np.stack([X[:, 0] - X[:, 1], X[:, 2] * 0.5, np.sin(X[:, 3])], axis=1)


def _fit(compiled: bool, monkeypatch: pytest.MonkeyPatch, hidden: str, out: tuple, opt: tuple,
         dropout: float, batch_norm: bool, weights: str, dtype: str,
         layout: str) -> deltaprop.Trainer:  # fmt: skip
    real = training.CompiledLoop.create
    monkeypatch.setattr(training.CompiledLoop, "create",
                        staticmethod(real if compiled else lambda *a, **k: None))  # fmt: skip
    X, Y = _data(out[1])
    X = np.asfortranarray(X) if layout == "F" else X
    net = deltaprop.Network([6, 16, 12, 3], [hidden, hidden, out[0]], out[1], dtype=dtype,
                            dropout=dropout, batch_norm=batch_norm, seed=3)  # fmt: skip
    optimizer = deltaprop.optim.optimizers.get_optimizer(opt[0], **opt[1])
    tr = deltaprop.Trainer(net, optimizer, learning_rate=1e-3, batch_size=32, epochs=2, seed=1,
                           tol=0.0, alpha=1e-3, clip_norm=5.0,
                           class_weight="balanced" if weights == "class" else None)  # fmt: skip
    w = np.random.default_rng(2).uniform(0.2, 2.0, X.shape[0]) if weights == "sample" else None
    tr.fit(X.astype(dtype, order="K"), Y.astype(dtype), sample_weight=w)
    return tr


@pytest.fixture
def _kernels_for_every_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python loop's per-operation kernels at every size, as the compiled loop's."""
    monkeypatch.setattr(_fused, "MIN_SIZE", 0)


@pytest.mark.usefixtures("_kernels_for_every_size")
@pytest.mark.parametrize(
    ("hidden", "out", "opt", "dropout", "batch_norm", "weights", "dtype", "layout"), _sampled()
)
def test_runs_compiled_and_trains_as_the_python_loop(
    hidden: str, out: tuple, opt: tuple, dropout: float, batch_norm: bool, weights: str,
    dtype: str, layout: str, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    if weights == "class" and out[1] not in ("ce", "bce"):
        weights = "sample"  # class weights are for classifiers
    args = (hidden, out, opt, dropout, batch_norm, weights, dtype, layout)
    c = _fit(True, monkeypatch, *args)
    assert c.engine == "compiled"
    p = _fit(False, monkeypatch, *args)
    assert p.engine == "python"
    rtol = 1e-12 if dtype == "float64" else 1e-4
    atol = 1e-12 if dtype == "float64" else 1e-5
    fed = np.zeros(c.net.n_params, bool)  # the biases that feed a batch norm
    for d, sl in zip(c.net.dense, c.net.slices, strict=True):
        if d.batch_norm is not None:
            fed[sl.start + d.n_in * d.n_out : sl.start + d.n_out * (d.n_in + 1)] = True
    assert fed.any() == batch_norm
    np.testing.assert_allclose(c.net.parameters[~fed], p.net.parameters[~fed], rtol=rtol,
                               atol=atol)  # fmt: skip
    for tr in (c, p):
        assert np.abs(tr.net.parameters[fed]).max(initial=0.0) <= BN_BIAS_BOUND
    for (name, a), (_, b) in zip(c.net.buffers(), p.net.buffers(), strict=True):
        tol = 2 * BN_BIAS_BOUND if name.startswith("running_mean") else atol  # the biases' share
        np.testing.assert_allclose(a, b, rtol=rtol, atol=tol, err_msg=name)
    np.testing.assert_allclose(c.history.loss, p.history.loss, rtol=rtol)
    assert c.optimizer.t == p.optimizer.t > 0


@pytest.mark.parametrize(
    ("sizes", "activation", "dtype"),
    [([4, 3, 3], "relu", "float64"), ([4, 1, 3], "tanh", "float32"), ([4, 3], "relu", "float64")],
    ids=["iris-4-3-3", "one-unit-float32", "no-hidden-layer"],
)
def test_tiny_networks_run_compiled(
    sizes: list[int], activation: str, dtype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A network far below the per-operation kernels' :data:`~deltaprop.core.fused.MIN_SIZE`
    (15 to 27 parameters) runs the compiled loop, with the library's own size rule (no
    fixture), and trains as the Python loop does."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    X, Y = X.astype(dtype), np.eye(3, dtype=dtype)[y]
    fits = []
    for compiled in (True, False):
        if not compiled:  # the Python loop, the reference
            monkeypatch.setattr(training.CompiledLoop, "create", staticmethod(lambda *a, **k: None))
        acts = [activation] * (len(sizes) - 2) + ["softmax"]
        net = deltaprop.Network(sizes, acts, "ce", dtype=dtype, seed=5)
        tr = deltaprop.Trainer(net, "adam", learning_rate=0.01, batch_size=32, epochs=3, seed=2,
                               tol=0.0)  # fmt: skip
        tr.fit(X, Y)
        fits.append(tr)
    c, p = fits
    assert c.net.n_params < _fused.MIN_SIZE
    assert (c.engine, p.engine) == ("compiled", "python")
    rtol = 1e-12 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(c.net.parameters, p.net.parameters, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(c.history.loss, p.history.loss, rtol=rtol)
    assert c.history.loss[-1] < c.history.loss[0]


def test_the_command_trains_iris_compiled_with_its_default_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``deltaprop train`` on iris with every default (``--hidden auto``: the linear model by
    L-BFGS against one hidden layer of 32 units, 4-32-3, 259 parameters, in 5 folds, then
    the chosen one): each mini-batch fit of the run (the folds' fits of the layer of 32, the
    validation fit and the refit) is compiled."""
    from sklearn.datasets import load_iris

    from deltaprop.app.cli import main
    from deltaprop.train import COMMAND_DEFAULTS

    csv = tmp_path / "iris.csv"
    load_iris(as_frame=True).frame.to_csv(csv, index=False)
    engines: list[tuple[int, bool]] = []
    real = training.CompiledLoop.create

    def create(net: Any, *args: Any, **kwargs: Any) -> Any:
        loop = real(net, *args, **kwargs)
        engines.append((net.n_params, loop is not None))
        return loop

    monkeypatch.setattr(training.CompiledLoop, "create", staticmethod(create))
    out = tmp_path / "run"
    assert main(["train", str(csv), "--target", "target", "--quiet", "--no-report",
                 "--out", str(out)]) == 0  # fmt: skip
    assert COMMAND_DEFAULTS.hidden == "auto"
    width = COMMAND_DEFAULTS.auto_hidden[0]
    assert engines and all(compiled for _, compiled in engines), engines
    assert 4 * width + width + width * 3 + 3 in {n for n, _ in engines}
    assert len(engines) >= 5  # at least one fit of the layer of 32 in each of the 5 folds
