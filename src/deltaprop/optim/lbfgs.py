"""L-BFGS: not a step optimizer, it drives the whole minimisation through SciPy.

:func:`minimize_lbfgs` runs :func:`scipy.optimize.minimize` (L-BFGS-B), as
scikit-learn's ``MLPClassifier(solver="lbfgs")`` does; :class:`LBFGS` holds its settings so
that the registry can name it (``get_optimizer("lbfgs")``), and a trainer tells the two
kinds apart with ``isinstance(opt, LBFGS)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy

from deltaprop.core import check_int, check_real
from deltaprop.optim.base import StateDict

if TYPE_CHECKING:
    import scipy.optimize

__all__ = ["LBFGS", "minimize_lbfgs"]


def _scipy_before_1_15() -> bool:
    major, minor = (int(part) for part in scipy.__version__.split(".")[:2])
    return (major, minor) < (1, 15)


def minimize_lbfgs(
    fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    *,
    max_iter: int,
    max_fun: int,
    tol: float,
    callback: Callable[..., Any] | None = None,
) -> scipy.optimize.OptimizeResult:
    """Minimise ``fun`` with SciPy's L-BFGS-B, in float64, as scikit-learn's MLP does.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> (loss, grad)`` with ``x`` and ``grad`` of shape (n_params,); ``x`` is
        float64 (copy it into a float32 buffer if the model computes in float32). ``grad``
        is converted to float64.
    x0 : ndarray of shape (n_params,)
        Starting point; not modified (the optimum is ``result.x``, which the caller copies
        back into its flat buffer).
    max_iter : int
        Maximum number of iterations (``options["maxiter"]``), positive.
    max_fun : int
        Maximum number of function evaluations (``options["maxfun"]``), positive.
    tol : float
        Projected-gradient tolerance (``options["gtol"]``), non-negative.
    callback : callable, optional
        Passed to :func:`scipy.optimize.minimize` unchanged.

    Returns
    -------
    scipy.optimize.OptimizeResult
        With ``x`` (float64, shape (n_params,)), ``fun``, ``jac``, ``nit``, ``nfev``,
        ``success``, ``status`` and ``message``. Non-convergence is reported there, not
        raised or warned about.
    """
    max_iter = check_int("max_iter", max_iter, low=1, what="a positive int")
    max_fun = check_int("max_fun", max_fun, low=1, what="a positive int")
    tol = check_real("tol", tol, low=0.0, what="a non-negative finite float")
    x = np.array(x0, dtype=np.float64, copy=True)
    if x.ndim != 1:
        raise ValueError(f"x0 must be 1-D. Received: x0 with shape {x.shape}")

    def wrapped(xk: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grad = fun(xk)
        return float(loss), np.asarray(grad, dtype=np.float64)

    import scipy.optimize  # on first use: 0.3 s of every start-up otherwise

    options: dict[str, Any] = {"maxfun": max_fun, "maxiter": max_iter, "gtol": tol}
    if _scipy_before_1_15():  # pragma: no cover - iprint is deprecated from SciPy 1.15
        options["iprint"] = -1
    return scipy.optimize.minimize(
        wrapped, x, method="L-BFGS-B", jac=True, options=options, callback=callback
    )


class LBFGS:
    """Settings for :func:`minimize_lbfgs`; the registry entry ``"lbfgs"``.

    Not a step optimizer: L-BFGS needs the full-batch loss and gradient and runs the whole
    minimisation at once. A trainer checks ``isinstance(opt, LBFGS)`` and calls
    :meth:`minimize` instead of looping over :meth:`Optimizer.step`.

    Parameters
    ----------
    max_iter : int, default=200
        Maximum number of L-BFGS iterations, positive.
    max_fun : int, default=15000
        Maximum number of loss/gradient evaluations, positive.
    tol : float, default=1e-4
        Projected-gradient tolerance, non-negative.
    """

    name: ClassVar[str] = "lbfgs"
    _hyperparams: ClassVar[tuple[str, ...]] = ("max_iter", "max_fun", "tol")

    def __init__(self, max_iter: int = 200, max_fun: int = 15000, tol: float = 1e-4) -> None:
        self.max_iter = check_int("max_iter", max_iter, low=1, what="a positive int")
        self.max_fun = check_int("max_fun", max_fun, low=1, what="a positive int")
        self.tol = check_real("tol", tol, low=0.0, what="a non-negative finite float")

    def minimize(
        self,
        fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
        x0: np.ndarray,
        *,
        callback: Callable[..., Any] | None = None,
    ) -> scipy.optimize.OptimizeResult:
        """Run :func:`minimize_lbfgs` with these settings (see there)."""
        return minimize_lbfgs(
            fun, x0, max_iter=self.max_iter, max_fun=self.max_fun, tol=self.tol, callback=callback
        )

    def state_dict(self) -> StateDict:
        """The settings (``max_iter``, ``max_fun``, ``tol``); L-BFGS keeps no state."""
        return {key: getattr(self, key) for key in self._hyperparams}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the settings from :meth:`state_dict`."""
        unexpected = sorted(set(state) - set(self._hyperparams))
        if unexpected:
            raise ValueError(f"state has unexpected keys: {', '.join(unexpected)}")
        fresh = LBFGS(**{key: state[key] for key in self._hyperparams if key in state})
        for key in self._hyperparams:
            setattr(self, key, getattr(fresh, key))

    def __repr__(self) -> str:
        return f"LBFGS(max_iter={self.max_iter}, max_fun={self.max_fun}, tol={self.tol!r})"
