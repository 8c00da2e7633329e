"""The trainer's mini-batch loop compiled (:mod:`deltaprop.fast.epoch`), where it applies.

:meth:`CompiledLoop.create` checks that a fit can run compiled (dense layers, with batch
norm or not (then layer by layer, the blocks' statistics added up: :mod:`deltaprop.fast.layered`),
dropout among them (counter-based masks); hidden activations with a compiled form (every
shipped one); an output pair with one (every shipped loss with every shipped output
activation, fused or by the chain rule); SGD, momentum, Nesterov, RMSprop, Adam or AdamW as
shipped; NumPy arrays of the network's dtype; the compiled kernels switched on and numba
installed) and returns ``None`` otherwise, so that the Python loop runs instead. The size
of the network does not enter: a 4-3-3 network runs compiled as a 784-256-128-10 one does
(one compiled function per dtype serves every network without batch norm, one more those
with it, :func:`deltaprop.fast.epoch.run_steps`; its machine code and the typed
lists' (:mod:`deltaprop.fast.lists`) are cached on disk, so a new process loads them in a
fraction of a second, ``bench/compile_time.py``). A
callback that watches single batches makes the trainer run one batch per call
(:meth:`CompiledLoop.epoch` on one batch's rows); under MPI each step runs in two compiled
halves around the trainer's allreduce (:meth:`CompiledLoop.share_step`,
:meth:`CompiledLoop.apply_step`). The two loops compute the same steps
(``tests/fast/test_fast_loop.py`` compares them); the compiled one has no Python between
steps, which is what small networks and small batches pay for.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from deltaprop.core import BatchNorm, Dense, Dropout
from deltaprop.core import fused as _fused
from deltaprop.fast.blocks import BLOCKS, row_blocks
from deltaprop.fast.threads import blas_threads, default_threads, work_threads
from deltaprop.optim import SGD, Adam, AdamW, Momentum, Nesterov, Optimizer, RMSprop

if TYPE_CHECKING:
    from deltaprop.core import Network

_SGDS = (SGD, Momentum, Nesterov)
_ADAMS = (Adam, AdamW)


def _output_compiled(net: Network) -> bool:
    """Whether the output runs compiled: a fused pair's own form, or else the general chain
    rule with the output activation's kernels and the loss's."""
    loss = type(net.loss)
    if net.fused:
        return loss.compiled_form() is not None and loss.kernel_form() is not None
    return (
        type(net.dense[-1].activation).compiled_form() is not None
        and loss.kernel_form() is not None
    )


def epoch_kernels() -> ModuleType | None:
    """The compiled training loop (:mod:`deltaprop.fast.epoch`) for a network of any size,
    where :func:`deltaprop.core.fused.load` gives the kernels (numba installed, the kernels
    switched on); ``None`` for the Python loop."""
    if _fused.load() is None:
        return None
    from deltaprop.fast import epoch as _fused_epoch

    # the functions called from Python (the ones they call are linked into their code)
    _fused.load_quickly(_fused_epoch.run_steps, _fused_epoch.wait_job, _fused_epoch.post_job)
    _fused.announce_compiles(_fused_epoch.run_steps, _loop_name)
    return _fused_epoch


def _loop_name(signature: Any) -> str:
    """The training loop's name in its compile notices, by its numba ``signature``: the
    loops of the networks with batch norm (``run_steps``'s ``bn``) and of the networks with
    GELU (``acts`` of :data:`deltaprop.fast.activate.GELU_CODES`) are compiled apart."""
    from deltaprop.fast.activate import GELU_CODES
    from deltaprop.fast.epoch import run_steps

    names = list(inspect.signature(run_steps.py_func).parameters)
    bn, acts = signature[names.index("bn")], signature[names.index("acts")]
    parts = [*(["batch norm"] if str(bn) != "none" else []),
             *(["GELU"] if str(acts.dtype) == np.dtype(GELU_CODES).name else [])]  # fmt: skip
    return "the training loop" + (f" with {' and '.join(parts)}" if parts else "")


SPLIT_FIRST = 65_536
"""A first layer with at least this many weights is split by units between the threads
(each reads only its share of ``W[1]``), the other layers by rows."""

CHUNK_ROWS = 65_536
"""Rows of full batches in one compiled call: between calls Python runs, and with it
Ctrl-C (a compiled call does not look at signals)."""


class _Interface:
    """An array's ``__array_interface__`` with another ``data`` entry, and the array, which
    it keeps alive (the base of :func:`_numba_writeable`'s view)."""

    def __init__(self, a: np.ndarray, interface: dict[str, Any]) -> None:
        self.array, self.__array_interface__ = a, interface


def _numba_writeable(a: np.ndarray) -> np.ndarray:
    """``a``, or for a read-only array (a read-only memmap, an array an estimator check
    froze) a view of the same memory that is flagged writeable, never a copy.

    numba types a read-only array apart from a writeable one, so each would compile the
    loop again (about 20 s per dtype, once per machine); the loop only reads the training
    arrays (``X``, ``Y``, ``w``: it gathers their rows into its own buffers), so one
    compiled function per dtype serves both.
    """
    if a.flags.writeable:
        return a
    interface = dict(a.__array_interface__)
    interface["data"] = (interface["data"][0], False)  # (pointer, read-only?)
    return np.asarray(_Interface(a, interface))


class _Helpers:
    """Threads 1, 2, ... of a :class:`CompiledLoop`, kept for a whole fit.

    Each waits for a job (a part of an epoch), spinning briefly in compiled code and then
    blocking on an event, runs its share of it, and waits again, so that an epoch costs no
    thread start. The jobs carry their number: a helper that sleeps through one it has no
    share in (a short last batch runs on fewer threads) never runs a job twice.
    """

    def __init__(self, loop: CompiledLoop, n_threads: int) -> None:
        self.loop = loop
        self.control = np.zeros(16, np.int64)  # [0]: the number of the job posted last
        self.job: tuple[int, Any] = (0, None)
        self.wake = threading.Event()
        self.error: BaseException | None = None
        self.threads = [
            threading.Thread(target=self._run, args=(tid,), daemon=True, name=f"backprop-{tid}")
            for tid in range(1, n_threads)
        ]
        for thread in self.threads:
            thread.start()

    def _run(self, tid: int) -> None:
        loop, seen = self.loop, 0
        while True:
            if int(loop.k.wait_job(self.control, seen)) < 0:  # nothing for a while: block
                self.wake.wait()
                self.wake.clear()
                continue
            seen, job = self.job
            if job is None:
                return
            n_threads, head, tail = job
            if tid < n_threads:
                try:
                    loop._steps(tid, n_threads, head, tail)
                except BaseException as exc:  # the others stop waiting, the fit raises it
                    self.error = exc
                    head[0][loop.k.ABORT] = 1

    def post(self, job: Any) -> None:
        """Hand a job to the helpers (``None``: stop)."""
        self.job = (int(self.control[0]) + 1, job)
        self.loop.k.post_job(self.control)
        self.wake.set()

    def close(self) -> None:
        """Stop the helpers. A job always ends before the main thread returns from its own
        share, so they are waiting; the timeout only guards against the impossible."""
        self.post(None)
        for thread in self.threads:
            thread.join(timeout=5.0)


class CompiledLoop:
    """One fit's compiled loop: the layer views, the buffers and the optimizer's codes."""

    def __init__(self, kernels: Any, net: Network, opt: Optimizer, X: np.ndarray,
                 Y: np.ndarray, w: np.ndarray | None, alpha: float,
                 clip_norm: float | None, n_threads: int = 1,
                 by_work: bool = False) -> None:  # fmt: skip
        from deltaprop.fast.activate import activation_codes
        from deltaprop.fast.lists import typed_list

        self.k, self.net, self.opt = kernels, net, opt
        self.X, self.Y = X, Y
        dtype = net.parameters.dtype
        self.w = np.empty(0, dtype) if w is None else _numba_writeable(w)
        self.alpha = float(alpha)
        self.clip_norm = 0.0 if clip_norm is None else float(clip_norm)
        dense: list[Dense] = list(net.dense)
        codes = [type(d.activation).compiled_form() for d in dense]
        if net.fused:
            codes[-1] = 0
        assert all(c is not None for c in codes)  # (create() checked)
        self.acts = activation_codes([int(c) for c in codes if c is not None])
        self.aps = np.array([d.activation.compiled_parameter(dtype) for d in dense])
        # dropout after dense layer l: its rate (0: none), and the generator of its keys
        after = {id(net.layers[i - 1]): layer for i, layer in enumerate(net.layers)
                 if isinstance(layer, Dropout)}  # fmt: skip
        self.rates = np.array([after[id(d)].rate if id(d) in after else 0.0 for d in dense])
        self.n_drop = int(np.count_nonzero(self.rates))
        self.rng = net.rng
        out_code = type(net.loss).compiled_form() if net.fused else -1
        loss_code = type(net.loss).kernel_form()
        assert out_code is not None and loss_code is not None
        self.out_code, self.loss_code = out_code, loss_code  # (create() checked)
        self.loss_p = net.loss.kernel_parameter(dtype)
        self.Ws = typed_list([d.W for d in dense])
        self.bs = typed_list([d.b for d in dense])
        starts = np.array([sl.start for sl in net.slices], dtype=np.intp)
        self.starts, self.stops = starts, starts + [d.n_in * d.n_out for d in dense]
        self.ends = np.array([sl.stop for sl in net.slices], dtype=np.intp)  # W, b (, γ, β)
        # batch norm per layer: [whether, momentum, epsilon], γ and β (2, n), running stats
        bns = [d.batch_norm for d in dense]
        self.has_bn = any(bn is not None for bn in bns)
        self.bn = np.array([[0.0, 0.0, 0.0] if bn is None else [1.0, bn.momentum, bn.epsilon]
                            for bn in bns])  # fmt: skip
        none2, none1 = np.empty((2, 0), dtype), np.empty(0, dtype)
        self.Ps = typed_list([none2 if bn is None else net.parameters[st + d.n_out : en].reshape(2, -1)
                              for bn, d, st, en in zip(bns, dense, self.stops, self.ends,
                                                       strict=True)])  # fmt: skip
        self.RMs = typed_list([none1 if bn is None else bn.running_mean for bn in bns])
        self.RVs = typed_list([none1 if bn is None else bn.running_var for bn in bns])
        self.n_threads = n_threads
        self.by_work = by_work  # fewer threads for small steps (see step_threads)
        self.n_weights = sum(d.n_in * d.n_out for d in dense)
        # a wide first layer is split by units into blocks (see run_steps)
        self.split_first = (dense[0].n_in * dense[0].n_out >= SPLIT_FIRST and len(dense) > 1
                            and not self.has_bn)  # fmt: skip
        # the gradient of each block of rows: block 0's in net.grad, the others' in
        # grad_others, from the first parameter that row blocks compute (after a split
        # first layer, which no row block computes)
        first = int(self.ends[0]) if self.split_first else 0
        self.grad_others = np.zeros((BLOCKS - 1, net.n_params - first), dtype)
        self.buffers: dict[int, tuple[Any, ...]] = {}
        self.helpers: _Helpers | None = None
        opt.allocate(net.parameters)
        empty = np.empty(0, dtype)
        if isinstance(opt, Adam):
            self.opt_code = kernels.OPT_ADAM
            self.h = np.array(opt.kernel_hyperparameters())
            st = opt.state
            self.state = (st["exp_avg"], st["exp_avg_sq"], st.get("max_exp_avg_sq", empty))
        elif isinstance(opt, RMSprop):
            self.opt_code = kernels.OPT_RMSPROP
            self.h = np.array(opt.kernel_hyperparameters())
            st = opt.state
            self.state = (st["square_avg"], st.get("grad_avg", empty),
                          st.get("momentum_buffer", empty))  # fmt: skip
        else:
            assert isinstance(opt, SGD)
            self.opt_code = kernels.OPT_SGD
            self.h = np.array(opt.kernel_hyperparameters())
            self.state = (opt.state.get("momentum_buffer", empty), empty, empty)

    @property
    def X(self) -> np.ndarray:
        """The training inputs, shape ``(n, d)`` (set: any C-ordered array of the dtype)."""
        return self._X

    @X.setter
    def X(self, X: np.ndarray) -> None:
        self._X = _numba_writeable(X)

    @property
    def Y(self) -> np.ndarray:
        """The training targets, shape ``(n, k)`` (set: as :attr:`X`)."""
        return self._Y

    @Y.setter
    def Y(self, Y: np.ndarray) -> None:
        self._Y = _numba_writeable(Y)

    @classmethod
    def create(cls, net: Network, opt: Any, X: Any, Y: Any, w: Any, alpha: float,
               clip_norm: float | None, comm: Any, *,
               watches_batches: bool) -> CompiledLoop | None:  # fmt: skip
        """The compiled loop for this fit, or ``None`` where the Python loop must run.

        ``watches_batches``: whether a callback needs to see single batches (then the
        trainer calls the loop one batch at a time; the trainer decides,
        :func:`deltaprop.train.callbacks.watches_batches`); ``comm``: a
        :class:`deltaprop.parallel.Communicator` (then one thread per process, and the
        steps in halves around the trainer's allreduce), or ``None``.
        """
        dtype = net.parameters.dtype
        arrays_ok = all(
            isinstance(a, np.ndarray) and a.dtype == dtype and a.flags.c_contiguous
            for a in (X, Y, *(() if w is None else (w,)), net.parameters)
        )
        if not (
            arrays_ok
            and X.ndim == 2
            and type(opt) in (*_SGDS, *_ADAMS, RMSprop)
            and all(
                (
                    isinstance(layer, Dense)
                    and (layer.batch_norm is None or type(layer.batch_norm) is BatchNorm)
                )
                or (isinstance(layer, Dropout) and layer.rng is net.rng)
                for layer in net.layers
            )
            and all(type(d.activation).compiled_form() is not None for d in net.dense[:-1])
            and _output_compiled(net)
        ):
            return None
        kernels = epoch_kernels()
        if kernels is None:
            return None
        threads = default_threads() if comm is None else 1  # a process per rank already
        by_work = comm is None and not os.environ.get("DELTAPROP_THREADS", "").strip()
        return cls(kernels, net, opt, X, Y, w, alpha, clip_norm, threads, by_work)

    def step_threads(self, m: int) -> int:
        """The threads that share a step of ``m`` rows: :attr:`n_threads`, at most a block
        of rows each (:func:`deltaprop.fast.blocks.row_blocks`),
        and, where ``by_work``, at most what the step's work is worth (:func:`work_threads`)."""
        n = min(self.n_threads, row_blocks(m))
        return min(n, work_threads(m, self.n_weights)) if self.by_work else n

    @contextlib.contextmanager
    def threads(self, batch_size: int) -> Iterator[None]:
        """For the whole fit: the loop's helper threads, and BLAS on one thread (the loop's
        own threads share the work; a BLAS on several threads could cut a product
        differently on another machine, and so give other bits). NumPy's BLAS too: the
        validation passes between epochs would otherwise wake its thread pool, whose idle
        threads spin beside the loop's own (a digits fit with validation: ~3x slower)."""
        with blas_threads(1):
            n = self.step_threads(batch_size)
            helpers = _Helpers(self, n) if n > 1 else None
            self.helpers = helpers
            try:
                yield
            finally:
                self.helpers = None
                if helpers is not None:
                    helpers.close()

    def _buffers(self, m: int) -> tuple[Any, ...]:
        if m not in self.buffers:
            from deltaprop.fast.lists import typed_list

            dtype, dense = self.net.parameters.dtype, self.net.dense
            activations = [np.empty((m, d.n_out), dtype) for d in dense]
            As = typed_list(activations)  # (iterated in Python: a list, not the typed one)
            Zs = typed_list([np.empty((m, d.n_out), dtype) for d in dense])
            Ds = typed_list([np.empty((m, d.n_out), dtype) if r > 0 else A
                             for d, r, A in zip(dense, self.rates, activations,
                                                strict=True)])  # fmt: skip
            Ms = typed_list([np.empty((m, d.n_out) if r > 0 else (0, 0), dtype)
                             for d, r in zip(dense, self.rates, strict=True)])  # fmt: skip
            widest = m * max(d.n_out for d in dense)
            dZ_a, dZ_b = np.empty(widest, dtype), np.empty(widest, dtype)
            Xb = np.empty((m, self.X.shape[1]), dtype)
            Yb = np.empty((m, self.Y.shape[1]), dtype)
            scratch = np.empty((self.n_threads, m * dense[0].n_out), dtype)  # first layer
            Hs = typed_list([np.empty((m, d.n_out) if h else (0, 0), dtype)
                             for d, h in zip(dense, self.bn[:, 0], strict=True)])  # fmt: skip
            # batch norm: each thread's statistics, each block's sums (deltaprop.fast.layered)
            Vs = typed_list([np.empty((BLOCKS, 5, d.n_out if h else 0), dtype)
                             for d, h in zip(dense, self.bn[:, 0], strict=True)])  # fmt: skip
            Ss = typed_list([np.empty((BLOCKS, 5, d.n_out if h else 0), dtype)
                             for d, h in zip(dense, self.bn[:, 0], strict=True)])  # fmt: skip
            self.buffers[m] = (As, Zs, Ds, Ms, dZ_a, dZ_b, Xb, Yb, np.empty(m, dtype), scratch,
                               Hs, Vs, Ss)  # fmt: skip
        return self.buffers[m]

    def _keys(self, n_steps: int) -> np.ndarray:
        """``(n_steps, n_drop)`` dropout keys (``Dropout.draw_keys``)."""
        if not self.n_drop:
            return np.zeros((max(n_steps, 1), 0), np.int64)
        return Dropout.draw_keys(self.rng, (n_steps, self.n_drop))

    def _steps(self, tid: int, n_threads: int, head: tuple[Any, ...],
               tail: tuple[Any, ...]) -> int:  # fmt: skip
        """Thread ``tid``'s part of :func:`deltaprop.fast.epoch.run_steps`."""
        return int(self.k.run_steps(tid, n_threads, *head, *tail))

    def epoch(self, order: np.ndarray, batch_size: int, learning_rate: float,
              norms: np.ndarray) -> tuple[float, int, int, float | None]:  # fmt: skip
        """One pass over ``order`` in batches of ``batch_size`` (the last may be smaller).

        Returns ``(Σ cost · Σw, batches taken, samples taken, diverged)`` where
        ``diverged`` is the cost of the step that stopped the epoch (not finite, or finite
        with a non-finite gradient), else ``None``; that step's update is not applied.
        """
        net, opt = self.net, self.opt
        n = order.size
        full = (n // batch_size) * batch_size
        cost_sum = np.zeros(2)
        counts = np.array([opt.t, 0, 0], dtype=np.int64)
        samples = 0
        # Full batches in chunks of about CHUNK_ROWS rows (Python between the chunks sees
        # Ctrl-C), then the last, shorter batch.
        per_chunk = max(1, CHUNK_ROWS // batch_size) * batch_size
        parts = [
            (order[i : min(i + per_chunk, full)], batch_size) for i in range(0, full, per_chunk)
        ]
        for part, m in (*parts, (order[full:], n - full)):
            if m == 0 or part.size == 0:
                continue
            As, Zs, Ds, Ms, dZ_a, dZ_b, Xb, Yb, losses, scratch, Hs, Vs, Ss = self._buffers(m)
            # the dropout keys of each step, drawn as the Python loop draws them (a step,
            # then its layers in order); the unused ones are given back below
            rng_state = self.rng.bit_generator.state if self.n_drop else None
            keys = self._keys(part.size // m)
            before = int(counts[1])
            n_blocks = row_blocks(m)
            n_threads = self.step_threads(m)
            sync = np.zeros(16, np.int64)
            shared = np.zeros(BLOCKS + 2 * BLOCKS * (len(self.net.dense) + 3))

            head = (sync, shared, self.X, self.Y, self.w, part, m, n_blocks, self.Ws, self.bs)
            tail = (
                As, Zs, dZ_a, dZ_b, Xb, Yb, losses, scratch, self.split_first, self.acts,
                self.aps, Ds, Ms, self.rates, self.bn if self.has_bn else None, self.Ps, Hs, Vs,
                Ss, self.RMs, self.RVs, keys, self.out_code, self.loss_code,
                self.loss_p, self.alpha,
                self.clip_norm, net.parameters, net.grad, self.grad_others, self.starts,
                self.stops, self.ends, norms, cost_sum, self.opt_code, counts, opt.t,
                float(learning_rate), self.h, *self.state,
            )  # fmt: skip
            helpers = self.helpers
            if n_threads > 1 and (helpers is None or len(helpers.threads) < n_threads - 1):
                helpers = _Helpers(self, n_threads)  # outside threads(), or more: for this part
            try:
                if n_threads > 1:
                    assert helpers is not None
                    helpers.post((n_threads, head, tail))
                done = self._steps(0, n_threads, head, tail)
                if done < 0:  # a helper failed; the weights of this epoch are not to be used
                    assert helpers is not None
                    error, helpers.error = helpers.error, None
                    raise RuntimeError(
                        f"a training thread failed: {type(error).__name__}: {error}"
                    ) from error
            finally:
                if helpers is not None and helpers is not self.helpers:
                    helpers.close()
            if rng_state is not None and int(counts[2]) < keys.shape[0]:
                self.rng.bit_generator.state = rng_state  # draw only the keys used
                self._keys(int(counts[2]))
            samples += (int(counts[1]) - before) * m
            opt.advance(int(counts[0]) - opt.t)  # the steps the compiled code took
            if done < part.size // m:
                return float(cost_sum[0]), int(counts[1]), samples, float(cost_sum[1])
        return float(cost_sum[0]), int(counts[1]), samples, None

    def share_step(self, rows: np.ndarray, wsum: float, alpha: float) -> float:
        """This process's share ``rows`` of a batch of total weight ``wsum`` (the L2
        coefficient ``alpha`` its part of the whole): its gradient into ``net.grad``, and its
        cost (:func:`deltaprop.fast.shares.share_gradient`). A non-empty share draws the
        step's dropout keys, as the Python loop's forward pass does."""
        from deltaprop.fast.shares import share_gradient

        _fused.load_quickly(share_gradient)
        _fused.announce_compiles(share_gradient, "the training loop's share of a batch")

        net = self.net
        As, Zs, Ds, Ms, dZ_a, dZ_b, Xb, Yb, losses, _, Hs, Vs, Ss = self._buffers(max(rows.size, 1))
        keys = self._keys(1)[0] if rows.size else np.zeros(self.n_drop, np.int64)
        return float(share_gradient(
            self.X, self.Y, self.w, rows, float(wsum), float(alpha), self.Ws, self.bs,
            net.parameters, net.grad, self.starts, self.stops, self.ends, As, Zs, dZ_a,
            dZ_b, Xb, Yb, losses, self.acts, self.aps, Ds, Ms, self.rates, self.bn, self.Ps,
            Hs, Vs, Ss, self.RMs, self.RVs, keys,
            self.out_code, self.loss_code, self.loss_p,
        ))  # fmt: skip

    def apply_step(self, learning_rate: float, norms: np.ndarray) -> bool:
        """The step from ``net.grad`` (:func:`deltaprop.fast.shares.apply_gradient`): the
        norms added to ``norms``, the clipping, the optimizer's update; False, nothing
        changed, for a non-finite gradient."""
        from deltaprop.fast.shares import apply_gradient

        _fused.load_quickly(apply_gradient)

        net, opt = self.net, self.opt
        ok = bool(apply_gradient(
            net.parameters, net.grad, self.starts, self.stops, norms, self.clip_norm,
            self.opt_code, opt.t + 1, float(learning_rate), self.h, *self.state,
        ))  # fmt: skip
        if ok:
            opt.advance(1)
        return ok
