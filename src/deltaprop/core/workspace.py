"""The training loop's preallocated arrays for one batch size (a step then allocates nothing)."""

from __future__ import annotations

from typing import Any

from deltaprop.core.layers import Dense, DenseBuffers

__all__ = ["Workspace"]


class Workspace:
    """The hot loop's preallocated arrays for batches of ``m`` rows.

    ``layers[i]`` holds the :class:`DenseBuffers` of ``Network.layers[i]`` (``None`` for a
    dropout layer, which allocates its mask); ``losses`` the per-example loss, ``dZ`` the
    output error. ``net`` is the :class:`~deltaprop.core.network.Network` (not imported:
    the network imports this module).
    """

    def __init__(self, net: Any, m: int) -> None:
        xp, dt = net.xp, net.dtype
        self.layers = [
            DenseBuffers.allocate(layer, m, xp, dt) if isinstance(layer, Dense) else None
            for layer in net.layers
        ]
        self.losses = xp.empty(m, dt)
        self.dZ = xp.empty((m, net.layer_sizes[-1]), dt)
