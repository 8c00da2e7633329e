"""A :class:`~deltaprop.train.trainer.Trainer` fit on a :class:`~deltaprop.data.Dataset`:
the same epochs and steps as an in-memory fit, on rows read buffer by buffer.

The order of an epoch is :func:`deltaprop.data.epoch_buffers`' (its docstring states it);
the batches are consecutive ``batch_size`` rows of the concatenated buffers, so a batch may
span two buffers, and the last batch of the epoch holds the remainder, as in memory. Only the
current buffer (and the rows of a batch that spans into the next) is held, and the next one
where the dataset reads ahead (:attr:`deltaprop.data.Dataset.read_ahead`: Parquet).

One process runs each buffer's full batches in the compiled loop where it applies
(:class:`~deltaprop.fast.CompiledLoop`), else in Python. Under MPI each rank owns the rows
:func:`deltaprop.data.rank_rows` gives it and reads only those; every rank draws the same
order, and for each global batch computes the gradient of its rows of the batch normalised by
the whole batch's size, which one allreduce sums
(:func:`~deltaprop.train.distributed.share_backward`): one process's batches, so one
process's weights up to rounding.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from deltaprop.core.backend import usable_cores
from deltaprop.data import Dataset, epoch_buffers, rank_rows, validation_mask
from deltaprop.fast import CompiledLoop, blas_threads
from deltaprop.optim import Optimizer
from deltaprop.train.batches import GradStats, check_batch_norm_batches, effective_batch_size
from deltaprop.train.callbacks import Callback, watches_batches
from deltaprop.train.sgd import batch_step, close_epoch, mark_complete, step_rate
from deltaprop.train.stopping import baseline_rows, l2_at_start, loss_baselines

__all__ = ["StreamedData", "fit_streamed", "prepare_streamed", "streamed_validation"]

Target = Callable[[np.ndarray], np.ndarray]


class StreamedData:
    """A dataset as one rank trains on it: the rows it owns, the training rows (those not
    held out for validation), and the target as the network takes it.

    Parameters
    ----------
    data : Dataset
    comm : Communicator or None
    target : callable
        ``target(y) -> Y``: a read's target (shape ``(m, *target_shape)``) as the network's
        ``Y`` of shape ``(m, n_L)`` (the estimators one-hot encode labels here).
    holdout : ndarray of shape (n_rows,), bool, or None
        The validation rows, never trained on.
    """

    def __init__(
        self, data: Dataset, comm: Any, target: Target, holdout: np.ndarray | None = None
    ) -> None:
        self.data, self.comm, self.target = data, comm, target
        size, rank = (1, 0) if comm is None else (comm.size, comm.rank)
        self.own = rank_rows(data.n_rows, rank, size, data.block_rows)
        lo, hi = data.local.start, data.local.stop
        if not lo <= self.own.start <= self.own.stop <= hi:
            raise ValueError(
                f"rank {rank} of {size} owns rows [{self.own.start}, {self.own.stop}) of "
                f"{data.n_rows} (deltaprop.data.rank_rows with block_rows={data.block_rows}), "
                f"but its dataset can read only [{lo}, {hi})"
            )
        self.keep = None if holdout is None else ~holdout
        self.n_train = data.n_rows if holdout is None else int(self.keep.sum())  # type: ignore[union-attr]

    def rows(self, rows: np.ndarray, threads: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(X, Y)`` of the global ``rows`` (shape ``(m,)``, all owned), in that order
        (:meth:`deltaprop.data.Dataset.take`; ``threads``: the source may decode on every
        core, as the reads before training do)."""
        X, y = self.data.take(rows, threads=threads)
        return X, self.target(y)

    def unordered(
        self, rows: np.ndarray, pad: int, threads: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X, Y, idx)``: the rows that the global ``rows`` (all owned) touch, as read,
        after ``pad`` rows of room, and where each of ``rows`` lies
        (:meth:`deltaprop.data.Dataset.take_unordered`)."""
        X, y, idx = self.data.take_unordered(rows, pad, threads=threads)
        T = self.target(y[pad:])
        Y = np.empty((X.shape[0], *T.shape[1:]), T.dtype)
        Y[pad:] = T
        return X, Y, idx

    def owned(self, buffer: np.ndarray) -> np.ndarray:
        """Which entries of ``buffer`` (global rows) this rank owns, bool."""
        return (buffer >= self.own.start) & (buffer < self.own.stop)


def streamed_validation(
    data: Dataset, fraction: float, seed: int, comm: Any, target: Target
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hold-out mask (every row, shape ``(n_rows,)``) and the validation rows
    ``(X_val, Y_val)``, on every rank (gathered from the ranks' shares), in row order."""
    mask = validation_mask(fraction, seed, 0, data.n_rows)
    part = StreamedData(data, comm, target)
    own = part.own
    mine = own.start + np.flatnonzero(mask[own])
    Xs, Ys = [], []
    for lo in range(0, mine.size, 65_536):
        X, Y = part.rows(mine[lo : lo + 65_536], threads=True)  # before training: every core
        Xs.append(X)
        Ys.append(Y)
    if not Xs:
        X, Y = part.rows(mine)
        Xs, Ys = [X], [Y]
    Xv, Yv = np.concatenate(Xs), np.concatenate(Ys)
    if comm is not None:
        from deltaprop.parallel import gather_rows

        Xv, Yv = gather_rows(Xv, comm), gather_rows(Yv, comm)
    return mask, Xv, Yv


