"""The bookkeeping every first-order optimizer shares (tinygrad's ``step`` / ``_step``).

:class:`Optimizer` checks the arrays, allocates the state lazily (arrays aligned with the
flat parameter buffer element for element), counts the steps in ``t``, saves and restores
checkpoints; a subclass (:mod:`deltaprop.optim.first_order`) writes only its ``_update``.
:func:`check_learning_rate` is the one check of a learning rate in the package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from deltaprop.core import check_int, check_real

__all__ = ["STYLES", "Optimizer", "StateDict", "check_learning_rate", "check_style"]

StateDict = dict[str, np.ndarray | float | int | bool | str]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

STYLES = ("torch", "keras")
"""The update forms of SGD and Adam: ``"torch"`` (``torch.optim``'s) and ``"keras"``
(Keras's and scikit-learn's, whose ``"sklearn"`` is an alias: :func:`check_style`)."""


def check_style(value: Any) -> str:
    """Return an optimizer ``style`` (one of :data:`STYLES`; ``"sklearn"`` reads as
    ``"keras"``, the form scikit-learn's ``SGDOptimizer`` and ``AdamOptimizer`` share).

    >>> check_style("sklearn")
    'keras'
    >>> check_style("tf")
    Traceback (most recent call last):
    ...
    ValueError: style must be one of 'torch', 'keras' (or 'sklearn', the same as 'keras'). Received: style='tf'

    Raises
    ------
    ValueError
        Naming the value received and the valid ones.
    """
    if isinstance(value, str) and value in (*STYLES, "sklearn"):
        return "keras" if value == "sklearn" else value
    raise ValueError(
        "style must be one of 'torch', 'keras' (or 'sklearn', the same as 'keras'). "
        f"Received: style={value!r}"
    )


def check_learning_rate(
    value: Any, *, allow_zero: bool = False, name: str = "learning_rate"
) -> float:
    """Return a learning rate as a float after checking it is finite and positive
    (``allow_zero``: non-negative, as a schedule may set it between steps).

    >>> check_learning_rate(0.1)
    0.1
    >>> check_learning_rate(0)
    Traceback (most recent call last):
    ...
    ValueError: learning_rate must be a positive finite number. Received: learning_rate=0
    >>> check_learning_rate(0, allow_zero=True)
    0.0

    Raises
    ------
    ValueError
        Naming the value received.
    """
    if allow_zero:
        return check_real(name, value, low=0.0, what="a non-negative finite number")
    return check_real(name, value, low=0.0, low_open=True, what="a positive finite number")


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
    _hyperparam_defaults: ClassVar[Mapping[str, Any]] = {}
    """Values of hyper-parameters added after checkpoints were written without them: what
    such a checkpoint meant (``style="torch"``)."""

    def __init__(self, learning_rate: float = 1e-3) -> None:
        self.learning_rate: float = check_learning_rate(learning_rate)
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
        check_learning_rate(self.learning_rate, allow_zero=True)
        self._allocate(params.shape, params.dtype)
        self.begin_step()
        self._update(params, grads)

    def begin_step(self) -> int:
        """Count one more step (``t += 1``) and return its number: the update of step
        ``t`` uses it (Adam's bias corrections, SGD's first momentum step)."""
        self.t += 1
        return self.t

    def advance(self, steps: int) -> None:
        """Count ``steps`` steps that were taken elsewhere on the allocated state (the
        compiled training loop applies this optimizer's update itself).

        Raises
        ------
        ValueError
            For a negative ``steps``, or before :meth:`allocate`.
        """
        steps = check_int("steps", steps, low=0, what="a non-negative int")
        if steps and self._layout is None:
            raise ValueError("advance() needs the state: call allocate(params) first")
        self.t += steps

    def allocate(self, params: np.ndarray) -> None:
        """Allocate the state arrays for ``params`` (shape (n_params,), float32 or
        float64) now rather than on the first :meth:`step`; existing state is kept.

        Raises
        ------
        ValueError
            For arrays the state was not allocated for (call :meth:`reset` first).
        """
        if self._layout is not None and self._layout != (params.shape, params.dtype):
            shape, dtype = self._layout
            raise ValueError(
                f"params has shape {params.shape} and dtype {params.dtype}, but the optimizer "
                f"state was allocated for shape {shape} and dtype {dtype}; call reset() "
                "before optimizing other parameters"
            )
        self._allocate(params.shape, params.dtype)

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
            ``"t"`` (int), ``"learning_rate"`` (float), the hyper-parameters (floats,
            bools and strings, under their constructor names) and copies of the state arrays (each of
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
            class). Arrays are copied. A hyper-parameter added since a checkpoint was
            written takes the value that checkpoint meant (an optimizer saved without
            ``style`` is ``style="torch"``).

        Raises
        ------
        ValueError
            On missing or unexpected keys, invalid values, or state arrays that disagree
            in shape or dtype.
        """
        state = {**self._hyperparam_defaults, **state}
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
