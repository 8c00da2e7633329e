"""Tests of deltaprop.optim.schedules against torch.optim.lr_scheduler and scikit-learn."""

from __future__ import annotations

import doctest
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.neural_network import MLPRegressor
from sklearn.neural_network._stochastic_optimizers import SGDOptimizer

from deltaprop.optim import schedules
from deltaprop.optim.schedules import (
    SCHEDULES,
    Constant,
    CosineAnnealing,
    ExponentialDecay,
    InverseScaling,
    ReduceOnPlateau,
    Schedule,
    StepDecay,
    get_schedule,
)

N_EPOCHS = 30


def _torch_lrs(make_scheduler: Callable[[torch.optim.Optimizer], Any], lr0: float) -> list[float]:
    """Learning rate in use during each of N_EPOCHS epochs under a torch scheduler."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr0)
    scheduler = make_scheduler(optimizer)
    lrs = []
    for _ in range(N_EPOCHS):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (
            StepDecay(step_size=4, gamma=0.5),
            lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5),
        ),
        (
            StepDecay(step_size=7),
            lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=7),
        ),
        (
            ExponentialDecay(gamma=0.9),
            lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9),
        ),
        (
            CosineAnnealing(t_max=10),
            lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10),
        ),
        (
            CosineAnnealing(t_max=12, eta_min=1e-3),
            lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=12, eta_min=1e-3),
        ),
    ],
    ids=["step", "step-default-gamma", "exponential", "cosine", "cosine-eta-min"],
)
def test_closed_form_schedules_match_torch(ours: Schedule, theirs: Any) -> None:
    lr0 = 0.1
    expected = _torch_lrs(theirs, lr0)
    got = [ours(epoch, lr0) for epoch in range(N_EPOCHS)]
    # torch steps recursively, we use the closed form: equal up to round-off.
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-16)
    assert len(set(np.round(got, 12))) > 2  # the schedule does change the rate


def test_closed_form_values_by_hand() -> None:
    assert [StepDecay(2, gamma=0.5)(e, 1.0) for e in range(5)] == [1.0, 1.0, 0.5, 0.5, 0.25]
    assert ExponentialDecay(0.5)(3, 2.0) == 0.25
    cosine = CosineAnnealing(t_max=4, eta_min=0.1)
    assert cosine(0, 1.1) == 1.1
    assert cosine(2, 1.1) == pytest.approx(0.6, abs=1e-15)
    assert cosine(4, 1.1) == pytest.approx(0.1, abs=1e-15)
    assert cosine(8, 1.1) == pytest.approx(1.1, abs=1e-15)  # no restart: cosine goes on
    assert [Constant()(e, 0.3) for e in range(3)] == [0.3, 0.3, 0.3]


def test_inverse_scaling_formula() -> None:
    schedule = InverseScaling(power_t=0.5)
    assert schedule(0, 0.1) == 0.1  # first epoch: samples_seen=0
    assert schedule(1, 0.1, samples_seen=99) == 0.1 / 10.0
    assert schedule(5, 0.1, samples_seen=99) == 0.1 / 10.0  # the epoch index is not used
    assert InverseScaling(power_t=0.25)(1, 2.0, samples_seen=15) == 1.0
    assert InverseScaling(power_t=0.0)(3, 0.7, samples_seen=1000) == 0.7


@pytest.mark.parametrize("power_t", [0.5, 0.3, 1.0])
def test_inverse_scaling_matches_sklearn(power_t: float) -> None:
    n_samples, lr0 = 37, 0.05
    sk = SGDOptimizer([], learning_rate_init=lr0, lr_schedule="invscaling", power_t=power_t)
    schedule = InverseScaling(power_t=power_t)
    t = 0  # sklearn's t_: samples seen so far
    for epoch in range(N_EPOCHS):
        # sklearn sets the rate at the end of the previous epoch (iteration_ends)
        assert schedule(epoch, lr0, samples_seen=t) == sk.learning_rate
        t += n_samples
        sk.iteration_ends(t)


def test_reduce_on_plateau_sklearn_style_by_hand() -> None:
    # sklearn's "adaptive" with n_iter_no_change=2, tol=0.01: an epoch is bad when
    # loss > best - tol, best follows every strict decrease, and after more than 2
    # consecutive bad epochs the rate is divided by 5; once the rate in use is at or
    # below min_lr, training stops instead.
    schedule = ReduceOnPlateau(factor=0.2, patience=2, tol=0.01, min_lr=1e-3)
    losses = [1.0, 0.995, 0.990, 0.985, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    lr0 = 0.1
    r1, r2, r3 = lr0 / 5.0, lr0 / 5.0 / 5.0, lr0 / 5.0 / 5.0 / 5.0
    expected_lrs = [lr0] * 4 + [r1] * 4 + [r2] * 3 + [r3] * 3
    expected_bad = [0, 1, 2, 0, 0, 1, 2, 0, 1, 2, 0, 1, 2, 3]
    expected_best = [1.0, 0.995, 0.990, 0.985] + [0.5] * 10
    lrs, bad, best, stops = [], [], [], []
    for epoch, loss in enumerate(losses):
        lrs.append(schedule(epoch, lr0))
        schedule.on_epoch_end(loss)
        bad.append(schedule.num_bad_epochs)
        best.append(schedule.best)
        stops.append(schedule.should_stop)
    assert lrs == expected_lrs
    assert bad == expected_bad
    assert best == expected_best
    # epoch 13 is the third bad epoch at rate 0.0008 <= min_lr: stop, no 4th reduction
    assert stops == [False] * 13 + [True]
    assert schedule.num_reductions == 3


def test_reduce_on_plateau_torch_style_differs_by_hand() -> None:
    # torch keeps best until an improvement beyond tol: 0.985 < 1.0 - 0.01 is one.
    schedule = ReduceOnPlateau(factor=0.5, patience=2, tol=0.01, min_lr=0.03, style="torch")
    losses = [1.0, 0.995, 0.990, 0.985, 0.985, 0.985, 0.985, 0.985, 0.985, 0.985]
    lrs = []
    for epoch, loss in enumerate(losses):
        lrs.append(schedule(epoch, 0.1))
        schedule.on_epoch_end(loss)
    # bad epochs: 1, 2, (improved), 1, 2, 3 -> 0.05, 1, 2, 3 -> max(0.025, 0.03)
    assert lrs == [0.1] * 7 + [0.05] * 3
    assert schedule(10, 0.1) == 0.03
    assert schedule.best == 0.985 and not schedule.should_stop


def _sklearn_adaptive(
    losses: list[float], lr0: float, tol: float, n_iter_no_change: int
) -> tuple[list[float], int | None]:
    """Replay scikit-learn's own bookkeeping from MLP._fit_stochastic on a loss sequence."""
    mlp = MLPRegressor(tol=tol, n_iter_no_change=n_iter_no_change)
    mlp.loss_curve_ = []
    mlp.best_loss_ = np.inf
    mlp._no_improvement_count = 0
    optimizer = SGDOptimizer([], learning_rate_init=lr0, lr_schedule="adaptive")
    lrs = []
    for epoch, loss in enumerate(losses):
        lrs.append(optimizer.learning_rate)
        mlp.loss_curve_.append(loss)
        mlp._update_no_improvement_count(False, None, None, None)
        optimizer.iteration_ends(epoch)
        if mlp._no_improvement_count > mlp.n_iter_no_change:
            if optimizer.trigger_stopping("", verbose=False):
                return lrs, epoch
            mlp._no_improvement_count = 0
    return lrs, None