def _baselines(self: Any, part: StreamedData, rows: Any) -> tuple[float, float]:
    """The divergence baselines (:func:`deltaprop.train.stopping.loss_baselines`) on each
    rank's rows of the first buffer the fit reads (``rows``, its read: ``(X, Y)``, or
    ``(X, Y, idx)`` in the compiled loop), before its first step: no read of their own
    (sums allreduced under MPI)."""
    X, Y = rows[0], rows[1]
    if len(rows) == 3:  # the buffer as read, its rows at idx: those the baseline takes
        idx = rows[2][baseline_rows(rows[2].size)]
        X, Y = X[idx], Y[idx]
    m = effective_batch_size(self.batch_size, part.n_train)
    if part.comm is None:
        return loss_baselines(self.net, X, Y, None, self.alpha, m)
    # the constant predictor is the global mean: sums first, then the losses
    sums = np.append(Y.sum(axis=0), float(Y.shape[0])).astype(np.float64)
    part.comm.allreduce(sums)
    mean = sums[:-1] / max(sums[-1], 1.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        start = self.net.cost(X, Y, None, training=False, alpha=0.0, check=False) if len(X) else 0.0
        const = np.asarray(self.net.loss.value(Y, np.broadcast_to(mean.astype(Y.dtype), Y.shape)))
    packed = np.array([start * len(X), float(const.sum())])
    part.comm.allreduce(packed)
    start_l2 = l2_at_start(self.net, self.alpha, m)
    return float(packed[0] / sums[-1]) + start_l2, float(packed[1] / sums[-1])


def fit_streamed(
    self: Any, part: StreamedData, Xv: Any, Yv: Any, wv: Any, callbacks: list[Callback]
) -> None:
    """Train ``self`` (the trainer) for up to its ``epochs`` epochs on ``part``'s rows."""
    net, opt, comm = self.net, self.optimizer, self.communicator
    if not isinstance(opt, Optimizer):
        raise ValueError("a streamed fit needs a first-order optimizer, not L-BFGS")
    ranks = 1 if comm is None else comm.size
    check_batch_norm_batches(net, self.batch_size, part.n_train, ranks)
    bs = effective_batch_size(self.batch_size, part.n_train)
    fast = None
    if comm is None and part.own.stop > part.own.start:
        dtype = net.parameters.dtype  # a row's shapes: the loop takes each buffer's rows
        X0 = np.zeros((1, net.layer_sizes[0]), dtype)
        Y0 = np.zeros((1, net.layer_sizes[-1]), dtype)
        fast = CompiledLoop.create(
            net, opt, X0, Y0, None, self.alpha, self.clip_norm, None,
            watches_batches=watches_batches(callbacks),
        )  # fmt: skip
    with blas_threads(1) if fast is None else fast.threads(bs):  # as train/sgd.py
        _epochs(self, part, bs, fast, Xv, Yv, wv, callbacks)


def _epochs(
    self: Any, part: StreamedData, bs: int, fast: CompiledLoop | None, Xv: Any, Yv: Any,
    wv: Any, callbacks: list[Callback],
) -> None:  # fmt: skip
    net = self.net
    ahead = spare_core(fast, bs)
    last_good = net.parameters.copy()
    last_buffers = {k: v.copy() for k, v in net.buffers()}
    self.last_complete = (last_good, last_buffers)  # what an interrupt puts back
    mark_complete(self)
    stats = GradStats(net)
    kind = _Epoch if fast is None else _FastEpoch
    with _Reader(part.data.read_ahead and ahead) as reader:
        for e in range(self.epochs):
            lr = self.schedule(self.epoch, self.learning_rate, self.samples_seen)
            self.optimizer.learning_rate = lr
            for cb in callbacks:
                cb.on_epoch_begin(self, self.epoch, {"learning_rate": lr})
            step_rate(self)  # as the epoch's hooks leave it
            norms = np.zeros(net.n_layers)
            buffers = _buffers(self, part, self.rng)
            following = None  # the next epoch's first buffer, drawn from a copy of the rng
            if reader.ahead and e + 1 < self.epochs and buffers:
                following = next(iter(_buffers(self, part, copy.deepcopy(self.rng), 1)), None)
            epoch = kind(self, part, bs, fast, stats, norms, last_good, last_buffers, callbacks)
            epoch.threads = not ahead
            with np.errstate(over="ignore", invalid="ignore"):
                for buf, rows in reader.epoch(epoch.read, buffers, following):
                    if self.baselines is None and self.divergence_factor is not None:
                        self.baselines = _baselines(self, part, rows)
                    epoch.feed(buf, rows)
                epoch.finish()
            if close_epoch(self, epoch.total / part.n_train, epoch.n_batches, norms,
                           self.step_learning_rate,
                           last_good, last_buffers, Xv, Yv, wv, callbacks):  # fmt: skip
                break


def _buffers(
    self: Any, part: StreamedData, rng: np.random.Generator, count: int | None = None
) -> list[np.ndarray]:
    """The trainer's epoch order of ``part``'s training rows (:func:`deltaprop.data.epoch_buffers`;
    its first ``count`` buffers only)."""
    data = part.data
    return epoch_buffers(
        data.n_rows, rng, block_rows=data.block_rows, buffer_blocks=data.buffer_blocks,
        shuffle=self.shuffle, keep=part.keep, count=count,
    )  # fmt: skip


def spare_core(fast: CompiledLoop | None, batch_size: int) -> bool:
    """Whether this process may run on more cores than the training loop's threads use on
    batches of ``batch_size`` rows (the compiled loop's
    :meth:`~deltaprop.fast.CompiledLoop.step_threads`, the Python loop one): then a buffer is read in a
    background thread while the previous one trains. Without one, a reading thread would
    share a core with the compiled loop's threads, which meet at spin barriers after every
    batch: a loop thread that loses its core stalls the others for the whole time slice, so
    the read would cost its time and more. The buffers are then read in turn, the source
    decoding with all cores (``take_unordered(..., threads=True)``) while the loop's
    helpers wait."""
    return usable_cores() > (1 if fast is None else fast.step_threads(batch_size))


class _Reader:
    """The buffers of each epoch, ``(buffer, read(buffer))`` one after the other (``read``
    an epoch's), the next one read in a background thread while the current one trains
    (decoding a Parquet row group or parsing CSV releases the GIL) where ``ahead`` (the
    dataset asks for it, :attr:`deltaprop.data.Dataset.read_ahead`, and a core is spare,
    :func:`spare_core`): two buffers are held at a time. After an epoch's last buffer the
    next epoch's first is read too (drawn from a copy of the trainer's generator, and used
    only if the epoch's own draw gives the same rows). Where no thread can start (an
    address-space cap leaves no room for its stack) the buffers are read in turn. An error
    of a read is raised where its buffer is taken."""

    def __init__(self, ahead: bool) -> None:
        self.ahead = ahead
        self._pool: ThreadPoolExecutor | None = None
        self._next: tuple[np.ndarray, Future[Any]] | None = None

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, read: Callable[..., Any], buf: np.ndarray) -> Future[Any]:
        if self.ahead:
            try:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(1, thread_name_prefix="deltaprop-read")
                return self._pool.submit(read, buf)
            except RuntimeError:  # no thread to be had (an address-space cap): read in turn
                self.ahead = False
        done: Future[Any] = Future()
        done.set_result(read(buf))
        return done

    def epoch(
        self, read: Callable[..., Any], buffers: list[np.ndarray],
        following: np.ndarray | None = None,
    ) -> Iterator[tuple[np.ndarray, Any]]:  # fmt: skip
        """This epoch's buffers, ``read(buffer)``; then ``following`` (the next epoch's first
        buffer, or None) is started. A first buffer not read ahead is read with
        ``read(buffer, threads=True)``: nothing trains until it is in."""
        if not buffers:
            return
        ready, self._next = self._next, None
        pending: Future[Any] | None
        if ready is not None and np.array_equal(ready[0], buffers[0]):
            pending = ready[1]
        elif self.ahead:  # nothing trains until it is read: on every core
            pending = self._submit(functools.partial(read, threads=True), buffers[0])
        else:
            pending = None
        for k, buf in enumerate(buffers):
            rows = read(buf) if pending is None else pending.result()
            pending = None
            if self.ahead:
                if k + 1 < len(buffers):
                    pending = self._submit(read, buffers[k + 1])
                elif following is not None:
                    self._next = (following, self._submit(read, following))
            yield buf, rows


