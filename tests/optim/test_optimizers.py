"""Tests of deltaprop.optim.optimizers against torch.optim and scipy."""

from __future__ import annotations

import doctest
import json
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from deltaprop.optim import optimizers
from deltaprop.optim.optimizers import (
    LBFGS,
    OPTIMIZERS,
    SGD,
    Adam,
    AdamW,
    Momentum,
    Nesterov,
    Optimizer,
    RMSprop,
    get_optimizer,
    minimize_lbfgs,
)

# The flat buffer is split into tensors of these shapes on the torch side.
SHAPES = [(3, 4), (4,), (2, 3, 2), (5,)]
N_PARAMS = sum(int(np.prod(s)) for s in SHAPES)
N_STEPS = 20


def _problem(seed: int = 0) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Random float64 start and the gradient of 0.5*|A p - b|^2 + sum(sin(3 p)) / 6."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((N_PARAMS + 7, N_PARAMS)) / np.sqrt(N_PARAMS)
    b = rng.standard_normal(N_PARAMS + 7)
    x0 = rng.standard_normal(N_PARAMS)

    def grad(p: np.ndarray) -> np.ndarray:
        p64 = p.astype(np.float64)
        g = a.T @ (a @ p64 - b) + 0.5 * np.cos(3.0 * p64)
        return g.astype(p.dtype)

    return x0, grad


def _torch_params(flat: np.ndarray) -> list[torch.nn.Parameter]:
    out, start = [], 0
    for shape in SHAPES:
        size = int(np.prod(shape))
        chunk = flat[start : start + size].reshape(shape).copy()
        out.append(torch.nn.Parameter(torch.from_numpy(chunk)))
        start += size
    return out


def _flatten(params: list[torch.nn.Parameter]) -> np.ndarray:
    return np.concatenate([p.detach().numpy().ravel() for p in params])


def _set_torch_grads(params: list[torch.nn.Parameter], flat_grad: np.ndarray) -> None:
    start = 0
    for p in params:
        size = p.numel()
        p.grad = torch.from_numpy(flat_grad[start : start + size].reshape(p.shape).copy())
        start += size


# (id, our factory, torch factory)
CASES: list[tuple[str, Callable[[], Optimizer], Callable[[Any], torch.optim.Optimizer]]] = [
    (
        "sgd",
        lambda: SGD(learning_rate=0.1),
        lambda ps: torch.optim.SGD(ps, lr=0.1, foreach=False),
    ),
    (
        "sgd-momentum",
        lambda: SGD(learning_rate=0.05, momentum=0.9),
        lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, foreach=False),
    ),
    (
        "sgd-nesterov",
        lambda: SGD(learning_rate=0.05, momentum=0.8, nesterov=True),
        lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True, foreach=False),
    ),
    (
        "sgd-weight-decay",
        lambda: SGD(learning_rate=0.05, momentum=0.9, weight_decay=0.1),
        lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.1, foreach=False),
    ),
    (
        "sgd-plain-weight-decay",
        lambda: SGD(learning_rate=0.1, weight_decay=0.3),
        lambda ps: torch.optim.SGD(ps, lr=0.1, weight_decay=0.3, foreach=False),
    ),
    (
        "rmsprop",
        lambda: RMSprop(learning_rate=0.01),
        lambda ps: torch.optim.RMSprop(ps, lr=0.01, foreach=False),
    ),
    (
        "rmsprop-centered",
        lambda: RMSprop(learning_rate=0.01, rho=0.9, centered=True),
        lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, centered=True, foreach=False),
    ),
    (
        "rmsprop-momentum",
        lambda: RMSprop(learning_rate=0.005, momentum=0.7, epsilon=1e-6),
        lambda ps: torch.optim.RMSprop(ps, lr=0.005, momentum=0.7, eps=1e-6, foreach=False),
    ),
    (
        "rmsprop-all",
        lambda: RMSprop(
            learning_rate=0.005, rho=0.3, momentum=0.5, centered=True, weight_decay=0.1
        ),
        lambda ps: torch.optim.RMSprop(
            ps, lr=0.005, alpha=0.3, momentum=0.5, centered=True, weight_decay=0.1, foreach=False
        ),
    ),
    (
        "adam",
        lambda: Adam(learning_rate=0.05),
        lambda ps: torch.optim.Adam(ps, lr=0.05, foreach=False),
    ),
    (
        "adam-amsgrad",
        lambda: Adam(learning_rate=0.05, beta_1=0.8, beta_2=0.99, amsgrad=True),
        lambda ps: torch.optim.Adam(ps, lr=0.05, betas=(0.8, 0.99), amsgrad=True, foreach=False),
    ),
    (
        "adam-weight-decay",
        lambda: Adam(learning_rate=0.05, weight_decay=0.1, epsilon=1e-6),
        lambda ps: torch.optim.Adam(ps, lr=0.05, weight_decay=0.1, eps=1e-6, foreach=False),
    ),
    (
        "adam-large-beta1-weight",
        lambda: Adam(learning_rate=0.05, beta_1=0.3),
        lambda ps: torch.optim.Adam(ps, lr=0.05, betas=(0.3, 0.999), foreach=False),
    ),
    (
        "adamw",
        lambda: AdamW(learning_rate=0.05),
        lambda ps: torch.optim.AdamW(ps, lr=0.05, foreach=False),
    ),
    (
        "adamw-amsgrad",
        lambda: AdamW(learning_rate=0.05, weight_decay=0.2, amsgrad=True),
        lambda ps: torch.optim.AdamW(ps, lr=0.05, weight_decay=0.2, amsgrad=True, foreach=False),
    ),
]
CASE_IDS = [c[0] for c in CASES]