@pytest.mark.parametrize(("tol", "patience"), [(1e-4, 10), (1e-3, 3), (0.0, 0)])
def test_reduce_on_plateau_reproduces_sklearn_adaptive(tol: float, patience: int) -> None:
    epochs = np.arange(300)
    losses = [float(v) for v in 0.5 + 0.5 * np.exp(-epochs / 8.0) + 2e-3 * np.sin(epochs)]
    expected_lrs, expected_stop = _sklearn_adaptive(losses, 0.1, tol, patience)
    assert expected_stop is not None  # the sequence exercises the stopping rule

    schedule = get_schedule("adaptive", tol=tol, patience=patience)
    lrs, stopped_at = [], None
    for epoch, loss in enumerate(losses):
        lrs.append(schedule(epoch, 0.1))
        schedule.on_epoch_end(loss)
        if schedule.should_stop:
            stopped_at = epoch
            break
    assert lrs == expected_lrs  # exactly: lr /= 5 as sklearn does
    assert stopped_at == expected_stop


@pytest.mark.parametrize(
    "kwargs",
    [
        {"factor": 0.5, "patience": 3, "threshold": 1e-3, "threshold_mode": "rel"},
        {"factor": 0.3, "patience": 2, "threshold": 1e-3, "threshold_mode": "abs", "cooldown": 2},
        {"factor": 0.1, "patience": 0, "threshold": 0.0, "min_lr": 1e-4, "threshold_mode": "abs"},
    ],
)
def test_reduce_on_plateau_torch_style_matches_torch(kwargs: dict[str, Any]) -> None:
    epochs = np.arange(120)
    losses = [float(v) for v in 0.5 + 0.5 * np.exp(-epochs / 8.0) + 2e-3 * np.sin(epochs)]
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **kwargs)
    schedule = ReduceOnPlateau(
        factor=kwargs["factor"],
        patience=kwargs["patience"],
        tol=kwargs["threshold"],
        min_lr=kwargs.get("min_lr", 0.0),
        style="torch",
        threshold_mode=kwargs["threshold_mode"],
        cooldown=kwargs.get("cooldown", 0),
    )
    expected, got = [], []
    for epoch, loss in enumerate(losses):
        expected.append(optimizer.param_groups[0]["lr"])
        got.append(schedule(epoch, 0.1))
        optimizer.step()
        scheduler.step(loss)
        schedule.on_epoch_end(loss)
        assert schedule.num_bad_epochs == scheduler.num_bad_epochs
        assert schedule.best == scheduler.best
    assert got == expected
    assert len(set(got)) >= 3


