"""First-order optimizers that update one flat parameter buffer in place, and L-BFGS.

Every parameter of a network lives in one contiguous 1-D array ``params`` (float32 or
float64) and its gradient in one array ``grads`` of the same shape and dtype. An
:class:`Optimizer` updates ``params`` in place, in a single pass over the flat buffer, with
state arrays (momentum, moment estimates) aligned with it element for element. The update
rules reproduce :mod:`torch.optim` (``SGD``, ``RMSprop``, ``Adam``, ``AdamW``) formula for
formula and, as far as NumPy allows, operation for operation, so that float64 trajectories
agree with PyTorch's to round-off (PyTorch's CPU kernels fuse some multiply-adds, which
NumPy cannot; the difference after 20 steps is about 1e-13 relative).

The base class does the bookkeeping (argument checks, lazy allocation of the state, the
step counter ``t``, checkpoints); each subclass writes only its ``_update``. The learning
rate is a public attribute that a schedule may change between steps.

L-BFGS is not a step optimizer: it drives the whole minimisation through
:func:`scipy.optimize.minimize`, as scikit-learn's ``MLPClassifier(solver="lbfgs")`` does.
:func:`minimize_lbfgs` is the function; :class:`LBFGS` holds its settings so that the
registry can name it (``get_optimizer("lbfgs")``), and a trainer tells the two kinds apart
with ``isinstance(opt, LBFGS)``.

>>> import numpy as np
>>> from deltaprop.optim.optimizers import get_optimizer
>>> opt = get_optimizer("adam", learning_rate=0.1)
>>> params = np.array([1.0, -2.0])
>>> for _ in range(3):
...     opt.step(params, 2.0 * params)  # gradient of sum(params**2)
>>> opt.t, params.round(2).tolist()  # Adam moves each entry by about lr per step
(3, [0.7, -1.7])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal, overload

import numpy as np
import scipy
import scipy.optimize

from deltaprop.core import check_bool, check_int, check_real
from deltaprop.core import fused as _fused

__all__ = [
    "LBFGS",
    "OPTIMIZERS",
    "SGD",
    "Adam",
    "AdamW",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "RMSprop",
    "get_optimizer",
    "minimize_lbfgs",
]

StateDict = dict[str, np.ndarray | float | int | bool]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _lerp_(start: np.ndarray, end: np.ndarray, weight: float, tmp: np.ndarray) -> None:
    """``start <- start + weight * (end - start)``, in place, as ``torch.Tensor.lerp_``.

    PyTorch evaluates the interpolation from whichever end is nearer to ``weight`` (the two
    branches below); ``tmp`` is a scratch array of the same shape.
    """
    np.subtract(end, start, out=tmp)
    if abs(weight) < 0.5:
        tmp *= weight
        start += tmp
    else:
        tmp *= 1.0 - weight
        np.subtract(end, tmp, out=start)


# ----------------------------------------------------------------------------------------
# base class
# ----------------------------------------------------------------------------------------
class Optimizer:
    """Base class of the in-place first-order optimizers.

    Parameters
    ----------
    learning_rate : float, default=1e-3
        Step size, positive and finite. Public and mutable: a learning-rate schedule sets
        it between steps (any non-negative finite value is then accepted).

    Attributes
    ----------
    name : str
        Registry name of the class (``"sgd"``, ``"adam"``, ...).
    learning_rate : float
        Current step size.
    t : int
        Number of steps taken so far (``0`` before the first step).
    state : dict of str to ndarray
        State arrays, each of the shape and dtype of ``params``; empty until the first
        step. Which arrays exist depends on the hyper-parameters (see the subclasses).

    Notes
    -----
    Subclasses list their hyper-parameters (constructor arguments other than
    ``learning_rate``) in ``_hyperparams``, name the state arrays they need in
    ``_buffer_names`` and the scratch arrays in ``_scratch_names``, and implement
    ``_update``. Scratch arrays hold intermediate results inside one step; they are
    allocated once, are not part of the state and are not saved.
    """

    name: ClassVar[str] = ""
    _hyperparams: ClassVar[tuple[str, ...]] = ()

    def __init__(self, learning_rate: float = 1e-3) -> None:
        self.learning_rate: float = check_real(
            "learning_rate", learning_rate, low=0.0, low_open=True, what="a positive finite float"
        )
        self.t: int = 0
        self.state: dict[str, np.ndarray] = {}
        self._scratch: dict[str, np.ndarray] = {}
        self._layout: tuple[tuple[int, ...], np.dtype[Any]] | None = None

    # -- to be provided by subclasses ----------------------------------------------------
    def _buffer_names(self) -> tuple[str, ...]:
        """Names of the state arrays the current hyper-parameters need."""
        return ()

    def _scratch_names(self) -> tuple[str, ...]:
        """Names of the scratch arrays ``_update`` uses."""
        return ("tmp",)

    def _update(self, params: np.ndarray, grads: np.ndarray) -> None:
        """Update ``params`` in place; ``self.t`` already counts this step."""
        raise NotImplementedError

    # -- public interface ----------------------------------------------------------------
    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        """Take one optimisation step, updating ``params`` in place.

        Parameters
        ----------
        params : ndarray of shape (n_params,), float32 or float64
            Flat parameter buffer, writeable; modified in place.
        grads : ndarray of shape (n_params,), same dtype as ``params``
            Gradient of the loss with respect to ``params``; not modified.

        Raises
        ------
        ValueError
            If the arrays are not float32/float64 arrays of equal shape and dtype, if they
            do not match the state allocated on earlier steps (call :meth:`reset` to start
            over with other parameters), or if ``learning_rate`` was set to a negative or
            non-finite value.
        """
        if not isinstance(params, np.ndarray) or not isinstance(grads, np.ndarray):
            raise ValueError(
                "params and grads must be numpy arrays. Received: "
                f"params={type(params).__name__}, grads={type(grads).__name__}"
            )
        if params.dtype not in _FLOAT_DTYPES:
            raise ValueError(f"params must be float32 or float64. Received: dtype={params.dtype}")
        if grads.dtype != params.dtype or grads.shape != params.shape:
            raise ValueError(
                "grads must have the shape and dtype of params. Received: "
                f"params {params.shape} {params.dtype}, grads {grads.shape} {grads.dtype}"
            )
        if not params.flags.writeable:
            raise ValueError("params must be writeable: the optimizer updates it in place")
        if self._layout is not None and self._layout != (params.shape, params.dtype):
            shape, dtype = self._layout
            raise ValueError(
                f"params has shape {params.shape} and dtype {params.dtype}, but the optimizer "
                f"state was allocated for shape {shape} and dtype {dtype}; call reset() "
                "before optimizing other parameters"
            )
        check_real(
            "learning_rate",
            self.learning_rate,
            low=0.0,
            what="a non-negative finite float",
        )
        self._allocate(params.shape, params.dtype)
        self.t += 1
        self._update(params, grads)

    def reset(self) -> None:
        """Drop the state arrays and set the step counter back to 0."""
        self.t = 0
        self.state = {}
        self._scratch = {}
        self._layout = None

    def state_dict(self) -> StateDict:
        """Everything needed to resume the optimisation exactly.

        Returns
        -------
        dict
            ``"t"`` (int), ``"learning_rate"`` (float), the hyper-parameters (floats and
            bools, under their constructor names) and copies of the state arrays (each of
            shape (n_params,)). Values are numpy arrays or Python scalars only.
        """
        out: StateDict = {"t": self.t, "learning_rate": self.learning_rate}
        for key in self._hyperparams:
            out[key] = getattr(self, key)
        for key, arr in self.state.items():
            out[key] = arr.copy()
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore hyper-parameters, step counter and state arrays from :meth:`state_dict`.

        Parameters
        ----------
        state : mapping
            As returned by :meth:`state_dict` (possibly of another instance of the same
            class). Arrays are copied.

        Raises
        ------
        ValueError
            On missing or unexpected keys, invalid values, or state arrays that disagree
            in shape or dtype.
        """
        scalar_keys = {"t", "learning_rate", *self._hyperparams}
        missing = sorted(scalar_keys - set(state))
        if missing:
            raise ValueError(f"state is missing keys: {', '.join(missing)}")
        hyper = {key: state[key] for key in self._hyperparams}
        # The constructor validates the hyper-parameters.
        fresh = type(self)(learning_rate=state["learning_rate"], **hyper)
        buffers = fresh._buffer_names()
        unexpected = sorted(set(state) - scalar_keys - set(buffers))
        if unexpected:
            raise ValueError(f"state has unexpected keys: {', '.join(unexpected)}")
        t = check_int("t", state["t"], low=0, what="a non-negative int")
        arrays: dict[str, np.ndarray] = {}
        layout: tuple[tuple[int, ...], np.dtype[Any]] | None = None
        for key in buffers:
            if key not in state:
                continue
            arr = np.array(state[key], copy=True)
            if arr.dtype not in _FLOAT_DTYPES:
                raise ValueError(f"state array {key!r} must be float32 or float64")
            if layout is not None and layout != (arr.shape, arr.dtype):
                raise ValueError("state arrays disagree in shape or dtype")
            layout = (arr.shape, arr.dtype)
            arrays[key] = arr
        if t > 0 and len(arrays) != len(buffers):
            missing_arrays = sorted(set(buffers) - set(arrays))
            raise ValueError(f"state is missing arrays: {', '.join(missing_arrays)}")
        self.learning_rate = fresh.learning_rate
        for key in self._hyperparams:
            setattr(self, key, getattr(fresh, key))
        self.t = t
        self.state = arrays
        self._scratch = {}
        self._layout = layout

    def __repr__(self) -> str:
        args = ", ".join(
            f"{key}={getattr(self, key)!r}" for key in ("learning_rate", *self._hyperparams)
        )
        return f"{type(self).__name__}({args})"

    # -- internals -----------------------------------------------------------------------
    def _allocate(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
        for key in self._buffer_names():
            if key not in self.state:
                self.state[key] = np.zeros(shape, dtype=dtype)
        for key in self._scratch_names():
            if key not in self._scratch:
                self._scratch[key] = np.empty(shape, dtype=dtype)
        self._layout = (shape, dtype)


# ----------------------------------------------------------------------------------------
# SGD
# ----------------------------------------------------------------------------------------
class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum and weight decay.

    Same update as ``torch.optim.SGD`` with ``dampening=0``::

        g = grads + weight_decay * params
        buf = g                        (first step)
        buf = momentum * buf + g       (later steps)
        g = g + momentum * buf         (nesterov)  or  g = buf  (momentum > 0)
        params -= learning_rate * g

    Parameters
    ----------
    learning_rate : float, default=0.01
        Step size, positive.
    momentum : float, default=0.0
        Momentum factor in [0, 1).
    nesterov : bool, default=False
        Use Nesterov momentum (requires ``momentum > 0``).
    weight_decay : float, default=0.0
        L2 penalty coefficient (added to the gradient), non-negative.

    Notes
    -----
    State: ``"momentum_buffer"`` of shape (n_params,) when ``momentum > 0``.
    """

    name: ClassVar[str] = "sgd"
    _hyperparams: ClassVar[tuple[str, ...]] = ("momentum", "nesterov", "weight_decay")

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(learning_rate)
        self.momentum = check_real(
            "momentum", momentum, low=0.0, high=1.0, high_open=True, what="a float in [0, 1)"
        )
        self.nesterov = check_bool("nesterov", nesterov)
        if self.nesterov and self.momentum == 0.0:
            raise ValueError(
                "nesterov=True requires momentum > 0. "
                f"Received: nesterov={nesterov!r}, momentum={momentum!r}"
            )
        self.weight_decay = check_real(
            "weight_decay", weight_decay, low=0.0, what="a non-negative finite float"
        )

    def _buffer_names(self) -> tuple[str, ...]:
        return ("momentum_buffer",) if self.momentum != 0.0 else ()

    def _scratch_names(self) -> tuple[str, ...]:
        return ("tmp", "grad") if self.weight_decay != 0.0 else ("tmp",)

    def _update(self, params: np.ndarray, grads: np.ndarray) -> None:
        tmp = self._scratch["tmp"]
        g = grads
        if self.weight_decay != 0.0:
            g = self._scratch["grad"]
            np.multiply(params, self.weight_decay, out=g)
            g += grads
        if self.momentum != 0.0:
            buf = self.state["momentum_buffer"]
            if self.t == 1:
                np.copyto(buf, g)
            else:
                buf *= self.momentum
                buf += g
            if self.nesterov:
                np.multiply(buf, self.momentum, out=tmp)
                tmp += g
                g = tmp
            else:
                g = buf
        np.multiply(g, self.learning_rate, out=tmp)
        params -= tmp


class Momentum(SGD):
    """:class:`SGD` with ``momentum=0.9`` by default (registry name ``"momentum"``)."""

    name: ClassVar[str] = "momentum"

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.9,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(learning_rate, momentum, nesterov, weight_decay)


class Nesterov(SGD):
    """:class:`SGD` with ``momentum=0.9, nesterov=True`` by default (name ``"nesterov"``)."""

    name: ClassVar[str] = "nesterov"

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.9,
        nesterov: bool = True,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(learning_rate, momentum, nesterov, weight_decay)


# ----------------------------------------------------------------------------------------
# RMSprop
# ----------------------------------------------------------------------------------------
class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop`` (``alpha`` is called ``rho`` here).

    ::

        g = grads + weight_decay * params
        v = rho * v + (1 - rho) * g**2
        gbar = lerp(gbar, g, 1 - rho);  avg = sqrt(v - gbar**2)   (centered)
        avg = sqrt(v)                                             (otherwise)
        avg = avg + epsilon
        buf = momentum * buf + g / avg;  params -= learning_rate * buf   (momentum > 0)
        params -= learning_rate * g / avg                                (otherwise)

    Parameters
    ----------
    learning_rate : float, default=0.01
        Step size, positive.
    rho : float, default=0.99
        Decay of the running average of squared gradients, in [0, 1).
    epsilon : float, default=1e-8
        Added to the root mean square (after the square root), non-negative.
    momentum : float, default=0.0
        Momentum factor in [0, 1).
    centered : bool, default=False
        Normalise by the estimated variance of the gradient instead of its second moment.
    weight_decay : float, default=0.0
        L2 penalty coefficient (added to the gradient), non-negative.

    Notes
    -----
    State, each of shape (n_params,): ``"square_avg"``; ``"grad_avg"`` when centered;
    ``"momentum_buffer"`` when ``momentum > 0``.
    """

    name: ClassVar[str] = "rmsprop"
    _hyperparams: ClassVar[tuple[str, ...]] = (
        "rho",
        "epsilon",
        "momentum",
        "centered",
        "weight_decay",
    )

    def __init__(
        self,
        learning_rate: float = 0.01,
        rho: float = 0.99,
        epsilon: float = 1e-8,
        momentum: float = 0.0,
        centered: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(learning_rate)
        self.rho = check_real(
            "rho", rho, low=0.0, high=1.0, high_open=True, what="a float in [0, 1)"
        )
        self.epsilon = check_real("epsilon", epsilon, low=0.0, what="a non-negative finite float")
        self.momentum = check_real(
            "momentum", momentum, low=0.0, high=1.0, high_open=True, what="a float in [0, 1)"
        )
        self.centered = check_bool("centered", centered)
        self.weight_decay = check_real(
            "weight_decay", weight_decay, low=0.0, what="a non-negative finite float"
        )

    def _buffer_names(self) -> tuple[str, ...]:
        names = ["square_avg"]
        if self.centered:
            names.append("grad_avg")
        if self.momentum > 0.0:
            names.append("momentum_buffer")
        return tuple(names)

    def _scratch_names(self) -> tuple[str, ...]:
        return ("tmp", "grad")

    def _update(self, params: np.ndarray, grads: np.ndarray) -> None:
        tmp, gbuf = self._scratch["tmp"], self._scratch["grad"]
        g = grads
        if self.weight_decay != 0.0:
            g = gbuf
            np.multiply(params, self.weight_decay, out=g)
            g += grads
        square_avg = self.state["square_avg"]
        square_avg *= self.rho
        np.multiply(g, 1.0 - self.rho, out=tmp)
        tmp *= g
        square_avg += tmp
        avg = tmp
        if self.centered:
            grad_avg = self.state["grad_avg"]
            _lerp_(grad_avg, g, 1.0 - self.rho, tmp)
            np.multiply(grad_avg, grad_avg, out=avg)
            np.subtract(square_avg, avg, out=avg)
            np.sqrt(avg, out=avg)
        else:
            np.sqrt(square_avg, out=avg)
        avg += self.epsilon
        if self.momentum > 0.0:
            buf = self.state["momentum_buffer"]
            buf *= self.momentum
            np.divide(g, avg, out=avg)
            buf += avg
            np.multiply(buf, self.learning_rate, out=avg)
            params -= avg
        else:
            np.multiply(g, self.learning_rate, out=gbuf)
            gbuf /= avg
            params -= gbuf


# ----------------------------------------------------------------------------------------
# Adam / AdamW
# ----------------------------------------------------------------------------------------
class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` (L2 ``weight_decay`` added to the gradient).

    ::

        g = grads + weight_decay * params
        m = lerp(m, g, 1 - beta_1)
        v = beta_2 * v + (1 - beta_2) * g**2
        v_max = maximum(v_max, v);  v_used = v_max if amsgrad else v
        bias_correction1 = 1 - beta_1**t;  bias_correction2 = 1 - beta_2**t
        denom = sqrt(v_used) / sqrt(bias_correction2) + epsilon
        params -= (learning_rate / bias_correction1) * m / denom

    Parameters
    ----------
    learning_rate : float, default=1e-3
        Step size, positive.
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of the first and second moment estimates, in [0, 1).
    epsilon : float, default=1e-8
        Added to the bias-corrected root second moment, non-negative.
    weight_decay : float, default=0.0
        L2 penalty coefficient (added to the gradient), non-negative.
    amsgrad : bool, default=False
        Use the running maximum of the second moment (AMSGrad).

    Notes
    -----
    State, each of shape (n_params,): ``"exp_avg"``, ``"exp_avg_sq"`` and, with AMSGrad,
    ``"max_exp_avg_sq"``.
    """

    name: ClassVar[str] = "adam"
    _hyperparams: ClassVar[tuple[str, ...]] = (
        "beta_1",
        "beta_2",
        "epsilon",
        "weight_decay",
        "amsgrad",
    )
    _decoupled: ClassVar[bool] = False

    def __init__(
        self,
        learning_rate: float = 1e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(learning_rate)
        self.beta_1 = check_real(
            "beta_1", beta_1, low=0.0, high=1.0, high_open=True, what="a float in [0, 1)"
        )
        self.beta_2 = check_real(
            "beta_2", beta_2, low=0.0, high=1.0, high_open=True, what="a float in [0, 1)"
        )
        self.epsilon = check_real("epsilon", epsilon, low=0.0, what="a non-negative finite float")
        self.weight_decay = check_real(
            "weight_decay", weight_decay, low=0.0, what="a non-negative finite float"
        )
        self.amsgrad = check_bool("amsgrad", amsgrad)

    def _buffer_names(self) -> tuple[str, ...]:
        if self.amsgrad:
            return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
        return ("exp_avg", "exp_avg_sq")

    def _scratch_names(self) -> tuple[str, ...]:
        return ("tmp", "grad")

    def _update(self, params: np.ndarray, grads: np.ndarray) -> None:
        kernels = _fused.get(params.size)
        if kernels is not None and params.flags.c_contiguous and grads.flags.c_contiguous:
            self._fused_update(kernels, params, grads)
            return
        tmp, gbuf = self._scratch["tmp"], self._scratch["grad"]
        lr = self.learning_rate
        g = grads
        if self.weight_decay != 0.0:
            if self._decoupled:
                params *= 1.0 - lr * self.weight_decay
            else:
                g = gbuf
                np.multiply(params, self.weight_decay, out=g)
                g += grads
        exp_avg, exp_avg_sq = self.state["exp_avg"], self.state["exp_avg_sq"]
        _lerp_(exp_avg, g, 1.0 - self.beta_1, tmp)
        exp_avg_sq *= self.beta_2
        np.multiply(g, 1.0 - self.beta_2, out=tmp)
        tmp *= g
        exp_avg_sq += tmp

        step = float(self.t)
        bias_correction1 = 1.0 - self.beta_1**step
        bias_correction2 = 1.0 - self.beta_2**step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5

        second = exp_avg_sq
        if self.amsgrad:
            second = self.state["max_exp_avg_sq"]
            np.maximum(second, exp_avg_sq, out=second)
        denom = tmp
        np.sqrt(second, out=denom)
        denom /= bias_correction2_sqrt
        denom += self.epsilon
        # g is no longer needed: gbuf is free for the update itself.
        np.multiply(exp_avg, step_size, out=gbuf)
        gbuf /= denom
        params -= gbuf

    def _fused_update(self, kernels: Any, params: np.ndarray, grads: np.ndarray) -> None:
        """:meth:`_update` in one compiled pass: the same operations in the same order, each
        scalar cast to the dtype of ``params`` as NumPy casts it, so the same bits (save
        subnormal moments, flushed to zero: see ``deltaprop.core.kernels.adam``)."""
        lr, wd = self.learning_rate, self.weight_decay
        weight = 1.0 - self.beta_1  # _lerp_'s two branches
        lerp_small = abs(weight) < 0.5
        step = float(self.t)
        decoupled = self._decoupled and wd != 0.0
        state = self.state
        top = state["max_exp_avg_sq"] if self.amsgrad else state["exp_avg_sq"][:0]
        kernels.adam(
            params, grads, state["exp_avg"], state["exp_avg_sq"], top, self.amsgrad,
            1.0 - lr * wd if decoupled else 1.0, wd,
            weight if lerp_small else 1.0 - weight, lerp_small, self.beta_2,
            1.0 - self.beta_2, (1.0 - self.beta_2**step) ** 0.5, self.epsilon,
            lr / (1.0 - self.beta_1**step), wd != 0.0 and not self._decoupled,
            float(np.finfo(params.dtype).tiny),
        )  # fmt: skip


class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW``: decoupled weight decay, then the Adam step.

    ``params *= 1 - learning_rate * weight_decay`` first; the gradient is not modified.
    Parameters, state and defaults are those of :class:`Adam` except
    ``weight_decay=0.01``.
    """

    name: ClassVar[str] = "adamw"
    _decoupled: ClassVar[bool] = True

    def __init__(
        self,
        learning_rate: float = 1e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float = 0.01,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay, amsgrad)


# ----------------------------------------------------------------------------------------
# L-BFGS
# ----------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------
OPTIMIZERS: dict[str, type[Optimizer] | type[LBFGS]] = {
    cls.name: cls for cls in (SGD, Momentum, Nesterov, RMSprop, Adam, AdamW, LBFGS)
}


@overload
def get_optimizer(
    name_or_instance: Literal["lbfgs"] | LBFGS | type[LBFGS], **kwargs: Any
) -> LBFGS: ...
@overload
def get_optimizer(name_or_instance: Optimizer | type[Optimizer], **kwargs: Any) -> Optimizer: ...
@overload
def get_optimizer(name_or_instance: str, **kwargs: Any) -> Optimizer | LBFGS: ...
def get_optimizer(name_or_instance: Any, **kwargs: Any) -> Optimizer | LBFGS:
    """Return an optimizer from a registry name, a class, or an instance.

    Parameters
    ----------
    name_or_instance : str, Optimizer or LBFGS instance, or one of their classes
        A name in :data:`OPTIMIZERS` (case-insensitive), an instance (returned unchanged)
        or a class (instantiated with ``kwargs``).
    **kwargs
        Constructor arguments (only with a name or a class).

    Returns
    -------
    Optimizer or LBFGS

    Raises
    ------
    ValueError
        For an unknown identifier (the message lists the valid names), or keyword
        arguments given with an instance.

    Examples
    --------
    >>> get_optimizer("nesterov", learning_rate=0.1)
    Nesterov(learning_rate=0.1, momentum=0.9, nesterov=True, weight_decay=0.0)
    >>> get_optimizer("lbfgs").max_fun
    15000
    """
    if isinstance(name_or_instance, Optimizer | LBFGS):
        if kwargs:
            raise ValueError(
                "keyword arguments cannot be applied to an optimizer instance. Received: "
                f"{sorted(kwargs)}"
            )
        return name_or_instance
    if isinstance(name_or_instance, type) and issubclass(name_or_instance, Optimizer | LBFGS):
        return name_or_instance(**kwargs)
    if isinstance(name_or_instance, str) and name_or_instance.lower() in OPTIMIZERS:
        return OPTIMIZERS[name_or_instance.lower()](**kwargs)
    raise ValueError(
        f"Could not interpret optimizer identifier: {name_or_instance!r}. "
        f"Valid names: {', '.join(sorted(OPTIMIZERS))}"
    )