def _run_both(
    make: Callable[[], Optimizer],
    make_torch: Callable[[Any], torch.optim.Optimizer],
    *,
    dtype: type = np.float64,
    lr_at: Callable[[int], float] | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    x0, grad = _problem()
    params: np.ndarray = x0.astype(dtype)
    opt = make()
    tparams = _torch_params(x0.astype(dtype))
    topt = make_torch(tparams)
    out = []
    for step in range(N_STEPS):
        if lr_at is not None:
            opt.learning_rate = lr_at(step)
            for group in topt.param_groups:
                group["lr"] = lr_at(step)
        opt.step(params, grad(params))
        _set_torch_grads(tparams, grad(_flatten(tparams)))
        topt.step()
        out.append((params.copy(), _flatten(tparams)))
    return out


@pytest.mark.parametrize(("case_id", "make", "make_torch"), CASES, ids=CASE_IDS)
def test_trajectory_matches_torch(case_id: str, make: Any, make_torch: Any) -> None:
    x0, _ = _problem()
    trajectory = _run_both(make, make_torch)
    for step, (ours, theirs) in enumerate(trajectory, start=1):
        np.testing.assert_allclose(
            ours, theirs, rtol=1e-10, atol=1e-14, err_msg=f"{case_id}, step {step}"
        )
    # The run actually moved the parameters.
    assert np.max(np.abs(trajectory[-1][0] - x0)) > 1e-2


@pytest.mark.parametrize(
    "case_id", ["sgd-weight-decay", "rmsprop-all", "adam-amsgrad", "adamw", "sgd-nesterov"]
)
def test_learning_rate_changed_between_steps(case_id: str) -> None:
    _, make, make_torch = CASES[CASE_IDS.index(case_id)]
    trajectory = _run_both(make, make_torch, lr_at=lambda step: 0.05 * 0.85**step + 0.001)
    for step, (ours, theirs) in enumerate(trajectory, start=1):
        np.testing.assert_allclose(
            ours, theirs, rtol=1e-10, atol=1e-14, err_msg=f"{case_id}, step {step}"
        )


def test_learning_rate_zero_freezes_sgd_but_keeps_counting() -> None:
    x0, grad = _problem()
    params = x0.copy()
    opt = SGD(learning_rate=0.1, momentum=0.9)
    opt.learning_rate = 0.0  # as a cosine schedule with eta_min=0 does at t_max
    opt.step(params, grad(params))
    np.testing.assert_array_equal(params, x0)
    assert opt.t == 1


@pytest.mark.parametrize(
    "case_id",
    ["sgd-nesterov", "rmsprop-centered", "rmsprop-momentum", "adam-amsgrad", "adam-weight-decay"],
)
def test_float32_keeps_dtype_and_matches_torch_float32(case_id: str) -> None:
    _, make, make_torch = CASES[CASE_IDS.index(case_id)]
    x0, grad = _problem()
    params = x0.astype(np.float32)
    opt = make()
    for _ in range(N_STEPS):
        opt.step(params, grad(params))
    assert params.dtype == np.float32
    assert all(arr.dtype == np.float32 for arr in opt.state.values())
    for ours, theirs in _run_both(make, make_torch, dtype=np.float32):
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=2e-5)
    # and the float32 run follows the float64 one closely
    ref = _run_both(make, make_torch)[-1][0]
    np.testing.assert_allclose(params, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("case_id", "make", "make_torch"), CASES, ids=CASE_IDS)
