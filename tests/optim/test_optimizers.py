"""Tests of deltaprop.optim.optimizers against torch.optim and scipy."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from deltaprop.optim.optimizers import (
    SGD,
    Adam,
    AdamW,
    Optimizer,
    RMSprop,
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
    # Only numpy arrays and Python scalars (the style a str); the scalars survive JSON.
    arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
    scalars = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    assert all(type(v) in (int, float, bool, str) for v in scalars.values())
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
