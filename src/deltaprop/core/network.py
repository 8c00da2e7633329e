"""The network: forward over the layers, backward in reverse, one flat parameter buffer.

All parameters live in one contiguous 1-D array, ``Network.parameters``; each ``W[l]`` and
``b[l]`` is a view into it, and the gradients likewise live in ``Network.grad``. An
optimizer step is then one pass over one array, an MPI allreduce one call, a gradient check
and a model file simple.

The output error starts the backward pass: for the canonical pairs (sigmoid + binary
cross-entropy, softmax + categorical cross-entropy, identity + squared error) the seeds'
``dZ[L] = A[L] - Y``; for every other pair the chain rule ``dZ[L] = g'(Z[L]) ⊙ ∂L/∂A[L]``.

>>> import numpy as np
>>> from deltaprop import Network
>>> net = Network([2, 3, 1], activations=["tanh", "sigmoid"], loss="binary_crossentropy", seed=0)
>>> [W.shape for W in net.weights]
[(3, 2), (1, 3)]
>>> net.forward(np.zeros((4, 2))).shape
(4, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from deltaprop.core import fused as _fused
from deltaprop.core.activations import Activation
from deltaprop.core.backend import Backend, get_backend
from deltaprop.core.buffers import allocate_flat, assign_flat, check_buffer_names
from deltaprop.core.evaluation import evaluate
from deltaprop.core.initializers import default_initializer, get_initializer
from deltaprop.core.inputs import (
    as_generator,
    check_dtype,
    check_hidden_options,
    check_layer_sizes,
    check_sample_weight,
    check_X,
    check_Y,
    resolve_activations,
)  # fmt: skip
from deltaprop.core.layers import BatchNorm, Dense, Dropout, Layer
from deltaprop.core.losses import Loss, get_loss
from deltaprop.core.summary import Summary, summary
from deltaprop.core.workspace import Workspace

__all__ = ["Network"]

Array = Any


class Network:
    """A fully connected network trained by explicit backpropagation.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[n_0, n_1, ..., n_L]``: input width, hidden widths, output width (``L ≥ 1``).
    activations : str, Activation, or sequence of them, default="relu"
        One per layer (``L`` entries), or ``[hidden, output]`` (two entries, ``L > 2``), or a
        single one for the hidden layers, the output then taking the loss's natural
        activation (sigmoid for binary cross-entropy, softmax for categorical
        cross-entropy, exp for Poisson, identity otherwise).
    loss : str, Loss, or dict, default="binary_crossentropy"
        See :func:`deltaprop.core.losses.get_loss`.
    init : str or sequence of str, default="auto"
        Weight initializer per layer (:mod:`deltaprop.core.initializers`); ``"auto"`` picks He for
        ReLU-like activations and Glorot uniform otherwise. Biases start at zero.
    seed : int, numpy.random.Generator or None, default=None
        Source of the initial weights and dropout masks. The same integer seed gives
        bit-identical weights.
    dtype : {"float32", "float64"}, default="float64"
        Kept by every array the network makes; inputs are cast to it.
    dropout : float or sequence of float, default=0.0
        Inverted-dropout rate after each hidden layer (active only in training).
    batch_norm : bool or sequence of bool, default=False
        Batch normalization before the activation of each hidden layer.
    backend : str or Backend, default="numpy"
        The array module (:mod:`deltaprop.core.backend`).

    Attributes
    ----------
    parameters : ndarray of shape (n_params,)
        The flat parameter buffer: for each layer ``W`` (row-major), ``b``, then batch-norm
        ``γ``, ``β`` where present.
    grad : ndarray of shape (n_params,)
        The flat gradient buffer, laid out like ``parameters``.
    weights, biases : list of ndarray
        ``W[l]`` of shape ``(n_l, n_{l-1})`` and ``b[l]`` of shape ``(n_l,)``: views.
    layers : list of Layer
        The chain: ``Dense`` layers, with ``Dropout`` after hidden ones where asked.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activations: str | Activation | Sequence[str | Activation] = "relu",
        loss: str | Loss | dict[str, Any] = "binary_crossentropy",
        init: str | Sequence[str] = "auto",
        seed: int | np.random.Generator | None = None,
        dtype: Any = "float64",
        dropout: float | Sequence[float] = 0.0,
        batch_norm: bool | Sequence[bool] = False,
        backend: str | Backend = "numpy",
    ) -> None:
        self.backend = get_backend(backend)
        self.dtype = check_dtype(dtype)
        sizes = check_layer_sizes(layer_sizes)
        self.layer_sizes = sizes
        L = len(sizes) - 1
        self.loss = get_loss(loss, self.backend)
        self.activations = resolve_activations(activations, L, self.loss, self.backend)
        self.dropout_rates, self.batch_norms = check_hidden_options(dropout, batch_norm, L - 1)
        inits = [init] * L if isinstance(init, str) else list(init)
        if len(inits) != L:
            raise ValueError(
                f"init must be one name or one per layer ({L}). Received: init={init!r}"
            )
        self.init = [
            default_initializer(a.name) if i == "auto" else i
            for i, a in zip(inits, self.activations, strict=True)
        ]
        initializers = [get_initializer(i) for i in self.init]

        self.rng = as_generator(seed)
        self.dense: list[Dense] = []
        self.layers: list[Layer] = []
        for l in range(1, L + 1):
            bn = BatchNorm(sizes[l]) if l < L and self.batch_norms[l - 1] else None
            layer = Dense(sizes[l - 1], sizes[l], self.activations[l - 1], bn)
            self.dense.append(layer)
            self.layers.append(layer)
            if l < L and self.dropout_rates[l - 1] > 0:
                self.layers.append(Dropout(self.dropout_rates[l - 1], self.rng))
        self.dense[0].needs_input_grad = False

        n_params = sum(layer.n_params for layer in self.dense)
        self._parameters, self.grad = allocate_flat(n_params, self.dtype, self.xp, sizes)
        self.slices: list[slice] = []
        offset = 0
        for layer, initializer in zip(self.dense, initializers, strict=True):
            sl = slice(offset, offset + layer.n_params)
            layer.bind(self.parameters[sl], self.grad[sl])
            layer.W[...] = self.xp.asarray(initializer(self.rng, layer.W.shape), dtype=self.dtype)
            if layer.batch_norm is not None:
                layer.batch_norm.init_buffers(self.xp, self.dtype)
            self.slices.append(sl)
            offset += layer.n_params
        self._workspaces: dict[int, Workspace] = {}
        self._loss_out = _fused.accepts_out(self.loss.value_from_logits)

    # ------------------------------------------------------------------ views
    @property
    def xp(self) -> Any:
        """The array module (``numpy``): read through the backend, so networks pickle."""
        return self.backend.xp

    @property
    def n_layers(self) -> int:
        """``L``, the number of weight layers."""
        return len(self.dense)

    @property
    def parameters(self) -> Array:
        """The flat buffer, shape ``(n_params,)``; assigning copies into it (views stay)."""
        return self._parameters

    @parameters.setter
    def parameters(self, value: Any) -> None:
        assign_flat(self._parameters, value, self.xp)

    @property
    def n_params(self) -> int:
        """Number of scalar parameters (the length of the flat buffer)."""
        return int(self.parameters.shape[0])

    @property
    def weights(self) -> list[Array]:
        """``[W[1], ..., W[L]]``, views into :attr:`parameters`."""
        return [layer.W for layer in self.dense]

    @property
    def biases(self) -> list[Array]:
        """``[b[1], ..., b[L]]``, views into :attr:`parameters`."""
        return [layer.b for layer in self.dense]

    def named_parameters(self) -> list[tuple[str, Array]]:
        """``("W[1]", W[1]), ("b[1]", b[1]), ...`` including batch-norm ``γ``, ``β``."""
        out = []
        for l, layer in enumerate(self.dense, start=1):
            out += [(f"W[{l}]", layer.W), (f"b[{l}]", layer.b)]
            if layer.batch_norm is not None:
                bn = layer.batch_norm.params
                out += [(f"gamma[{l}]", bn["gamma"]), (f"beta[{l}]", bn["beta"])]
        return out

    def named_gradients(self) -> list[tuple[str, Array]]:
        """The views of :attr:`grad`, named and ordered as :meth:`named_parameters`."""
        out = []
        for l, layer in enumerate(self.dense, start=1):
            out += [(f"dW[{l}]", layer.grads["W"]), (f"db[{l}]", layer.grads["b"])]
            if layer.batch_norm is not None:
                bn = layer.batch_norm.grads
                out += [(f"dgamma[{l}]", bn["gamma"]), (f"dbeta[{l}]", bn["beta"])]
        return out

    @property
    def output_activation(self) -> Activation:
        return self.dense[-1].activation

    @property
    def fused(self) -> bool:
        """Whether the output pair is canonical, so that ``dZ[L] = A - Y``."""
        return self.loss.fused_activation == self.output_activation.name

    def get_config(self) -> dict[str, Any]:
        """The architecture as plain JSON-able values (enough to rebuild the network)."""
        return {
            "layer_sizes": list(self.layer_sizes),
            "activations": [a.get_config() for a in self.activations],
            "loss": self.loss.get_config(),
            "init": list(self.init),
            "dtype": self.dtype.name,
            "dropout": list(self.dropout_rates),
            "batch_norm": list(self.batch_norms),
        }

    def summary(self) -> Summary:
        """Keras's ``model.summary()``: a row per layer with its output shape and parameter
        count, then the totals (:func:`deltaprop.core.summary.summary`); print it, or let the
        interpreter show it."""
        return summary(self)

    def __repr__(self) -> str:
        acts = [a.name for a in self.activations]
        return (
            f"Network(layer_sizes={self.layer_sizes}, activations={acts}, "
            f"loss={self.loss.name!r}, dtype={self.dtype.name!r})"
        )

    # ------------------------------------------------------------------ input checks
    def check_X(self, X: Any, name: str = "X") -> Array:
        """Cast ``X`` to the network's dtype and check it (:func:`deltaprop.core.inputs.check_X`).

        Raises
        ------
        ValueError
            Empty, not 2-D, wrong number of features, NaN or infinity.
        """
        return check_X(X, self.layer_sizes[0], self.dtype, self.xp, name)

    def check_Y(self, Y: Any, m: int) -> Array:
        """Cast ``Y`` to the network's dtype with shape ``(m, n_L)`` (1-D allowed if n_L = 1),
        and check it is in the loss's domain (:func:`deltaprop.core.inputs.check_Y`)."""
        return check_Y(Y, m, self.layer_sizes[-1], self.dtype, self.xp, self.loss)

    def check_sample_weight(self, sample_weight: Any, m: int) -> Array | None:
        """``None`` or a finite, non-negative vector of length ``m`` with a positive sum
        (:func:`deltaprop.core.inputs.check_sample_weight`)."""
        return check_sample_weight(sample_weight, m, self.dtype, self.xp)

    # ------------------------------------------------------------------ forward / backward
    def _workspace(self, m: int) -> Workspace:
        """The buffers for batches of ``m`` rows (a few sizes are kept: full and last batch)."""
        ws = self._workspaces.get(m)
        if ws is None:
            if len(self._workspaces) >= 4:
                self._workspaces.clear()
            ws = self._workspaces[m] = Workspace(self, m)
        return ws

    def _forward(self, X: Array, training: bool, ws: Workspace | None = None) -> Array:
        A = X
        if ws is None:
            for layer in self.layers:
                A = layer.forward(A, training)
            return A
        for layer, buffers in zip(self.layers, ws.layers, strict=True):
            if buffers is None:
                A = layer.forward(A, training)
            else:
                assert isinstance(layer, Dense)
                A = layer.forward(A, training, buffers)
        return A

    def forward(
        self, X: Any, training: bool = False, *, check: bool = True, logits: bool = False,
        batch_size: int | None = None,
    ) -> Array:  # fmt: skip
        """Output activations ``A[L]`` of shape ``(n_samples, n_L)``.

        Evaluation mode goes in row batches into one fresh array and caches nothing
        (:mod:`deltaprop.core.evaluation`); training caches ``A_prev``, ``Z``, ``A``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_0)
        training : bool, default=False
            Dropout active and batch statistics used when True.
        check : bool, default=True
            False for an array that :meth:`check_X` returned (the training loops).
        logits : bool, default=False
            Return the output layer's ``Z[L]`` instead of ``A[L] = g(Z[L])``.
        batch_size : int, optional
            Rows per evaluation batch (default: :func:`deltaprop.core.evaluation.batch_rows`).
        """
        X = self.check_X(X) if check else X
        if not training:
            return evaluate(self, X, logits=logits, batch_size=batch_size)
        A = self._forward(X, training)
        return self.dense[-1].Z if logits else A

    __call__ = forward  # net(X), as a PyTorch module, an equinox model or micrograd's MLP

    def hidden_activations(self, X: Any, batch_size: int | None = None) -> list[Array]:
        """``[A[1], ..., A[L-1]]`` in evaluation mode, each of shape ``(n_samples, n_l)``."""
        return evaluate(self, self.check_X(X), batch_size=batch_size, hidden=True)

    def _per_example_loss(self, Y: Array, ws: Workspace | None = None) -> Array:
        out = self.dense[-1]
        if self.fused:
            if ws is not None and self._loss_out:
                return self.loss.value_from_logits(Y, out.Z, out=ws.losses)
            return self.loss.value_from_logits(Y, out.Z)
        return self.loss.value(Y, out.A)

    def l2_term(self, alpha: float, m: float) -> float:
        """The penalty ``α/(2m) · Σ_l ‖W[l]‖²_F`` (no biases), scikit-learn's MLP convention
        with ``m`` the batch's number of examples (its total sample weight); 0 for ``α = 0``."""
        if not alpha:
            return 0.0
        return 0.5 * (alpha / m) * sum(float((W * W).sum()) for W in self.weights)

    def _cost(
        self, X: Array, Y: Array, w: Array | None, training: bool, alpha: float, denom: float,
        ws: Workspace | None = None,
    ) -> float:  # fmt: skip
        """:meth:`cost` with its normalizer ``denom`` (``m``, ``Σ w`` or a total weight)."""
        self._forward(X, training, ws)
        losses = self._per_example_loss(Y, ws)
        if w is not None:
            losses = losses * w
        return float(losses.sum()) / denom + self.l2_term(alpha, denom)

    @staticmethod
    def _denominator(X: Array, w: Array | None, total_weight: float | None = None) -> float:
        """``m`` of the cost and of the L2 term: ``total_weight``, else ``Σ w``, else rows."""
        if total_weight is not None:
            return total_weight
        return float(w.sum()) if w is not None else X.shape[0]

    def cost(
        self,
        X: Any,
        Y: Any,
        sample_weight: Any = None,
        training: bool = False,
        alpha: float = 0.0,
        *,
        check: bool = True,
    ) -> float:
        """The cost ``J = Σ_i w_i L(y_i, ŷ_i) / Σ_i w_i  +  α / (2 Σ_i w_i) · Σ_l ‖W[l]‖²_F``.

        With no weights this is the seeds' ``J = (1/m) Σ_i L(ŷ_i, y_i)`` plus scikit-learn's
        ``α/(2m) Σ‖W‖²`` (``MLPClassifier(alpha=)``, ``Trainer(alpha=)``: one convention).

        Parameters
        ----------
        X : array-like of shape (m, n_0)
        Y : array-like of shape (m, n_L), or (m,) integer labels for categorical cross-entropy
        sample_weight : array-like of shape (m,), optional
        training : bool, default=False
        alpha : float, default=0.0
            L2 strength on the weights (not the biases), divided by ``2 Σ_i w_i`` (``2m``).
        check : bool, default=True
            False for arrays already checked (:meth:`check_X`, :meth:`check_Y`, ...).
        """
        if check:
            X = self.check_X(X)
            Y = self.check_Y(Y, X.shape[0])
            sample_weight = self.check_sample_weight(sample_weight, X.shape[0])
        denom = self._denominator(X, sample_weight)
        return self._cost(X, Y, sample_weight, training, alpha, denom)

    def output_dZ(self, Y: Array, out: Array | None = None) -> Array:
        """The output error ``dZ[L]`` per example, shape ``(m, n_L)``.

        For a canonical pair this is the seeds' ``dZ[L] = A[L] - Y``; otherwise the general
        chain rule ``dZ[L] = g'(Z[L]) ⊙ ∂L/∂A[L]``. ``out`` may receive ``A - Y``.
        """
        last = self.dense[-1]
        if self.fused:
            return self.xp.subtract(last.A, Y, out=out)  # canonical pair: d(L ∘ g)/dZ = A - Y
        return last.activation.backward(self.loss.gradient(Y, last.A), last.Z, last.A)

    def backward(
        self,
        X: Array,
        Y: Array,
        w: Array | None = None,
        training: bool = True,
        alpha: float = 0.0,
        total_weight: float | None = None,
        reuse_buffers: bool = False,
    ) -> float:
        """One backpropagation: forward, then fill :attr:`grad`; returns the cost ``J``.

        The training loops' entry point: no input checks (pass arrays as :meth:`check_X`,
        :meth:`check_Y` and :meth:`check_sample_weight` return them); :meth:`gradients` is
        the checked form.

        ``total_weight`` replaces ``Σ w`` (or ``m``) as the normalizer, so that gradients of
        shards of one batch add up to the batch's gradient (data parallelism); the L2 term
        is ``α/(2·total_weight)``, so ``alpha / size`` on each of ``size`` shards adds up.
        ``reuse_buffers`` (the hot loop) writes every intermediate into buffers kept for
        this batch size (the next call of that size overwrites them); the same numbers.
        """
        ws = self._workspace(X.shape[0]) if reuse_buffers else None
        denom = self._denominator(X, w, total_weight)
        cost = self._cost(X, Y, w, training, alpha, denom, ws)
        m = X.shape[0]
        dZ = self.output_dZ(Y, None if ws is None else ws.dZ)
        if w is not None or total_weight is not None:
            # Weighted mean: scale each example's error by s_i = w_i m / Σw, so that the
            # seeds' "/ m" in dW and db yields Σ_i w_i ∇L_i / Σw.
            scale = (w if w is not None else 1.0) * (m / denom)
            dZ = dZ * (scale.reshape(-1, 1) if w is not None else scale)
        for dense in self.dense:  # dW += (α / m) W, the gradient of the L2 term
            dense.l2 = alpha / denom if alpha else 0.0
        kept = [None] * len(self.layers) if ws is None else ws.layers
        dA = self.dense[-1].backward_dZ(dZ, kept[-1])
        for layer, buffers in zip(self.layers[-2::-1], kept[-2::-1], strict=True):
            if buffers is None:
                dA = layer.backward(dA)
            else:
                assert isinstance(layer, Dense)
                dA = layer.backward(dA, buffers)
        return cost

    def gradients(
        self,
        X: Any,
        Y: Any,
        sample_weight: Any = None,
        training: bool = False,
        alpha: float = 0.0,
    ) -> list[tuple[Array, Array]]:
        """``[(dW[1], db[1]), ..., (dW[L], db[L])]``: the gradient of :meth:`cost`.

        Each pair has the shapes of ``(W[l], b[l])``. The arrays are copies; the flat
        gradient (with batch-norm ``γ``, ``β`` as well) is left in :attr:`grad`.
        """
        X = self.check_X(X)
        Y = self.check_Y(Y, X.shape[0])
        w = self.check_sample_weight(sample_weight, X.shape[0])
        self.backward(X, Y, w, training, alpha)
        return [(layer.grads["W"].copy(), layer.grads["b"].copy()) for layer in self.dense]

    # ------------------------------------------------------------------ state
    def __getstate__(self) -> dict[str, Any]:
        """Pickle the architecture and the flat buffers, not the views into them."""
        return {
            "config": self.get_config(),
            "backend": self.backend.name,
            "parameters": self.backend.to_numpy(self.parameters),
            "buffers": {k: self.backend.to_numpy(v) for k, v in self.buffers()},
            "rng": self.rng.bit_generator.state,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Rebuild the layers so that ``W[l]`` and ``b[l]`` are views of one buffer again."""
        self.__init__(**state["config"], backend=state["backend"])  # type: ignore[misc]
        self.parameters[...] = self.xp.asarray(state["parameters"])
        self.set_buffers(state["buffers"])
        self.rng.bit_generator.state = state["rng"]

    def buffers(self) -> list[tuple[str, Array]]:
        """Non-trainable state: batch-norm running statistics, named by layer."""
        out = []
        for l, layer in enumerate(self.dense, start=1):
            if layer.batch_norm is not None:
                out += [
                    (f"running_mean[{l}]", layer.batch_norm.running_mean),
                    (f"running_var[{l}]", layer.batch_norm.running_var),
                ]
        return out

    def set_buffers(self, values: dict[str, Array]) -> None:
        """Restore the running statistics returned by :meth:`buffers` (all of them; an
        unknown or missing name is a ``ValueError`` listing the valid ones)."""
        check_buffer_names(values, [name for name, _ in self.buffers()])
        for l, layer in enumerate(self.dense, start=1):
            if layer.batch_norm is not None:
                layer.batch_norm.running_mean[...] = values[f"running_mean[{l}]"]
                layer.batch_norm.running_var[...] = values[f"running_var[{l}]"]