def test_reduce_on_plateau_state_round_trip() -> None:
    losses = [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]
    reference = ReduceOnPlateau(patience=1, tol=0.01)
    expected = []
    for epoch, loss in enumerate(losses):
        expected.append(reference(epoch, 0.1))
        reference.on_epoch_end(loss)

    first = ReduceOnPlateau(patience=1, tol=0.01)
    got = []
    for epoch, loss in enumerate(losses[:7]):
        got.append(first(epoch, 0.1))
        first.on_epoch_end(loss)
    state = first.state_dict()
    assert all(type(v) in (int, float, bool) for v in state.values())
    second = ReduceOnPlateau()  # hyper-parameters come from the state
    second.load_state_dict(json.loads(json.dumps(state)))
    assert (second.patience, second.tol) == (1, 0.01)
    for epoch, loss in enumerate(losses[7:], start=7):
        got.append(second(epoch, 0.1))
        second.on_epoch_end(loss)
    assert got == expected
    assert second.state_dict() == reference.state_dict()
    assert second.num_reductions >= 2

    second.reset()
    assert (second.best, second.num_reductions, second.should_stop) == (math.inf, 0, False)


def test_state_round_trip_of_closed_form_schedules() -> None:
    pairs: list[tuple[Schedule, Schedule]] = [
        (Constant(), Constant()),
        (StepDecay(3, 0.5), StepDecay(1)),
        (ExponentialDecay(0.9), ExponentialDecay(0.1)),
        (CosineAnnealing(9, 0.01), CosineAnnealing(2)),
        (InverseScaling(0.25), InverseScaling()),
    ]
    for schedule, fresh in pairs:
        state = schedule.state_dict()
        fresh.load_state_dict(json.loads(json.dumps(state)))
        assert fresh.state_dict() == state
        assert fresh(5, 0.1, 500) == schedule(5, 0.1, 500)
        schedule.on_epoch_end(1.0)  # no-op
        assert not schedule.should_stop
    with pytest.raises(ValueError, match="missing keys: gamma"):
        StepDecay(2).load_state_dict({"step_size": 3})
    with pytest.raises(ValueError, match="unexpected keys: foo"):
        Constant().load_state_dict({"foo": 1})
    with pytest.raises(ValueError, match="step_size must be"):
        StepDecay(2).load_state_dict({"step_size": 0, "gamma": 0.1})
    bad = ReduceOnPlateau().state_dict()
    with pytest.raises(ValueError, match="num_bad_epochs must be"):
        ReduceOnPlateau().load_state_dict({**bad, "num_bad_epochs": -1})


