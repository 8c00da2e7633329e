"""Statistics of columns read in blocks and spread over MPI ranks, exactly.

The streamed preprocessing (:mod:`deltaprop.app.streamed_tables`) needs the medians, means
and scales of numeric columns whose rows no process holds together. Rounding-free
arithmetic makes them independent of how the rows are cut into blocks and ranks:

- :class:`ExactSums` adds float64 values without rounding: each value is an integer
  multiple of 2⁻¹⁰⁷⁴ (the smallest subnormal), and the integers are summed exactly
  (per block with ``np.bincount`` over exponents, whose float64 sums of 27-bit halves
  cannot round for blocks of up to 2²⁶ rows; across blocks and ranks as Python integers).
  :meth:`ExactSums.mean` is the correctly rounded mean, the same for any number of ranks.
- :class:`MedianSelect` finds the exact k-th smallest value of each column across ranks by
  radix selection over the order-preserving 64-bit keys of the float64 values: four rounds
  of 16 bits, each one pass over the blocks and one ``Allreduce`` of 65,536 counts per
  column; the median is ``np.median``'s (the mean of the two middle values for an even
  count).
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from deltaprop.parallel import MPICommunicator

__all__ = [
    "ExactSums", "MedianSelect", "RowHash", "allgather", "allsum", "float_keys", "key_floats",
]  # fmt: skip

_BINS = 2100  # exponents of float64 multiples of 2**-1074: 0 ... 2098
_MAX_BLOCK = 1 << 26
_SIGN = np.uint64(1 << 63)


def allsum(comm: MPICommunicator | None, counts: np.ndarray) -> np.ndarray:
    """``counts`` (int64 or float64) summed over the ranks of ``comm`` (itself alone)."""
    if comm is None or comm.size == 1:
        return counts
    from mpi4py import MPI

    out = np.ascontiguousarray(counts).copy()
    comm.comm.Allreduce(MPI.IN_PLACE, out, op=MPI.SUM)
    return out


def allgather(comm: MPICommunicator | None, value: Any) -> list[Any]:
    """Every rank's ``value`` (small: counts, category names), in rank order."""
    return [value] if comm is None or comm.size == 1 else list(comm.comm.allgather(value))


class ExactSums:
    """Exact sums of the columns of float64 blocks (NaN counts as 0).

    Parameters
    ----------
    n_columns : int
    """

    def __init__(self, n_columns: int) -> None:
        self.totals = [0] * n_columns  # in units of 2**-1074

    def add(self, X: np.ndarray) -> None:
        """Add the columns of ``X`` of shape (n_rows, n_columns)."""
        X = np.where(np.isnan(X), 0.0, X)
        for i in range(0, len(X), _MAX_BLOCK):
            self._add(X[i : i + _MAX_BLOCK])

    def _add(self, X: np.ndarray) -> None:
        n, k = X.shape
        if n == 0 or k == 0:
            return
        m, e = np.frexp(X)
        M = (m * 2.0**53).astype(np.int64)  # exact: 53 bits
        s = e.astype(np.int64) + (1074 - 53)
        low = s < 0  # subnormals: M is a multiple of 2**-s
        if low.any():
            M = np.where(low, M >> np.minimum(-s, 62), M)
            s = np.maximum(s, 0)
        hi = M >> 26
        lo = M - (hi << 26)
        index = (s + _BINS * np.arange(k)).ravel()
        his = np.bincount(index, weights=hi.ravel(), minlength=_BINS * k).reshape(k, _BINS)
        los = np.bincount(index, weights=lo.ravel(), minlength=_BINS * k).reshape(k, _BINS)
        for j in range(k):
            for b in np.flatnonzero((his[j] != 0) | (los[j] != 0)):
                self.totals[j] += ((int(his[j, b]) << 26) + int(los[j, b])) << int(b)

    def reduce(self, comm: MPICommunicator | None) -> ExactSums:
        """The sums over every rank of ``comm`` (a collective call)."""
        out = ExactSums(len(self.totals))
        out.totals = [sum(t) for t in zip(*allgather(comm, self.totals), strict=True)]
        return out

    def fractions(self) -> list[Fraction]:
        """The exact sums."""
        return [Fraction(t, 1 << 1074) for t in self.totals]


def float_keys(x: np.ndarray) -> np.ndarray:
    """uint64 keys ordered as the float64 values ``x`` (no NaN) are."""
    b = np.ascontiguousarray(x, dtype=np.float64).view(np.uint64)
    return np.where(b & _SIGN, ~b, b | _SIGN)


def key_floats(k: np.ndarray) -> np.ndarray:
    """The float64 values of :func:`float_keys` keys."""
    k = np.asarray(k, dtype=np.uint64)
    return np.where(k & _SIGN, k ^ _SIGN, ~k).view(np.float64)