class _Epoch:
    """One epoch's batches, fed buffer by buffer: the window holds the rows (this rank's)
    of the pending partial batch and of the current buffer, with their positions in the
    global window."""

    def __init__(self, trainer: Any, part: StreamedData, bs: int, fast: CompiledLoop | None,
                 stats: GradStats, norms: np.ndarray, last_good: np.ndarray,
                 last_buffers: dict[str, np.ndarray], callbacks: list[Callback]) -> None:  # fmt: skip
        self.t, self.part, self.bs, self.fast = trainer, part, bs, fast
        self.stats, self.norms, self.callbacks = stats, norms, callbacks
        self.last_good, self.last_buffers = last_good, last_buffers
        self.total, self.n_batches = 0.0, 0
        X, Y = part.rows(np.empty(0, np.intp))
        self.X, self.Y, self.pos, self.count = X, Y, np.empty(0, np.intp), 0
        self.threads = False  # whether a read may decode with all cores (read in turn)

    def read(self, buf: np.ndarray, threads: bool | None = None) -> Any:
        """What :meth:`feed` takes of a buffer: ``part.rows`` of this rank's rows of it
        (decoded on every core with ``threads``, by default :attr:`threads`)."""
        wide = self.threads if threads is None else threads
        return self.part.rows(buf[self.part.owned(buf)], threads=wide)

    def feed(self, buf: np.ndarray, rows: tuple[np.ndarray, np.ndarray]) -> None:
        """Append a buffer (global rows in order; ``rows``, ``part.rows`` of this rank's
        rows of it) and train on every full batch."""
        own = self.part.owned(buf)
        X, Y = rows
        self.X = np.concatenate([self.X, X]) if self.X.shape[0] else X
        self.Y = np.concatenate([self.Y, Y]) if self.Y.shape[0] else Y
        self.pos = np.concatenate([self.pos, self.count + np.flatnonzero(own)])
        self.count += buf.size
        full = (self.count // self.bs) * self.bs
        self._train(full)
        keep = np.searchsorted(self.pos, full)
        self.X, self.Y = self.X[keep:], self.Y[keep:]
        self.pos, self.count = self.pos[keep:] - full, self.count - full

    def finish(self) -> None:
        """The last, partial batch of the epoch."""
        if self.count:
            self._train(self.count)

    def _train(self, n: int) -> None:
        """The batches of the window's first ``n`` global rows (a multiple of the batch
        size, or the last batch)."""
        if n == 0:
            return
        t, bs = self.t, self.bs
        edges = np.searchsorted(self.pos, np.arange(0, n + bs, bs).clip(max=n))
        for k in range(len(edges) - 1):
            a, b = int(edges[k]), int(edges[k + 1])
            m = min(bs, n - k * bs)
            if m <= 0:
                break
            Xb, Yb = self.X[a:b], self.Y[a:b]
            cost = batch_step(t, self.n_batches, Xb, Yb, None, m, float(m), self.stats,
                              self.norms, self.last_good, self.last_buffers, self.callbacks,
                              shared=True)  # fmt: skip
            self.total += cost * m
            self.n_batches += 1


class _FastEpoch(_Epoch):
    """The compiled loop's epoch (one process): each buffer's rows as the source read
    them (:meth:`StreamedData.unordered`, no gather), after ``batch_size`` rows of room
    where the previous buffer's partial batch is put; the loop gathers each batch by
    index, as in memory, so the bits are those of the gathered window."""

    def read(self, buf: np.ndarray, threads: bool | None = None) -> Any:
        """``part.unordered(buf, batch_size)``, decoded with all cores where read in turn
        (or ``threads``)."""
        wide = self.threads if threads is None else threads
        return self.part.unordered(buf, self.bs, threads=wide)

    def feed(self, buf: np.ndarray, rows: tuple[np.ndarray, np.ndarray]) -> None:
        """Train on every full batch of the pending rows then the buffer's."""
        X, Y, idx = rows  # type: ignore[misc]
        pad, left = self.bs, self.count
        X[pad - left : pad], Y[pad - left : pad] = self.X, self.Y
        order = np.concatenate([np.arange(pad - left, pad), idx])
        full = (order.size // self.bs) * self.bs
        self._run(X, Y, order[:full])
        rest = order[full:]
        self.X, self.Y, self.count = X[rest], Y[rest], rest.size

    def finish(self) -> None:
        """The last, partial batch of the epoch."""
        if self.count:
            self._run(self.X, self.Y, np.arange(self.count))

    def _run(self, X: np.ndarray, Y: np.ndarray, order: np.ndarray) -> None:
        if order.size == 0:
            return
        t, fast = self.t, self.fast
        assert fast is not None
        fast.X, fast.Y = X, Y
        total, batches, seen, bad = fast.epoch(order, self.bs, step_rate(t), self.norms)
        t.samples_seen += seen
        self.total += total
        self.n_batches += batches
        if bad is not None:
            t._diverged(t.epoch, bad, self.last_good, self.last_buffers)


def prepare_streamed(
    self: Any, data: Dataset, Y: Any, sample_weight: Any, validation_data: Any,
    target: Target | None = None,
) -> tuple[StreamedData, Any, Any, Any]:  # fmt: skip
    """A trainer's streamed fit, checked: ``(part, X_val, Y_val, w_val)``.

    ``target`` turns a read's target into the network's ``Y`` (by default
    ``net.check_Y``); the estimators pass their label encoding.
    """
    from deltaprop.train.defaults import TRAINER_DEFAULTS
    from deltaprop.train.splits import check_validation_data

    net = self.net
    if Y is not None or sample_weight is not None:
        raise ValueError(
            "a Dataset carries its own target and no sample weights: call fit(dataset). "
            f"Received: Y={type(Y).__name__}, sample_weight={type(sample_weight).__name__}"
        )
    if self.class_weight is not None:
        raise ValueError(
            f"class_weight is not supported for a Dataset. Received: class_weight={self.class_weight!r}"
        )
    if data.n_features != net.layer_sizes[0]:
        raise ValueError(
            f"the dataset has {data.n_features} features but the network takes {net.layer_sizes[0]}"
        )
    if data.dtype != net.dtype:
        raise ValueError(
            f"the dataset reads {data.dtype.name} rows but the network is {np.dtype(net.dtype).name}: "
            f"open it with dtype={np.dtype(net.dtype).name!r}"
        )
    if target is None:

        def target(y: np.ndarray) -> np.ndarray:
            return net.check_Y(y, y.shape[0])

    Xv = Yv = wv = None
    holdout = None
    if validation_data is not None:
        Xv, Yv, wv = check_validation_data(net, validation_data)
    elif self.validation_fraction is not None or self.early_stopping:
        if self.validation_fraction is None:
            self.validation_fraction = TRAINER_DEFAULTS.early_stopping_fraction
        holdout, Xv, Yv = streamed_validation(
            data, self.validation_fraction, self.split_seed, self.communicator, target
        )
    return StreamedData(data, self.communicator, target, holdout), Xv, Yv, wv
