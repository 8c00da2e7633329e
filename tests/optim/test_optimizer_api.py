"""The optimizers' bookkeeping and registry: argument checks, state dicts, reset, names,
repr, and L-BFGS (split from test_optimizers.py, which compares the steps with PyTorch)."""

from __future__ import annotations

import doctest
from collections.abc import Callable

import numpy as np
import pytest

from deltaprop.optim import optimizers
from deltaprop.optim.optimizers import (
    LBFGS,
    OPTIMIZERS,
    SGD,
    Adam,
    AdamW,
    Momentum,
    Nesterov,
    RMSprop,
    get_optimizer,
    minimize_lbfgs,
)


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
        "SGD(learning_rate=0.01, momentum=0.5, nesterov=False, weight_decay=0.0, style='torch')"
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


def test_check_learning_rate_is_the_one_check() -> None:
    from deltaprop.optim import check_learning_rate

    assert check_learning_rate(0.5) == 0.5
    assert check_learning_rate(0, allow_zero=True) == 0.0
    for bad in (0, -1.0, float("nan"), float("inf"), True, "0.1"):
        with pytest.raises(ValueError, match="learning_rate must be a positive finite number"):
            check_learning_rate(bad)
    with pytest.raises(ValueError, match="must be a non-negative finite number"):
        check_learning_rate(-1e-9, allow_zero=True)


def test_allocate_and_advance_are_the_public_bookkeeping() -> None:
    opt = Adam()
    with pytest.raises(ValueError, match="allocate"):
        opt.advance(1)
    params = np.zeros(5)
    opt.allocate(params)
    assert set(opt.state) == {"exp_avg", "exp_avg_sq"} and opt.t == 0
    opt.advance(3)
    assert opt.t == 3
    with pytest.raises(ValueError, match="steps must be a non-negative int"):
        opt.advance(-1)
    with pytest.raises(ValueError, match="reset"):
        opt.allocate(np.zeros(4))
    assert opt.begin_step() == 4 and opt.t == 4
    assert not Adam().decoupled_weight_decay and AdamW().decoupled_weight_decay