@pytest.mark.parametrize(
    ("factory", "argument"),
    [
        (lambda: StepDecay(0), "step_size"),
        (lambda: StepDecay(2.5), "step_size"),  # type: ignore[arg-type]
        (lambda: StepDecay(2, gamma=0.0), "gamma"),
        (lambda: ExponentialDecay(-0.5), "gamma"),
        (lambda: ExponentialDecay(float("nan")), "gamma"),
        (lambda: CosineAnnealing(0), "t_max"),
        (lambda: CosineAnnealing(10, eta_min=-1.0), "eta_min"),
        (lambda: InverseScaling(-0.5), "power_t"),
        (lambda: ReduceOnPlateau(factor=1.0), "factor"),
        (lambda: ReduceOnPlateau(factor=0.0), "factor"),
        (lambda: ReduceOnPlateau(patience=-1), "patience"),
        (lambda: ReduceOnPlateau(tol=-1e-4), "tol"),
        (lambda: ReduceOnPlateau(min_lr=-1.0), "min_lr"),
        (lambda: ReduceOnPlateau(style="keras"), "style"),  # type: ignore[arg-type]
        (lambda: ReduceOnPlateau(threshold_mode="max"), "threshold_mode"),  # type: ignore[arg-type]
        (lambda: ReduceOnPlateau(cooldown=True), "cooldown"),
        (lambda: Constant()(-1, 0.1), "epoch"),
        (lambda: Constant()(0, 0.0), "learning_rate_init"),
        (lambda: InverseScaling()(0, 0.1, samples_seen=-5), "samples_seen"),
    ],
)
def test_bad_arguments_name_the_argument(factory: Callable[[], object], argument: str) -> None:
    with pytest.raises(ValueError, match=rf"^{argument} must be .*Received: {argument}="):
        factory()


def test_registry_and_get_schedule() -> None:
    assert set(SCHEDULES) == {
        "constant",
        "step",
        "exponential",
        "cosine",
        "invscaling",
        "plateau",
        "adaptive",
    }
    for name, cls in SCHEDULES.items():
        assert name == cls.name or (name == "adaptive" and cls is ReduceOnPlateau)
    adaptive = get_schedule("adaptive")
    assert isinstance(adaptive, ReduceOnPlateau)
    assert (adaptive.factor, adaptive.patience, adaptive.tol, adaptive.min_lr) == (
        0.2,
        10,
        1e-4,
        1e-6,
    )
    assert adaptive.style == "sklearn"
    assert isinstance(get_schedule("Cosine", t_max=5), CosineAnnealing)
    assert isinstance(get_schedule(StepDecay, step_size=3), StepDecay)
    instance = ExponentialDecay(0.5)
    assert get_schedule(instance) is instance
    with pytest.raises(ValueError, match="instance"):
        get_schedule(instance, gamma=0.1)


def test_unknown_schedule_lists_valid_names() -> None:
    with pytest.raises(ValueError) as info:
        get_schedule("linear")
    assert str(info.value) == (
        "Could not interpret schedule identifier: 'linear'. "
        "Valid names: adaptive, constant, cosine, exponential, invscaling, plateau, step."
    )


def test_module_doctests() -> None:
    result = doctest.testmod(schedules)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("epochs", [1, 2, 3, 10, 200])
def test_schedules_own_their_defaults_for_a_number_of_epochs(epochs: int) -> None:
    from deltaprop.optim import schedule_defaults, schedule_for_epochs

    assert schedule_defaults("step", epochs) == {"step_size": max(1, epochs // 3)}
    assert schedule_defaults("exponential", epochs) == {"gamma": 0.01 ** (1.0 / max(epochs, 1))}
    assert schedule_defaults("cosine", epochs) == {"t_max": max(epochs, 1)}
    for name in ("constant", "invscaling", "plateau", "adaptive"):
        assert schedule_defaults(name, epochs) == {}
    assert schedule_for_epochs("Step", epochs, gamma=0.5).state_dict() == {
        "step_size": max(1, epochs // 3),
        "gamma": 0.5,
    }
    instance = Constant()
    assert schedule_for_epochs(instance, epochs) is instance
    with pytest.raises(ValueError, match="Could not interpret schedule identifier: 'linear'"):
        schedule_for_epochs("linear", epochs)