def test_state_dict_round_trip_resumes_exactly(case_id: str, make: Any, make_torch: Any) -> None:
    x0, grad = _problem()
    reference = x0.copy()
    opt = make()
    for _ in range(N_STEPS):
        opt.step(reference, grad(reference))

    params = x0.copy()
    first = make()
    for _ in range(N_STEPS // 2):
        first.step(params, grad(params))
    state = first.state_dict()
    # Only numpy arrays and Python scalars; the scalars survive JSON.
    arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
    scalars = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    assert all(type(v) in (int, float, bool) for v in scalars.values())
    assert scalars["t"] == N_STEPS // 2
    restored_state = {**json.loads(json.dumps(scalars)), **arrays}
    # The state arrays are copies: stepping the first optimizer does not change them.
    first.step(params.copy(), grad(params))

    second = make()
    second.load_state_dict(restored_state)
    assert second.t == N_STEPS // 2
    for _ in range(N_STEPS - N_STEPS // 2):
        second.step(params, grad(params))
    np.testing.assert_array_equal(params, reference)


def test_load_state_dict_restores_hyperparameters() -> None:
    source = Adam(learning_rate=0.02, beta_1=0.5, amsgrad=True, weight_decay=0.3)
    params = np.ones(4)
    source.step(params, np.full(4, 0.5))
    target = Adam()
    target.load_state_dict(source.state_dict())
    assert (target.learning_rate, target.beta_1, target.amsgrad, target.weight_decay) == (
        0.02,
        0.5,
        True,
        0.3,
    )
    assert set(target.state) == {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    # The loaded state fixes the layout: other parameters are refused.
    with pytest.raises(ValueError, match="reset"):
        target.step(np.ones(5), np.ones(5))


def test_load_state_dict_rejects_bad_states() -> None:
    opt = SGD(learning_rate=0.1, momentum=0.9)
    opt.step(np.ones(3), np.ones(3))
    good = opt.state_dict()
    with pytest.raises(ValueError, match="missing keys: momentum"):
        SGD().load_state_dict({k: v for k, v in good.items() if k != "momentum"})
    with pytest.raises(ValueError, match="unexpected keys: bogus"):
        SGD().load_state_dict({**good, "bogus": 1.0})
    with pytest.raises(ValueError, match="missing arrays: momentum_buffer"):
        SGD().load_state_dict({k: v for k, v in good.items() if k != "momentum_buffer"})
    with pytest.raises(ValueError, match="momentum must be"):
        SGD().load_state_dict({**good, "momentum": 2.0})
    with pytest.raises(ValueError, match="t must be"):
        SGD().load_state_dict({**good, "t": -1})


@pytest.mark.parametrize(
    ("factory", "argument"),
    [
        (lambda: SGD(learning_rate=-1), "learning_rate"),
        (lambda: SGD(learning_rate=0.0), "learning_rate"),
        (lambda: Adam(learning_rate=float("nan")), "learning_rate"),
        (lambda: SGD(learning_rate="0.1"), "learning_rate"),  # type: ignore[arg-type]
        (lambda: SGD(momentum=-0.1), "momentum"),
        (lambda: SGD(momentum=1.0), "momentum"),
        (lambda: SGD(nesterov=True), "nesterov"),
        (lambda: SGD(nesterov=1), "nesterov"),  # type: ignore[arg-type]
        (lambda: SGD(weight_decay=-1e-3), "weight_decay"),
        (lambda: RMSprop(rho=1.0), "rho"),
        (lambda: RMSprop(epsilon=-1.0), "epsilon"),
        (lambda: RMSprop(momentum=float("inf")), "momentum"),
        (lambda: RMSprop(centered="yes"), "centered"),  # type: ignore[arg-type]
        (lambda: Adam(beta_1=1.0), "beta_1"),
        (lambda: Adam(beta_2=-0.5), "beta_2"),
        (lambda: Adam(amsgrad=None), "amsgrad"),  # type: ignore[arg-type]
        (lambda: AdamW(weight_decay=-0.01), "weight_decay"),
        (lambda: LBFGS(max_iter=0), "max_iter"),
        (lambda: LBFGS(max_fun=1.5), "max_fun"),  # type: ignore[arg-type]
        (lambda: LBFGS(tol=-1.0), "tol"),
    ],
)
def test_bad_arguments_name_the_argument(factory: Callable[[], object], argument: str) -> None:
    with pytest.raises(ValueError, match=rf"{argument}\b.*Received: {argument}=") as info:
        factory()
    assert argument in str(info.value)


def test_learning_rate_message_format() -> None:
    with pytest.raises(ValueError) as info:
        Adam(learning_rate=-1)
    assert str(info.value) == (
        "learning_rate must be a positive finite number. Received: learning_rate=-1"
    )


def test_step_rejects_bad_arrays() -> None:
    opt = Adam()
    with pytest.raises(ValueError, match="shape and dtype"):
        opt.step(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="shape and dtype"):
        opt.step(np.zeros(3), np.zeros(3, dtype=np.float32))
    with pytest.raises(ValueError, match="float32 or float64"):
        opt.step(np.zeros(3, dtype=np.int64), np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="numpy arrays"):
        opt.step([0.0, 1.0], np.zeros(2))  # type: ignore[arg-type]
    frozen = np.zeros(3)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        opt.step(frozen, np.zeros(3))
    assert opt.t == 0 and opt.state == {}

    opt.step(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match=r"shape \(4,\).*reset\(\)"):
        opt.step(np.zeros(4), np.ones(4))
    with pytest.raises(ValueError, match="dtype float32"):
        opt.step(np.zeros(3, dtype=np.float32), np.ones(3, dtype=np.float32))
    opt.learning_rate = float("nan")
    with pytest.raises(ValueError, match="learning_rate must be a non-negative finite number"):
        opt.step(np.zeros(3), np.ones(3))
    assert opt.t == 1


def test_reset_drops_state() -> None:
    opt = RMSprop(centered=True, momentum=0.5)
    opt.step(np.ones(3), np.ones(3))
    assert opt.t == 1 and set(opt.state) == {"square_avg", "grad_avg", "momentum_buffer"}
    opt.reset()
    assert opt.t == 0 and opt.state == {}
    params = np.ones(5, dtype=np.float32)
    opt.step(params, np.ones(5, dtype=np.float32))  # other layout is fine after reset
    assert opt.state["square_avg"].shape == (5,)


@pytest.mark.parametrize(("case_id", "make", "make_torch"), CASES, ids=CASE_IDS)
def test_update_is_in_place_and_grads_untouched(case_id: str, make: Any, make_torch: Any) -> None:
    x0, grad = _problem()
    buffer = x0.copy()
    view = buffer[:]  # a view sees the in-place update
    opt = make()
    for _ in range(3):
        g = grad(buffer)
        g_before = g.copy()
        opt.step(buffer, g)
        np.testing.assert_array_equal(g, g_before)
    assert view.base is buffer
    np.testing.assert_array_equal(view, buffer)
    assert not np.array_equal(buffer, x0)
    for arr in opt.state.values():
        assert arr.shape == buffer.shape and arr.dtype == buffer.dtype
        assert not np.shares_memory(arr, buffer)


@pytest.mark.parametrize(("case_id", "make", "make_torch"), CASES, ids=CASE_IDS)
def test_steps_allocate_no_full_size_temporaries(case_id: str, make: Any, make_torch: Any) -> None:
    n = 200_000  # 1.6 MB per float64 array
    rng = np.random.default_rng(1)
    params = rng.standard_normal(n)
    grads = rng.standard_normal(n)
    opt = make()
    opt.step(params, grads)  # allocates the state and scratch arrays
    tracemalloc.start()
    try:
        for _ in range(3):
            opt.step(params, grads)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < n * 8 // 4, f"{case_id}: {peak} bytes allocated during steps"


def test_registry_and_get_optimizer() -> None:
    assert set(OPTIMIZERS) == {"sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw", "lbfgs"}
    for name, cls in OPTIMIZERS.items():
        assert cls.name == name
        assert type(get_optimizer(name)) is cls
    momentum = get_optimizer("momentum")
    assert isinstance(momentum, Momentum) and isinstance(momentum, SGD)
    assert (momentum.momentum, momentum.nesterov) == (0.9, False)
    nesterov = get_optimizer("NESTEROV", learning_rate=0.2)
    assert isinstance(nesterov, Nesterov)
    assert (nesterov.learning_rate, nesterov.momentum, nesterov.nesterov) == (0.2, 0.9, True)
    adamw = get_optimizer("adamw")
    assert isinstance(adamw, AdamW) and adamw.weight_decay == 0.01
    assert isinstance(get_optimizer(Adam, beta_1=0.5), Adam)
    instance = RMSprop()
    assert get_optimizer(instance) is instance
    lbfgs = LBFGS(max_iter=7)
    assert get_optimizer(lbfgs) is lbfgs
    with pytest.raises(ValueError, match="instance"):
        get_optimizer(instance, learning_rate=0.1)


def test_unknown_optimizer_lists_valid_names() -> None:
    with pytest.raises(ValueError) as info:
        get_optimizer("foo")
    assert str(info.value) == (
        "Could not interpret optimizer identifier: 'foo'. "
        "Valid names: adam, adamw, lbfgs, momentum, nesterov, rmsprop, sgd."
    )
    with pytest.raises(ValueError, match="Could not interpret optimizer identifier: 3"):
        get_optimizer(3)  # type: ignore[call-overload]


def test_repr_names_the_hyperparameters() -> None:
    assert repr(SGD(momentum=0.5)) == (
        "SGD(learning_rate=0.01, momentum=0.5, nesterov=False, weight_decay=0.0)"
    )


def _rosenbrock(x: np.ndarray) -> tuple[float, np.ndarray]:
    loss = float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))
    grad = np.zeros_like(x)
    grad[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    grad[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return loss, grad


def test_lbfgs_minimizes_rosenbrock() -> None:
    x0 = np.array([-1.2, 1.0, -0.5, 0.8, 1.3])
    x0_before = x0.copy()
    result = minimize_lbfgs(_rosenbrock, x0, max_iter=1000, max_fun=15000, tol=1e-10)
    assert result.success
    np.testing.assert_allclose(result.x, np.ones(5), atol=1e-5)
    assert result.fun < 1e-10
    assert result.x.dtype == np.float64
    np.testing.assert_array_equal(x0, x0_before)


def test_lbfgs_class_solves_least_squares_from_float32_buffer() -> None:
    rng = np.random.default_rng(3)
    a = rng.standard_normal((40, 6))
    b = rng.standard_normal(40)
    expected = np.linalg.lstsq(a, b, rcond=None)[0]
    seen_dtypes = set()

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        seen_dtypes.add(x.dtype)
        r = a @ x - b
        return 0.5 * float(r @ r), (a.T @ r).astype(np.float32)  # float32 grad is accepted

    solver = get_optimizer("lbfgs", tol=1e-12, max_iter=500)
    assert isinstance(solver, LBFGS)
    buffer = np.zeros(6, dtype=np.float32)
    result = solver.minimize(fun, buffer)
    buffer[...] = result.x  # the caller copies the optimum back
    assert seen_dtypes == {np.dtype(np.float64)}
    np.testing.assert_allclose(result.x, expected, atol=1e-5)
    np.testing.assert_allclose(buffer, expected, atol=1e-5)


def test_lbfgs_respects_max_iter_and_callback() -> None:
    calls: list[float] = []
    result = minimize_lbfgs(
        _rosenbrock,
        np.array([-1.2, 1.0, -0.5]),
        max_iter=3,
        max_fun=15000,
        tol=0.0,
        callback=lambda intermediate_result: calls.append(intermediate_result.fun),
    )
    assert result.nit == 3 and not result.success
    assert len(calls) == 3
    with pytest.raises(ValueError, match="x0 must be 1-D"):
        minimize_lbfgs(_rosenbrock, np.zeros((2, 2)), max_iter=1, max_fun=1, tol=0.0)
    with pytest.raises(ValueError, match="max_fun"):
        minimize_lbfgs(_rosenbrock, np.zeros(2), max_iter=1, max_fun=0, tol=0.0)


def test_lbfgs_state_dict_round_trip() -> None:
    solver = LBFGS(max_iter=10, max_fun=20, tol=1e-3)
    other = LBFGS()
    other.load_state_dict(solver.state_dict())
    assert other.state_dict() == {"max_iter": 10, "max_fun": 20, "tol": 1e-3}
    with pytest.raises(ValueError, match="unexpected keys: foo"):
        other.load_state_dict({"foo": 1})


def test_module_doctests() -> None:
    result = doctest.testmod(optimizers, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