class MedianSelect:
    """Exact medians of columns spread over blocks and ranks (see the module).

    Parameters
    ----------
    counts : ndarray of shape (n_columns,)
        The global number of non-missing values of each column.
    """

    ROUNDS = (48, 32, 16, 0)

    def __init__(self, counts: np.ndarray) -> None:
        counts = np.asarray(counts, dtype=np.int64)
        self.counts = counts
        # two targets per column: the ranks (n-1)//2 and n//2 (0-based) of its sorted values
        self.rank = np.stack([(counts - 1) // 2, counts // 2], axis=1).clip(min=0)
        self.prefix = np.zeros_like(self.rank, dtype=np.uint64)
        self.round = 0
        self._hist: np.ndarray | None = None

    def start_round(self) -> None:
        # int32 on the rank (under 2**31 rows a rank), int64 once reduced, column by column
        self._hist = np.zeros((*self.rank.shape, 1 << 16), dtype=np.int32)

    def add(self, X: np.ndarray) -> None:
        """Count the values of a block ``X`` of shape (n_rows, n_columns) (NaN skipped)."""
        assert self._hist is not None
        shift = self.ROUNDS[self.round]
        for j in range(X.shape[1]):
            col = X[:, j]
            key = float_keys(col[~np.isnan(col)])
            digit = ((key >> np.uint64(shift)) & np.uint64(0xFFFF)).astype(np.intp)
            for t in range(2):
                if self.round == 0:
                    sel = digit
                else:
                    sel = digit[(key >> np.uint64(shift + 16)) == self.prefix[j, t]]
                self._hist[j, t] += np.bincount(sel, minlength=1 << 16).astype(np.int32)

    def end_round(self, comm: MPICommunicator | None) -> None:
        """Reduce the round's counts over the ranks and narrow every target's prefix."""
        assert self._hist is not None
        for j in range(self.rank.shape[0]):
            hist = allsum(comm, self._hist[j].astype(np.int64))
            for t in range(2):
                self._narrow(j, t, np.cumsum(hist[t]))
        self.round += 1
        self._hist = None

    def _narrow(self, j: int, t: int, c: np.ndarray) -> None:
        """Keep the 16 bits of target ``t`` of column ``j`` whose cumulated counts ``c``
        pass its rank."""
        bucket = min(int(np.searchsorted(c, self.rank[j, t], side="right")), (1 << 16) - 1)
        if bucket:
            self.rank[j, t] -= c[bucket - 1]
        self.prefix[j, t] = (self.prefix[j, t] << np.uint64(16)) | np.uint64(bucket)

    @property
    def done(self) -> bool:
        return self.round == len(self.ROUNDS)

    def medians(self) -> np.ndarray:
        """The medians (0 for a column without values, as scikit-learn's
        ``SimpleImputer(keep_empty_features=True)``)."""
        low, high = key_floats(self.prefix[:, 0]), key_floats(self.prefix[:, 1])
        med = np.where(low == high, low, (low + high) / 2.0)
        return np.where(self.counts > 0, med, 0.0)


_P = 0x100000001B3  # the 64-bit FNV prime: odd, so every power is invertible mod 2**64
_M = (1 << 64) - 1


class RowHash:
    """An order-aware fingerprint of a table's rows that the ranks combine: the row hashes
    ``h_i`` (uint64, of row ``i`` in file order) as ``H = Σ h_i · P^i mod 2⁶⁴``. A rank
    adds its rows block by block (:meth:`add`); :meth:`reduce` shifts each rank's sum by
    the rows before it, so ``H`` is the same for any blocks and any number of ranks.
    Not cryptographic: it recognises a changed table (a ``--resume`` check), it does not
    resist a forged one."""

    def __init__(self) -> None:
        self.total, self.n = 0, 0

    def add(self, h: np.ndarray) -> None:
        """The hashes of the next rows, shape ``(m,)`` uint64."""
        if h.size == 0:
            return
        with np.errstate(over="ignore"):
            powers = np.multiply.accumulate(np.full(h.size, _P, np.uint64))  # P^1 ... P^m
            part = int((h.astype(np.uint64) * powers).sum(dtype=np.uint64))
        # the block's first row is row n: P^(n-1) (an inverse for n = 0) puts P^n on it
        self.total = (self.total + part * pow(_P, self.n - 1, 1 << 64)) & _M
        self.n += int(h.size)

    def reduce(self, comm: MPICommunicator | None) -> str:
        """``"<rows>:<H>"`` over every rank's rows, in rank order (collective)."""
        parts = allgather(comm, (self.n, self.total))
        total, before = 0, 0
        for n, s in parts:
            total = (total + s * pow(_P, before, 1 << 64)) & _M
            before += n
        return f"{before}:{total:016x}"
