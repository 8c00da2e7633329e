"""``style="keras"`` of SGD and Adam/AdamW (deltaprop.optim.first_order, deltaprop.optim.adam)
against scikit-learn's own ``SGDOptimizer`` and ``AdamOptimizer``, step for step; the
estimators built on them against scikit-learn's ``MLPClassifier`` and ``MLPRegressor``."""

from __future__ import annotations

import itertools
import json
import warnings
from typing import Any

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

from deltaprop.core import fused as _fused
from deltaprop.optim import SGD, Adam, AdamW, Momentum, Nesterov
from deltaprop.sklearn import MLPClassifier, MLPRegressor


def _gradients(n: int, steps: int, seed: int = 0) -> list[np.ndarray]:
    """Gradients over 12 decades, so that Adam's ``epsilon`` matters for some entries."""
    rng = np.random.default_rng(seed)
    return [rng.normal(size=n) * 10.0 ** rng.integers(-11, 1, n) for _ in range(steps)]


@pytest.mark.parametrize("nesterov", [False, True])
def test_keras_sgd_is_sklearn_s_sgd_optimizer_with_a_changing_rate(nesterov: bool) -> None:
    rng = np.random.default_rng(1)
    p0 = rng.normal(size=200)
    ours, theirs = p0.copy(), [p0.copy()]
    opt = SGD(0.1, momentum=0.9, nesterov=nesterov, style="keras")
    ref = SGDOptimizer(theirs, 0.1, "invscaling", momentum=0.9, nesterov=nesterov, power_t=0.5)
    torch_style, torch_opt = p0.copy(), SGD(0.1, momentum=0.9, nesterov=nesterov)
    for step, g in enumerate(_gradients(200, 12, seed=2)):
        opt.step(ours, g)
        torch_opt.step(torch_style, g)
        ref.update_params(theirs, [g])
        ref.iteration_ends((step + 1) * 50)  # as MLPClassifier after a batch of 50 rows
        opt.learning_rate = torch_opt.learning_rate = ref.learning_rate
    np.testing.assert_allclose(ours, theirs[0], rtol=1e-12, atol=0)
    np.testing.assert_allclose(opt.state["momentum_buffer"], ref.velocities[0], rtol=1e-12)
    # the torch form is another trajectory once the rate changes
    assert np.max(np.abs(torch_style - theirs[0])) > 1e-3


def test_keras_sgd_without_momentum_is_the_torch_step() -> None:
    a, b = np.linspace(-1.0, 1.0, 7), np.linspace(-1.0, 1.0, 7)
    keras, torch = SGD(0.3, weight_decay=0.1, style="keras"), SGD(0.3, weight_decay=0.1)
    for g in _gradients(7, 4):
        keras.step(a, g)
        torch.step(b, g)
    np.testing.assert_array_equal(a, b)
    assert keras.state == {}


