"""train/lbfgs.py: every L-BFGS fit's stop record says how SciPy's minimizer ended."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import OptimizeResult

from deltaprop.core import Network
from deltaprop.optim import LBFGS
from deltaprop.train import Trainer
from deltaprop.train.lbfgs import lbfgs_stop


def _problem() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    Y = np.eye(2)[(X[:, 0] + 0.5 * rng.normal(size=60) > 0).astype(int)]
    return X, Y


def _fit(epochs: int) -> Trainer:
    X, Y = _problem()
    net = Network([3, 2], ["softmax"], loss="cross_entropy", seed=0)
    trainer = Trainer(net, "lbfgs", epochs=epochs, alpha=1.0)
    trainer.fit(X, Y)
    return trainer


def test_a_converged_fit_says_so_with_its_iterations() -> None:
    trainer = _fit(500)
    stop, nit = trainer.history.stop, int(trainer.lbfgs_result.nit)
    assert trainer.lbfgs_result.status == 0 and nit < 500
    assert stop.reason == "converged" and stop.count == nit == stop.epoch
    assert stop.message == (
        f"stopped at epoch {nit}: L-BFGS converged after {nit} iterations "
        "(the projected gradient fell below tol=0.0001)"
    )


def test_a_fit_at_its_iteration_limit_names_the_limit() -> None:
    stop = _fit(3).history.stop
    assert (stop.reason, stop.epoch, stop.limit) == ("epochs", 3, 3)
    assert stop.message == "stopped at epoch 3: reached the epoch limit (epochs=3)"


@pytest.mark.parametrize(
    ("status", "message", "reason", "text"),
    [
        (0, "CONVERGENCE: RELATIVE REDUCTION OF F <= FACTR*EPSMCH", "converged",
         "L-BFGS converged after 7 iterations (the relative reduction of the loss fell "
         "below SciPy's ftol)"),
        (1, "STOP: TOTAL NO. OF F,G EVALUATIONS EXCEEDS LIMIT", "solver",
         "L-BFGS ended after 7 iterations before converging (stop: total no. of f,g "
         "evaluations exceeds limit)"),
        (2, "ABNORMAL_TERMINATION_IN_LNSRCH", "solver",
         "L-BFGS ended after 7 iterations before converging (abnormal_termination_in_lnsrch)"),
    ],
)  # fmt: skip
def test_each_end_of_scipy_has_its_record(
    status: int, message: str, reason: str, text: str
) -> None:
    result = OptimizeResult(status=status, message=message, nit=7)
    stop = lbfgs_stop(result, 7, 0, LBFGS(max_iter=100))
    assert stop.reason == reason
    assert stop.message == f"stopped at epoch 7: {text}"
