"""The order of a streamed epoch: logical blocks by global row index, a seeded order of the
blocks, shuffle buffers of ``buffer_blocks`` blocks whose rows are permuted; the ranks'
shares of the blocks; and the validation rows chosen by a hash of the row index."""

from __future__ import annotations

import numpy as np

from deltaprop.core import check_int, check_real
from deltaprop.parallel import even_share

__all__ = [
    "DEFAULT_BLOCK_ROWS",
    "DEFAULT_BUFFER_BLOCKS",
    "check_layout",
    "epoch_buffers",
    "rank_rows",
    "validation_mask",
]

DEFAULT_BLOCK_ROWS = 1024
"""Rows of one logical block: the unit of the block order and of the ranks' shares."""

DEFAULT_BUFFER_BLOCKS = 32
"""Blocks in one shuffle buffer (with the default blocks, 32768 rows held at a time)."""


def check_layout(block_rows: int, buffer_blocks: int) -> tuple[int, int]:
    """``(block_rows, buffer_blocks)`` checked as positive integers."""
    return (
        check_int("block_rows", block_rows, low=1, what="a positive integer"),
        check_int("buffer_blocks", buffer_blocks, low=1, what="a positive integer"),
    )


def rank_rows(n_rows: int, rank: int, size: int, block_rows: int = DEFAULT_BLOCK_ROWS) -> slice:
    """The global rows that ``rank`` of ``size`` owns: a contiguous range of whole blocks.

    The ``ceil(n_rows / block_rows)`` blocks are shared as evenly as possible
    (:func:`deltaprop.parallel.even_share`: the first ranks get one block more); the last
    block may be short. A rank reads and holds only these rows.

    Parameters
    ----------
    n_rows : int
        Rows of the whole table.
    rank, size : int
        ``0 ≤ rank < size``.
    block_rows : int, default=DEFAULT_BLOCK_ROWS

    Returns
    -------
    slice
        ``slice(start, stop)``, ``step=None``; the ranks' slices tile ``range(n_rows)``.

    Examples
    --------
    >>> [rank_rows(10, r, 2, block_rows=3) for r in range(2)]
    [slice(0, 6, None), slice(6, 10, None)]
    """
    n_rows = check_int("n_rows", n_rows, low=0, what="a non-negative integer")
    block_rows = check_int("block_rows", block_rows, low=1, what="a positive integer")
    blocks = even_share(-(-n_rows // block_rows), rank, size)
    return slice(min(blocks.start * block_rows, n_rows), min(blocks.stop * block_rows, n_rows))


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def validation_mask(fraction: float, seed: int, start: int, stop: int) -> np.ndarray:
    """Which of the global rows ``[start, stop)`` are validation rows.

    Row ``i`` is held out when ``splitmix64(splitmix64(seed) ^ i) / 2⁶⁴ < fraction``: a
    function of the row's global index and the seed only, so the split is the same for
    any number of ranks and any chunking. About ``fraction`` of the rows are held out
    (not stratified).

    Parameters
    ----------
    fraction : float
        In ``(0, 1)``.
    seed : int
        Non-negative.
    start, stop : int
        The global row range.

    Returns
    -------
    ndarray of shape (stop - start,), bool
    """
    fraction = check_real(
        "validation_fraction", fraction, low=0, high=1, low_open=True, high_open=True,
        what="a float in (0, 1)",
    )  # fmt: skip
    key = _splitmix64(np.array([seed], dtype=np.uint64))[0]
    rows = np.arange(start, stop, dtype=np.uint64)
    u = (_splitmix64(rows ^ key) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return u < fraction


def epoch_buffers(
    n_rows: int,
    rng: np.random.Generator,
    *,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    buffer_blocks: int = DEFAULT_BUFFER_BLOCKS,
    shuffle: bool = True,
    keep: np.ndarray | None = None,
    count: int | None = None,
) -> list[np.ndarray]:
    """The rows of one epoch, buffer by buffer, in the order they are trained on.

    With ``shuffle``:

    1. when every block fits in one buffer (``ceil(n_rows / block_rows) ≤ buffer_blocks``),
       the one buffer is the kept rows in the order ``rng.permutation(n_kept)`` (the
       in-memory trainer's own draw, so the fits coincide bit for bit);
    2. otherwise ``perm = rng.permutation(n_blocks)``; buffer ``k`` holds the kept rows of
       blocks ``perm[k·buffer_blocks : (k+1)·buffer_blocks]``, concatenated in that block
       order and each row in ascending order within its block, then reordered by
       ``rng.permutation(len(buffer))`` (drawn buffer after buffer).

    Without ``shuffle`` the kept rows in ascending order, cut into buffers of
    ``buffer_blocks`` blocks, and nothing is drawn. The trainer cuts the concatenated
    buffers into consecutive batches of ``batch_size`` rows, as an in-memory epoch cuts
    its permutation. Nothing depends on how the files are chunked.

    Parameters
    ----------
    n_rows : int
        Rows of the whole table (global).
    rng : numpy.random.Generator
        The trainer's generator; the draws above, in that order.
    block_rows, buffer_blocks : int
    shuffle : bool, default=True
    keep : ndarray of shape (n_rows,), bool, optional
        The training rows (the others, validation rows, never appear); all by default.
    count : int or None, default=None
        Only the first ``count`` buffers, their draws the same and nothing drawn after
        them (a look at the next epoch's first buffer without drawing the whole order).

    Returns
    -------
    list of ndarray of shape (m_k,), intp
        Global row indices per buffer; together every kept row exactly once.

    Examples
    --------
    >>> [b.tolist() for b in epoch_buffers(5, None, block_rows=2, buffer_blocks=2, shuffle=False)]
    [[0, 1, 2, 3], [4]]
    """
    block_rows, buffer_blocks = check_layout(block_rows, buffer_blocks)
    n_blocks = -(-n_rows // block_rows)
    kept = np.arange(n_rows) if keep is None else np.flatnonzero(keep)
    if not shuffle:
        span = block_rows * buffer_blocks
        edges = np.searchsorted(kept, np.arange(0, n_rows + span, span)[1:])
        return [part for part in np.split(kept, edges[:-1]) if part.size][:count]
    assert rng is not None
    if n_blocks <= buffer_blocks:
        return [kept[rng.permutation(kept.size)]] if kept.size else []
    perm = rng.permutation(n_blocks)
    bounds = np.searchsorted(kept, np.arange(n_blocks + 1) * block_rows)
    buffers: list[np.ndarray] = []
    for k in range(0, n_blocks, buffer_blocks):
        if count is not None and len(buffers) >= count:
            break
        rows = np.concatenate(
            [kept[bounds[b] : bounds[b + 1]] for b in perm[k : k + buffer_blocks]]
        )
        drawn = rows[rng.permutation(rows.size)]  # drawn even when empty: the same draws
        if drawn.size:
            buffers.append(drawn)
    return buffers
