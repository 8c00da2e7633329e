"""How the compiled loop cuts a step's work into pieces, whatever the number of threads.

The bounds of every piece (the blocks of a batch's rows, of a wide first layer's units, of
the parameters) depend only on the batch size and the network, and the pieces' partial
sums are added in piece order, so that the training's bits are the same on 1, 2, 3 or 4
threads (:func:`deltaprop.fast.epoch.run_steps`). No numba here: the trainer reads these
without loading the compiled loop.
"""

from __future__ import annotations

__all__ = ["BLOCKS", "MIN_ROWS", "row_blocks"]

BLOCKS = 4
"""The most blocks of a batch's rows; also the number of blocks of a wide first layer's
units and of the parameters. So many threads at most share a step."""

MIN_ROWS = 16
"""Each block of a batch's rows has at least this many rows (see :func:`row_blocks`)."""


def row_blocks(m: int) -> int:
    """The blocks a batch of ``m`` rows is cut into: ``min(BLOCKS, m // MIN_ROWS)``, at
    least 1. A function of the batch size only: each thread takes some of the blocks, and
    their gradients are added in block order.

    >>> [row_blocks(m) for m in (1, 31, 32, 50, 200)]
    [1, 1, 2, 3, 4]
    """
    return max(1, min(BLOCKS, m // MIN_ROWS))