@pytest.mark.parametrize("fused", [False, True], ids=["numpy", "compiled kernel"])
def test_keras_adam_is_sklearn_s_adam_optimizer(
    fused: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_fused, "MIN_SIZE", 0 if fused else 10**9)
    assert (_fused.get(300) is not None) == fused or not _fused.enabled()
    rng = np.random.default_rng(3)
    p0 = rng.normal(size=300)
    ours, theirs, torch_style = p0.copy(), [p0.copy()], p0.copy()
    opt, torch_opt = Adam(0.01, epsilon=1e-8, style="keras"), Adam(0.01, epsilon=1e-8)
    ref = AdamOptimizer(theirs, 0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    for g in _gradients(300, 15, seed=4):
        opt.step(ours, g)
        torch_opt.step(torch_style, g)
        ref.update_params(theirs, [g])
    np.testing.assert_allclose(ours, theirs[0], rtol=1e-12, atol=0)
    np.testing.assert_allclose(opt.state["exp_avg"], ref.ms[0], rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(opt.state["exp_avg_sq"], ref.vs[0], rtol=1e-12, atol=1e-300)
    assert opt.learning_rate == 0.01  # the base rate; scikit-learn overwrites its own
    assert np.max(np.abs(torch_style - theirs[0])) > 1e-4  # epsilon placed elsewhere


def test_keras_adamw_decays_with_the_base_rate_then_takes_keras_s_adam_step() -> None:
    """Keras's ``AdamW``: ``p - p * wd * lr`` before the update, then its Adam step."""
    lr, wd, b1, b2, eps = 0.01, 0.1, 0.8, 0.99, 1e-3
    p = np.linspace(-2.0, 2.0, 11)
    ref, m, v = p.copy(), np.zeros(11), np.zeros(11)
    opt = AdamW(lr, beta_1=b1, beta_2=b2, epsilon=eps, weight_decay=wd, style="keras")
    for t, g in enumerate(_gradients(11, 6, seed=5), start=1):
        opt.step(p, g)
        ref = ref - ref * wd * lr
        m, v = m + (g - m) * (1 - b1), v + (g * g - v) * (1 - b2)
        ref = ref - m * (lr * np.sqrt(1 - b2**t) / (1 - b1**t)) / (np.sqrt(v) + eps)
    np.testing.assert_allclose(p, ref, rtol=1e-13)


@pytest.mark.parametrize("cls", [SGD, Momentum, Nesterov, Adam, AdamW])
def test_style_is_checked_aliased_and_kept_by_a_checkpoint(cls: Any) -> None:
    with pytest.raises(ValueError, match=r"style must be one of 'torch', 'keras'.*style='tf'"):
        cls(style="tf")
    opt = cls(0.1, style="sklearn")
    assert opt.style == "keras" and cls().style == "torch"
    p = np.linspace(-1.0, 1.0, 5)
    opt.step(p, p.copy())
    state = opt.state_dict()
    assert state["style"] == "keras"
    scalars = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    resumed = cls(0.1)
    resumed.load_state_dict({**state, **json.loads(json.dumps(scalars))})
    assert resumed.style == "keras"
    a, b = p.copy(), p.copy()
    opt.step(a, p)
    resumed.step(b, p)
    np.testing.assert_array_equal(a, b)
    # a checkpoint written before the style existed was the torch form
    old = {k: v for k, v in state.items() if k != "style"}
    keras = cls(0.1, style="keras")
    keras.load_state_dict(old)
    assert keras.style == "torch"


# ---------------------------------------------------------------------- the estimators


def _data(n: int = 90, d: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int) + (X[:, 3] > 0.8)
    return X, y


def _sklearn_start(est: Any, layer_units: list[int]) -> tuple[list[Any], list[Any]]:
    """scikit-learn's initial weights for ``est`` (its ``_init_coef``, from the generator
    ``fit`` seeds with ``random_state``, layer after layer)."""
    est._random_state = np.random.RandomState(est.random_state)
    pairs = [est._init_coef(a, b, np.float64) for a, b in itertools.pairwise(layer_units)]
    return [c for c, _ in pairs], [b for _, b in pairs]


SETTINGS = [
    {"solver": "sgd", "learning_rate": "invscaling", "momentum": 0.9,
     "learning_rate_init": 0.2},
    {"solver": "sgd", "learning_rate": "invscaling", "momentum": 0.9,
     "nesterovs_momentum": False, "learning_rate_init": 0.2},
    {"solver": "sgd", "learning_rate": "adaptive", "momentum": 0.9, "learning_rate_init": 0.2,
     "n_iter_no_change": 1, "tol": 0.05},  # the rate divided by 5 during the fit
    {"solver": "adam", "learning_rate_init": 0.01, "epsilon": 1e-3},
]  # fmt: skip


@pytest.mark.parametrize("regression", [False, True], ids=["classifier", "regressor"])
@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(map(str, s.values())))
def test_estimator_follows_scikit_learn_step_for_step(
    settings: dict[str, Any], regression: bool
) -> None:
    X, y = _data()
    target: Any = X[:, :2] @ np.array([1.0, -0.5]) + 0.3 * X[:, 2] ** 2 if regression else y
    kw = {"hidden_layer_sizes": (7,), "activation": "tanh", "shuffle": False,
          "batch_size": 30, "max_iter": 8, "tol": 0.0, "random_state": 0, **settings}  # fmt: skip
    theirs = (SkRegressor if regression else SkClassifier)(**kw)
    ours = (MLPRegressor if regression else MLPClassifier)(dtype="float64", **kw)
    units = [X.shape[1], 7, 1 if regression else 3]
    ours.coefs_, ours.intercepts_ = _sklearn_start(theirs, units)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, target)
        ours.fit(X, target)
    assert len(ours.loss_curve_) == len(theirs.loss_curve_) == 8
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-10)
    if settings["solver"] == "sgd":  # scikit-learn's Adam keeps its lr_t there, not the rate
        assert ours._optimizer.learning_rate == pytest.approx(theirs._optimizer.learning_rate)
        assert (ours._optimizer.learning_rate < 0.2) == (settings["learning_rate"] != "constant")
    for a, b in zip(ours.coefs_, theirs.coefs_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("solver", ["sgd", "adam", "adamw"])
def test_the_estimators_optimizer_style_picks_the_rule(solver: str) -> None:
    from sklearn.utils._param_validation import InvalidParameterError

    X, y = _data()
    for style in ("keras", "torch"):
        est = MLPClassifier(hidden_layer_sizes=(4,), solver=solver, max_iter=2,
                            optimizer_style=style, random_state=0)  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        assert est._optimizer.style == style
    with pytest.raises(InvalidParameterError, match="optimizer_style"):
        MLPClassifier(optimizer_style="sklearn").fit(X, y)
