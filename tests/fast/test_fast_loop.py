"""The compiled mini-batch loop (deltaprop.fast.loop, deltaprop.fast.epoch) against the
Python loop of Trainer._fit_sgd: the same steps, the same history, the same errors."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import deltaprop
from deltaprop.core import fused as _fused
from deltaprop.fast.loop import CompiledLoop, epoch_kernels
from deltaprop.train import trainer as training
from deltaprop.train.callbacks import watches_batches
from deltaprop.train.trainer import Callback, DivergenceError

pytest.importorskip("numba")


@pytest.fixture(autouse=True)
def _kernels_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python loop's per-operation kernels for every size too (the compiled loop takes
    every size itself), so that both loops run the same kernels on small test networks."""
    monkeypatch.setattr(_fused, "MIN_SIZE", 0)
    assert _fused.get(1) is not None


def _test_network() -> ModuleType:
    """``tests/core/test_network.py`` (its PyTorch reference cost), imported by path: the
    test folders are not packages, and pytest puts only collected files' folders on the path."""
    if "test_network" in sys.modules:
        return sys.modules["test_network"]
    path = Path(__file__).resolve().parents[1] / "core" / "test_network.py"
    spec = importlib.util.spec_from_file_location("test_network", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["test_network"] = module
    spec.loader.exec_module(module)
    return module


def _data(n: int = 203, d: int = 12, k: int = 3, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    labels = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int) + (X[:, 3] > 1)
    Y = np.eye(k)[labels % k]
    w = rng.uniform(0.2, 2.0, n)
    return X, Y, w


def _fit(compiled: bool, monkeypatch: pytest.MonkeyPatch, *, sizes=(12, 40, 30, 3),
         acts: Any = ("relu", "tanh", "softmax"), loss: str = "ce", dtype: str = "float64",
         optimizer: Any = "adam", weights: bool = False, opt_kwargs: dict | None = None,
         **kwargs: Any) -> tuple[deltaprop.Network, deltaprop.Trainer, bool]:  # fmt: skip
    """Train twice the same way, with the compiled loop or with the Python loop."""
    X, Y, w = _data(k=sizes[-1])
    if loss == "mse":
        Y = Y * 2.0 - 0.5
    used: list[bool] = []
    real = CompiledLoop.create

    def create(*args: Any, **kw: Any) -> CompiledLoop | None:
        loop = real(*args, **kw) if compiled else None
        used.append(loop is not None)
        return loop

    monkeypatch.setattr(training.CompiledLoop, "create", staticmethod(create))
    net = deltaprop.Network(list(sizes), list(acts), loss, dtype=dtype, seed=3)
    opt = deltaprop.optim.optimizers.get_optimizer(optimizer, **(opt_kwargs or {}))
    settings = {"learning_rate": 0.01, "batch_size": 32, "epochs": 4, "seed": 1, "tol": 0.0}
    tr = deltaprop.Trainer(net, opt, **{**settings, **kwargs})
    tr.fit(X.astype(dtype), Y.astype(dtype), sample_weight=w if weights else None)
    return net, tr, all(used)


CONFIGS = [
    {},
    {"acts": ("sigmoid", "identity", "sigmoid"), "loss": "bce"},
    {"acts": ("tanh", "relu", "identity"), "loss": "mse"},
    {"optimizer": "sgd"},
    {"optimizer": "sgd", "opt_kwargs": {"momentum": 0.9, "weight_decay": 1e-3}},
    {"optimizer": "sgd", "opt_kwargs": {"momentum": 0.9, "nesterov": True}},
    {"optimizer": "adam", "opt_kwargs": {"amsgrad": True, "weight_decay": 1e-2}},
    {"optimizer": "adamw", "opt_kwargs": {"weight_decay": 0.1}},
    # scikit-learn's forms (style="keras"), under a schedule that changes the rate each batch
    {
        "optimizer": "sgd",
        "schedule": "invscaling",
        "opt_kwargs": {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-3, "style": "keras"},
    },
    {
        "optimizer": "adamw",
        "schedule": "invscaling",
        "opt_kwargs": {"amsgrad": True, "weight_decay": 0.1, "style": "keras"},
    },
    # RMSprop at 0.01 moves every weight by ~0.1 a step, a chaotic fit that magnifies
    # rounding (its kernel alone is NumPy's step bit for bit: tests/optim)
    {"optimizer": "rmsprop", "learning_rate": 1e-3},
    {
        "optimizer": "rmsprop",
        "learning_rate": 1e-3,
        "opt_kwargs": {"momentum": 0.9, "centered": True, "weight_decay": 1e-3},
    },
    {"weights": True, "alpha": 1e-2},
    {"clip_norm": 0.05},
    {"shuffle": False, "batch_size": 50},
    {"batch_size": 1000},  # one batch: the whole set
    {"sizes": (12, 3), "acts": ("softmax",)},  # no hidden layer
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(map(str, c.items())) or "adam")
def test_same_training_as_the_python_loop_float64(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    net_c, tr_c, used_c = _fit(True, monkeypatch, **config)
    net_p, tr_p, used_p = _fit(False, monkeypatch, **config)
    assert used_c and not used_p
    np.testing.assert_allclose(net_c.parameters, net_p.parameters, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(tr_c.history.loss, tr_p.history.loss, rtol=1e-12)
    np.testing.assert_allclose(tr_c.history.grad_norms, tr_p.history.grad_norms, rtol=1e-11)
    assert tr_c.samples_seen == tr_p.samples_seen > 0
    assert tr_c.optimizer.t == tr_p.optimizer.t > 0
    for name, value in tr_p.optimizer.state.items():
        np.testing.assert_allclose(tr_c.optimizer.state[name], value, rtol=1e-10, atol=1e-14)
    assert not np.array_equal(net_c.parameters, deltaprop.Network(
        list(config.get("sizes", (12, 40, 30, 3))), list(config.get("acts", ("relu", "tanh", "softmax"))),
        config.get("loss", "ce"), seed=3).parameters)  # fmt: skip  # it did train


@pytest.mark.parametrize("config", [{}, {"acts": ("sigmoid", "relu", "sigmoid"), "loss": "bce"},
                                    {"acts": ("gelu", "relu", "softmax")}])  # fmt: skip
def test_float32_agrees_to_rounding(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    net_c, tr_c, used = _fit(True, monkeypatch, dtype="float32", **config)
    net_p, tr_p, _ = _fit(False, monkeypatch, dtype="float32", **config)
    assert used and net_c.parameters.dtype == np.float32
    np.testing.assert_allclose(net_c.parameters, net_p.parameters, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(tr_c.history.loss, tr_p.history.loss, rtol=1e-5)


def test_zero_weight_batch_is_skipped_as_in_the_python_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    X, Y, w = _data()
    w[:32] = 0.0  # the first batch (no shuffling) weighs nothing

    def fit(compiled: bool) -> deltaprop.Trainer:
        real = CompiledLoop.create
        if not compiled:
            monkeypatch.setattr(training.CompiledLoop, "create", staticmethod(lambda *a, **k: None))
        net = deltaprop.Network([12, 40, 3], ["relu", "softmax"], "ce", seed=0)
        tr = deltaprop.Trainer(net, "adam", batch_size=32, epochs=2, shuffle=False, seed=0)
        tr.fit(X, Y, sample_weight=w)
        monkeypatch.setattr(training.CompiledLoop, "create", real)
        return tr

    a, b = fit(True), fit(False)
    assert a.optimizer.t == b.optimizer.t == 2 * 6  # 7 batches an epoch, one skipped
    assert a.samples_seen == b.samples_seen == 2 * (203 - 32)
    np.testing.assert_allclose(a.net.parameters, b.net.parameters, rtol=1e-11, atol=1e-13)


def test_divergence_stops_with_the_last_good_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    X, Y, _ = _data()
    X[150] = 1e200  # an example that overflows the next steps (first epoch)
    net = deltaprop.Network([12, 40, 3], ["relu", "softmax"], "ce", seed=0)
    start = net.parameters.copy()
    tr = deltaprop.Trainer(net, "sgd", learning_rate=0.1, batch_size=32, epochs=3, seed=0)
    assert (
        CompiledLoop.create(net, tr.optimizer, X, Y, None, 0.0, None, None, watches_batches=False)
        is not None
    )
    with pytest.raises(DivergenceError, match=r"diverged in epoch 1: the loss became"):
        tr.fit(X, Y)
    np.testing.assert_array_equal(net.parameters, start)  # the weights before the epoch
    assert tr.optimizer.t == 0  # the optimizer starts over, as after the Python loop


class _Counter(Callback):
    def __init__(self) -> None:
        self.batches = 0

    def on_batch_end(self, trainer: Any, batch: int, logs: dict[str, float]) -> None:
        self.batches += 1


def _create(net: deltaprop.Network, X: Any, **kw: Any) -> CompiledLoop | None:
    Y = np.zeros((X.shape[0], net.dense[-1].n_out), dtype=net.parameters.dtype)
    opt = kw.pop("opt", deltaprop.optim.optimizers.get_optimizer("adam"))
    watching = watches_batches(kw.get("callbacks", []))
    return CompiledLoop.create(net, opt, X, Y, kw.get("w"), 0.0, None, kw.get("comm"),
                               watches_batches=watching)  # fmt: skip


def test_what_runs_compiled_and_what_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    X = np.zeros((10, 12))
    net = deltaprop.Network([12, 40, 3], ["relu", "softmax"], "ce", seed=0)
    assert _create(net, X) is not None
    for act in ("elu", "gelu", "leaky_relu", "softplus"):  # every hidden activation
        assert _create(deltaprop.Network([12, 40, 3], [act, "softmax"], "ce"), X) is not None
    assert _create(deltaprop.Network([12, 40, 3], ["relu", "softmax"], dropout=0.2), X)
    for out, loss in (("sigmoid", "ce"), ("identity", "huber"), ("exp", "poisson")):
        other = deltaprop.Network([12, 40, 3], ["relu", out], loss)  # the chain rule
        assert not other.fused and _create(other, X) is not None
    assert _create(net, X.astype(np.float32)) is None  # another dtype: the checked path copies
    assert _create(net, np.asfortranarray(X)) is None
    assert _create(net, X, callbacks=[_Counter()]) is not None  # then a batch per call
    assert _create(net, X, callbacks=[Callback()]) is not None
    under_mpi = _create(net, X, comm=object())  # the steps in halves around the allreduce
    assert under_mpi is not None and under_mpi.n_threads == 1  # a process per rank
    assert _create(net, X, opt=deltaprop.optim.optimizers.get_optimizer("rmsprop")) is not None

    class MyAdam(deltaprop.optim.optimizers.Adam):
        pass

    assert _create(net, X, opt=MyAdam()) is None  # a subclass may change the update
    monkeypatch.setenv("DELTAPROP_THREADS", "3")  # batch norm too: blocks of rows, threads
    with_bn = _create(deltaprop.Network([12, 40, 3], ["relu", "softmax"], batch_norm=True), X)
    assert with_bn is not None and with_bn.n_threads == 3 and with_bn.step_threads(64) == 3
    monkeypatch.delenv("DELTAPROP_THREADS")
    previous = _fused.set_enabled(False)
    try:
        assert _create(net, X) is None  # DELTAPROP_FUSED=0 runs the Python loop
    finally:
        _fused.set_enabled(previous)


def test_batch_callbacks_still_see_every_batch() -> None:
    X, Y, _ = _data()
    counter = _Counter()
    net = deltaprop.Network([12, 40, 3], ["relu", "softmax"], "ce", seed=0)
    deltaprop.Trainer(net, "adam", batch_size=32, epochs=2, callbacks=[counter], seed=0).fit(X, Y)
    assert counter.batches == 2 * 7


def _numba_blas_threads() -> int:
    from deltaprop.fast.threads import _blas_controller

    controller = _blas_controller()
    assert controller is not None and controller.lib_controllers
    return min(c.num_threads for c in controller.lib_controllers)


def test_blas_threads_the_loop_asks_for_and_the_setting_comes_back() -> None:
    """BLAS on one thread inside the loop, whatever its own threads: a product cut between
    BLAS threads could give other bits on a machine with other cores."""
    X, Y = np.zeros((10, 64)), np.zeros((10, 10))
    net = deltaprop.Network([64, 100, 10], ["relu", "softmax"], "ce", seed=0)
    kernels = epoch_kernels()
    opt = deltaprop.optim.optimizers.get_optimizer("adam")
    alone = CompiledLoop(kernels, net, opt, X, Y, None, 0.0, None, n_threads=1)
    before = _numba_blas_threads()
    for batch in (200, 10**6):  # small and large products alike
        with alone.threads(batch):
            assert _numba_blas_threads() == 1
        assert _numba_blas_threads() == before
    together = CompiledLoop(kernels, net, opt, X, Y, None, 0.0, None, n_threads=2)
    with together.threads(200):
        assert _numba_blas_threads() == 1
    with pytest.raises(KeyError), alone.threads(200):
        raise KeyError("an error in training")
    assert _numba_blas_threads() == before  # restored on the way out of an error too


def test_an_epoch_in_chunks_is_the_same_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Long epochs run in several compiled calls (so that Ctrl-C is seen between them)."""
    import deltaprop.fast.loop as fast_loop

    whole, tr_whole, _ = _fit(True, monkeypatch, epochs=3)
    calls: list[int] = []
    real = fast_loop.CompiledLoop._steps

    def counted(self: Any, tid: int, *args: Any) -> int:
        calls.append(tid)
        return real(self, tid, *args)

    monkeypatch.setattr(fast_loop, "CHUNK_ROWS", 64)  # two batches of 32 a call
    monkeypatch.setattr(fast_loop.CompiledLoop, "_steps", counted)
    chunked, tr_chunked, used = _fit(True, monkeypatch, epochs=3)
    assert used
    assert calls.count(0) == 3 * 4  # 6 full batches: 3 calls, and the last batch: 1
    np.testing.assert_array_equal(chunked.parameters, whole.parameters)
    assert tr_chunked.history.loss == tr_whole.history.loss


THREAD_CONFIGS = [
    {},
    # RMSprop at 0.01 moves every weight by ~0.1 a step, a chaotic fit that magnifies
    # rounding (its kernel alone is NumPy's step bit for bit: tests/optim)
    {"optimizer": "rmsprop", "learning_rate": 1e-3},
    {
        "optimizer": "rmsprop",
        "learning_rate": 1e-3,
        "opt_kwargs": {"momentum": 0.9, "centered": True, "weight_decay": 1e-3},
    },
    {"weights": True, "alpha": 1e-2},
    {"clip_norm": 0.05},
    {"optimizer": "sgd"},
    {"acts": ("sigmoid", "identity", "sigmoid"), "loss": "bce", "batch_size": 100},
    {"shuffle": False, "batch_size": 64},
]


@pytest.mark.parametrize("split", [False, True], ids=["rows", "first layer by units"])
@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize(
    "config", THREAD_CONFIGS, ids=lambda c: ",".join(map(str, c.items())) or "adam"
)
def test_threads_give_the_python_loop_s_training(
    threads: int, config: dict[str, Any], split: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each thread takes a block of every batch's rows (here 32 rows: 2 threads; the last
    batch of 11 rows: 1 thread) and a share of the parameters, and with ``split`` a block
    of the first layer's units; several epochs, so that a race would show."""
    import deltaprop.fast.loop as fast_loop

    monkeypatch.setenv("DELTAPROP_THREADS", str(threads))
    monkeypatch.setattr(fast_loop, "SPLIT_FIRST", 1 if split else 10**12)
    net_c, tr_c, used_c = _fit(True, monkeypatch, epochs=6, **config)
    net_p, tr_p, _ = _fit(False, monkeypatch, epochs=6, **config)
    assert used_c
    np.testing.assert_allclose(net_c.parameters, net_p.parameters, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tr_c.history.loss, tr_p.history.loss, rtol=1e-12)
    np.testing.assert_allclose(tr_c.history.grad_norms, tr_p.history.grad_norms, rtol=1e-10)
    assert tr_c.optimizer.t == tr_p.optimizer.t


def test_threads_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from deltaprop.fast.threads import MAX_THREADS, default_threads

    monkeypatch.setenv("DELTAPROP_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.delenv("DELTAPROP_THREADS")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert 1 <= default_threads() <= MAX_THREADS
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as joblib's workers share the cores
    assert default_threads() == 1
    monkeypatch.setenv("DELTAPROP_THREADS", "2")  # the explicit setting wins
    assert default_threads() == 2
    monkeypatch.delenv("DELTAPROP_THREADS")
    for bad in ("0", "-2", "two"):
        monkeypatch.setenv("DELTAPROP_THREADS", bad)
        with pytest.raises(
            ValueError, match=f"DELTAPROP_THREADS must be a positive integer. Received: '{bad}'"
        ):
            default_threads()


def test_helper_threads_live_for_one_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    monkeypatch.setenv("DELTAPROP_THREADS", "3")
    seen: list[int] = []

    class Watch(Callback):
        def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
            seen.append(sum(t.name.startswith("backprop-") for t in threading.enumerate()))

    X, Y, _ = _data(n=150)
    for _ in range(3):  # fits one after another leave no thread behind
        net = deltaprop.Network([12, 40, 3], ["relu", "softmax"], "ce", seed=0)
        tr = deltaprop.Trainer(net, "adam", batch_size=48, epochs=2, callbacks=[Watch()])
        tr.fit(X, Y)  # batches of 48 rows on 3 threads, the last (6 rows) on one
        assert not any(t.name.startswith("backprop-") for t in threading.enumerate())
    assert seen == [2] * 6  # threads 1 and 2 alive through every epoch of each fit


def test_a_failing_thread_ends_the_fit_with_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thread 1 raises: thread 0, waiting for it at a barrier, stops and the fit raises
    the error instead of hanging (run in a thread so that a hang fails the test)."""
    import threading

    import deltaprop.fast.loop as fast_loop

    monkeypatch.setenv("DELTAPROP_THREADS", "2")
    real = fast_loop.CompiledLoop._steps

    def failing(self: Any, tid: int, *args: Any) -> int:
        if tid == 1:
            raise MemoryError("no room for thread 1")
        return real(self, tid, *args)

    monkeypatch.setattr(fast_loop.CompiledLoop, "_steps", failing)
    X, Y, _ = _data()
    net = deltaprop.Network([12, 40, 3], ["relu", "softmax"], "ce", seed=0)
    trainer = deltaprop.Trainer(net, "adam", batch_size=32, epochs=2, seed=0)
    raised: list[BaseException] = []

    def fit() -> None:
        try:
            trainer.fit(X, Y)
        except BaseException as exc:
            raised.append(exc)

    runner = threading.Thread(target=fit, daemon=True)
    runner.start()
    runner.join(timeout=60)
    assert not runner.is_alive(), "the fit hung after a thread failed"
    assert len(raised) == 1 and isinstance(raised[0], RuntimeError)
    assert str(raised[0]) == "a training thread failed: MemoryError: no room for thread 1"
    assert not any(t.name.startswith("backprop-") for t in threading.enumerate())


@pytest.mark.parametrize(
    "threads,split", [(1, False), (2, False), (3, False), (2, True), (3, True)]
)
@pytest.mark.parametrize(
    "acts,loss,weights,alpha",
    [
        (("relu", "tanh", "softmax"), "categorical_crossentropy", False, 0.0),
        (("sigmoid", "identity", "sigmoid"), "binary_crossentropy", True, 0.3),
        (("tanh", "relu", "identity"), "mean_squared_error", True, 0.0),
    ],
)
def test_compiled_gradient_against_pytorch_and_finite_differences(
    acts: tuple[str, ...], loss: str, weights: bool, alpha: float, threads: int, split: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The gradient the compiled loop computes (one batch of 96 rows, one SGD step, after
    which ``net.grad`` holds it), on 1 to 3 threads, with and without the first-layer split,
    against PyTorch autograd and fourth-order central differences of the cost, float64."""
    torch_cost = _test_network().torch_cost

    import deltaprop.fast.loop as fast_loop

    monkeypatch.setenv("DELTAPROP_THREADS", str(threads))
    monkeypatch.setattr(fast_loop, "SPLIT_FIRST", 1 if split else 10**12)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((96, 7))
    Y = np.eye(4)[rng.integers(0, 4, 96)]
    if loss == "mean_squared_error":
        Y = rng.standard_normal((96, 4))
    w = rng.uniform(0.5, 2.0, 96) if weights else None
    net = deltaprop.Network([7, 9, 6, 4], list(acts), loss, seed=2)
    start = net.parameters.copy()
    used: list[bool] = []
    real = CompiledLoop.create

    def create(*args: Any, **kw: Any) -> CompiledLoop | None:
        loop = real(*args, **kw)
        used.append(loop is not None)
        return loop

    monkeypatch.setattr(training.CompiledLoop, "create", staticmethod(create))
    tr = deltaprop.Trainer(net, "sgd", learning_rate=1e-3, batch_size=96, epochs=1,
                          shuffle=False, alpha=alpha, tol=0.0)  # fmt: skip
    tr.fit(X, Y, sample_weight=w)
    compiled = net.grad.copy()
    assert used == [True]
    np.testing.assert_allclose(net.parameters, start - 1e-3 * compiled, rtol=0, atol=1e-15)
    net.parameters[...] = start  # the gradient is the one at the starting point
    l2 = alpha / (96.0 if w is None else float(w.sum()))
    _, Ws, bs = torch_cost(net, X, Y, w, l2)
    reference = np.concatenate(
        [t.grad.numpy().ravel() for pair in zip(Ws, bs, strict=True) for t in pair]
    )
    np.testing.assert_allclose(compiled, reference, rtol=1e-10, atol=1e-13)
    h = 1e-4  # central differences, fourth order, on 25 coordinates

    def J(k: int, delta: float) -> float:
        net.parameters[k] = start[k] + delta
        return net.cost(X, Y, w, alpha=alpha)

    for k in rng.choice(net.n_params, 25, replace=False):
        numeric = (8 * (J(k, h) - J(k, -h)) - (J(k, 2 * h) - J(k, -2 * h))) / (12 * h)
        net.parameters[k] = start[k]
        assert abs(numeric - compiled[k]) <= 1e-7 * max(1.0, abs(numeric)), (
            k,
            numeric,
            compiled[k],
        )
