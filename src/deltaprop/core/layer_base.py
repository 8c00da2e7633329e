"""The base of the layers (:mod:`deltaprop.core.layers`, :mod:`deltaprop.core.batch_norm`):
parameters as views into the network's one flat buffer, handed over by :meth:`Layer.bind`."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Array", "Layer"]


Array = Any


class Layer:
    """A step of the chain: ``forward(A_prev, training)`` and ``backward(dA) -> dA_prev``.

    Attributes
    ----------
    param_shapes : list of (str, tuple)
        Names and shapes of this layer's parameters, in their order in the flat buffer.
    """

    param_shapes: list[tuple[str, tuple[int, ...]]]

    def __init__(self) -> None:
        self.param_shapes = []
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}

    @property
    def n_params(self) -> int:
        """Number of scalar parameters."""
        return sum(int(np.prod(s)) for _, s in self.param_shapes)

    def bind(self, params: Array, grads: Array) -> None:
        """Take views of this layer's slices of the flat parameter and gradient buffers.

        Parameters
        ----------
        params, grads : ndarray of shape (n_params,)
            Contiguous slices of the network's flat buffers.
        """
        offset = 0
        for name, shape in self.param_shapes:
            size = int(np.prod(shape))
            self.params[name] = params[offset : offset + size].reshape(shape)
            self.grads[name] = grads[offset : offset + size].reshape(shape)
            offset += size

    def forward(self, A_prev: Array, training: bool) -> Array:
        raise NotImplementedError

    def backward(self, dA: Array) -> Array | None:
        raise NotImplementedError
