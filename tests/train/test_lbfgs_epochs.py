"""train/lbfgs.py: an L-BFGS fit's epoch hooks pair as in Keras, a begin for every end,
whether it stops at its epoch limit, converges, hits SciPy's evaluation limit or ends in a
failed line search."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.optimize import OptimizeResult

from deltaprop import Network, Trainer
from deltaprop.optim import LBFGS
from deltaprop.train import Callback


class Events(Callback):
    """Each epoch hook as ``("begin" | "end", epoch)``."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def on_epoch_begin(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.events.append(("begin", epoch))

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.events.append(("end", epoch))


def _fit(optimizer: Any, epochs: int) -> tuple[Trainer, list[tuple[str, int]]]:
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(30, 3)), rng.integers(0, 3, 30)
    rec = Events()
    t = Trainer(Network([3, 4, 3], "tanh", "ce", seed=0), optimizer, epochs=epochs,
                callbacks=[rec])  # fmt: skip
    t.fit(X, y)
    return t, rec.events


def _paired(n: int) -> list[tuple[str, int]]:
    return [(kind, e) for e in range(n) for kind in ("begin", "end")]


@pytest.mark.parametrize(
    ("optimizer", "epochs", "message"),
    [("lbfgs", 5, "ITERATIONS REACHED LIMIT"), ("lbfgs", 500, "CONVERGENCE"),
     (LBFGS(max_fun=3), 50, "EVALUATIONS EXCEEDS LIMIT")],
    ids=["epoch_limit", "converged", "max_fun"],
)  # fmt: skip
def test_each_epoch_begun_is_ended(optimizer: Any, epochs: int, message: str) -> None:
    t, events = _fit(optimizer, epochs)
    nit = int(t.lbfgs_result.nit)
    assert message in t.lbfgs_result.message.upper()
    assert events == _paired(nit) and len(t.history.loss) == t.epoch == nit > 2


def test_evaluations_after_the_last_iteration_are_an_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    """A line search that fails after two iterations: SciPy evaluated trial weights, then
    gave back the last iterate; that third epoch ends at it."""

    def failing(self: LBFGS, fun: Any, x0: np.ndarray, *, callback: Any = None) -> Any:
        x = x0.copy()
        for _ in range(2):
            f, g = fun(x)
            x = x - 0.1 * g
            f, _ = fun(x)
            callback(OptimizeResult(x=x, fun=f))
        fun(x - 100.0)  # the failed trial
        return OptimizeResult(x=x, fun=f, nit=2, status=2, message="ABNORMAL_TERMINATION_IN_LNSRCH")

    monkeypatch.setattr(LBFGS, "minimize", failing)
    t, events = _fit("lbfgs", 10)
    assert events == _paired(3)
    assert t.history.loss[2] == t.history.loss[1] == t.lbfgs_result.fun
    assert t.history.stop.message.startswith("stopped at epoch 3: L-BFGS ended after 2 iterations")


def test_the_same_bits_whatever_blas_threads_the_caller_allows() -> None:
    """An L-BFGS fit's products run on one BLAS thread: the bits of BLAS's threads depend
    on their count (on 2 cores the weights differed by 1e-14 from those on one, and a
    fit under joblib's thread limit from one outside it)."""
    import warnings

    from sklearn.datasets import make_classification
    from threadpoolctl import threadpool_limits

    from deltaprop import MLPClassifier

    X, y = make_classification(2000, 20, n_informative=10, n_classes=3, random_state=0)
    weights = []
    for limit in (1, 2, None):
        with threadpool_limits(limit), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lbfgs stops at max_iter on purpose
            m = MLPClassifier((64,), solver="lbfgs", max_iter=15, random_state=0).fit(X, y)
        weights.append(np.concatenate([a.ravel() for a in m.coefs_ + m.intercepts_]))
    assert all(np.array_equal(weights[0], w) for w in weights[1:])
