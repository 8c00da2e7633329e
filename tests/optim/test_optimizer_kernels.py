"""Each first-order optimizer's compiled step (``deltaprop.fast.update.optimizer_step``,
from the class's own kernel) against its NumPy ``step``: the same bits, step after step
(Adam's kernel through the Python loop's per-operation call, ``Adam._fused_update``, as
well)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from deltaprop.optim import Adam, AdamW, RMSprop
from deltaprop.optim.optimizers import get_optimizer

pytest.importorskip("numba")

from deltaprop.core import fused as _fused
from deltaprop.fast.update import OPT_RMSPROP, optimizer_step


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"momentum": 0.9},
        {"centered": True, "weight_decay": 1e-2},
        {"centered": True, "momentum": 0.5, "rho": 0.3, "epsilon": 0.0},
    ],
    ids=str,
)
def test_rmsprop_kernel_is_bit_for_bit_its_numpy_step(kw: dict[str, Any], dtype: Any) -> None:
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=300).astype(dtype)
    numpy_opt, compiled_opt = RMSprop(0.01, **kw), RMSprop(0.01, **kw)
    a, b = p0.copy(), p0.copy()
    compiled_opt.allocate(b)
    st, empty = compiled_opt.state, b[:0]
    h = np.array(compiled_opt.kernel_hyperparameters())
    previous = _fused.set_enabled(False)
    try:
        for t in range(1, 6):
            g = (rng.normal(size=300) * 10.0 ** rng.integers(-8, 3, 300)).astype(dtype)
            numpy_opt.step(a, g)
            optimizer_step(b, g, OPT_RMSPROP, t, 0.01, h, st["square_avg"],
                           st.get("grad_avg", empty), st.get("momentum_buffer", empty))  # fmt: skip
    finally:
        _fused.set_enabled(previous)
    assert not np.array_equal(a, p0)
    np.testing.assert_array_equal(b, a)
    for name, value in numpy_opt.state.items():
        np.testing.assert_array_equal(st[name], value, err_msg=name)


@pytest.mark.skipif(
    not _fused.enabled(), reason="compiled kernels switched off (DELTAPROP_FUSED=0)"
)
def test_every_first_order_optimizer_runs_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    import deltaprop
    from deltaprop.fast.loop import CompiledLoop

    monkeypatch.setattr(_fused, "MIN_SIZE", 0)
    net = deltaprop.Network([12, 40, 3], ["relu", "softmax"], "ce", seed=0)
    X, Y = np.zeros((10, 12)), np.zeros((10, 3))
    for name in ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"):
        opt = get_optimizer(name)
        loop = CompiledLoop.create(net, opt, X, Y, None, 0.0, None, None, watches_batches=False)
        assert loop is not None, name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "kw", [{}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-2},
           {"momentum": 0.9, "style": "keras"}, {"weight_decay": 1e-2, "style": "keras"},
           {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-2, "style": "keras"}],
    ids=str,
)  # fmt: skip
def test_sgd_kernel_is_bit_for_bit_its_numpy_step(kw: dict[str, Any], dtype: Any) -> None:
    from deltaprop.fast.update import OPT_SGD
    from deltaprop.optim import SGD

    rng = np.random.default_rng(1)
    p0 = rng.normal(size=300).astype(dtype)
    numpy_opt, compiled_opt = SGD(0.05, **kw), SGD(0.05, **kw)
    a, b = p0.copy(), p0.copy()
    compiled_opt.allocate(b)
    buf, empty = compiled_opt.state.get("momentum_buffer", b[:0]), b[:0]
    h = np.array(compiled_opt.kernel_hyperparameters())
    for t in range(1, 6):
        g = rng.normal(size=300).astype(dtype)
        numpy_opt.learning_rate = 0.05 / t  # a schedule's: the styles differ then
        numpy_opt.step(a, g)
        optimizer_step(b, g, OPT_SGD, t, 0.05 / t, h, buf, empty, empty)
    assert not np.array_equal(a, p0)
    np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("cls", "kw"),
    [
        (Adam, {}),
        (Adam, {"weight_decay": 0.1, "amsgrad": True}),
        (Adam, {"beta_1": 0.3}),  # the other branch of lerp
        (AdamW, {}),
        (AdamW, {"weight_decay": 0.2, "amsgrad": True}),
    ],
)
def test_adam_kernel_is_bit_for_bit_its_numpy_step(cls: type, kw: dict, dtype: type) -> None:
    n = 2 * _fused.MIN_SIZE + 3
    results = []
    for flag in (False, True):
        previous = _fused.set_enabled(flag)
        try:
            rng = np.random.default_rng(3)
            params = rng.normal(size=n).astype(dtype)
            opt = cls(learning_rate=0.01, **kw)
            for _ in range(15):
                g = rng.normal(size=n).astype(dtype)
                g[::7] *= 1e-7
                opt.step(params, g)
            results.append((params, opt.state_dict()))
        finally:
            _fused.set_enabled(previous)
    (p0, s0), (p1, s1) = results
    assert p0.tobytes() == p1.tobytes()
    for key, value in s0.items():
        if isinstance(value, np.ndarray):
            assert value.tobytes() == s1[key].tobytes(), key


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_kernel_flushes_subnormal_moments(amsgrad: bool) -> None:
    """A gradient that stays 0 lets the first moment decay through the subnormal range:
    the kernel flushes it (speed), NumPy keeps it; the parameters agree to ~1e-36."""
    n = _fused.MIN_SIZE
    results = []
    for flag in (False, True):
        previous = _fused.set_enabled(flag)
        try:
            rng = np.random.default_rng(5)
            params = rng.normal(size=n).astype(np.float32)
            opt = Adam(learning_rate=0.01, amsgrad=amsgrad)
            g = rng.normal(size=n).astype(np.float32)
            opt.step(params, g)
            g[: n // 2] = 0.0
            for _ in range(900):
                opt.step(params, g)
            results.append((params, opt.state["exp_avg"]))
        finally:
            _fused.set_enabled(previous)
    (p0, m0), (p1, m1) = results
    tiny = np.finfo(np.float32).tiny
    assert ((m0 != 0) & (np.abs(m0) < tiny)).any()  # NumPy went subnormal
    assert not ((m1 != 0) & (np.abs(m1) < tiny)).any()  # the kernel did not
    np.testing.assert_allclose(p1, p0, rtol=0, atol=1e-30)
    assert p0[n // 2 :].tobytes() == p1[n // 2 :].tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("cls", "kw"),
    [(Adam, {}), (Adam, {"weight_decay": 1e-2, "amsgrad": True}), (Adam, {"beta_1": 0.3}),
     (Adam, {"style": "keras", "epsilon": 1e-3}), (AdamW, {"weight_decay": 0.2}),
     (AdamW, {"amsgrad": True, "style": "keras"})],
    ids=str,
)  # fmt: skip
def test_adam_loop_step_is_bit_for_bit_its_numpy_step(cls: type, kw: dict, dtype: Any) -> None:
    """The compiled loop's step (its ``h`` from ``kernel_hyperparameters``) against the
    NumPy ``step`` (the per-operation kernels switched off), under a changing rate."""
    from deltaprop.fast.update import OPT_ADAM

    rng = np.random.default_rng(2)
    p0 = rng.normal(size=300).astype(dtype)
    numpy_opt, compiled_opt = cls(0.01, **kw), cls(0.01, **kw)
    a, b = p0.copy(), p0.copy()
    compiled_opt.allocate(b)
    st = compiled_opt.state
    h = np.array(compiled_opt.kernel_hyperparameters())
    previous = _fused.set_enabled(False)
    try:
        for t in range(1, 8):
            g = (rng.normal(size=300) * 10.0 ** rng.integers(-6, 2, 300)).astype(dtype)
            numpy_opt.learning_rate = 0.01 / t
            numpy_opt.step(a, g)
            optimizer_step(b, g, OPT_ADAM, t, 0.01 / t, h, st["exp_avg"], st["exp_avg_sq"],
                           st.get("max_exp_avg_sq", b[:0]))  # fmt: skip
    finally:
        _fused.set_enabled(previous)
    assert not np.array_equal(a, p0)
    np.testing.assert_array_equal(b, a)
    for name, value in numpy_opt.state.items():
        np.testing.assert_array_equal(st[name], value, err_msg=name)
