"""The compiled loop's float32 activation kernels against PyTorch's, per 200×100 values (the
digits shape's hidden layer at batch 200): ``python bench/activation_kernels.py [REPEATS]``.

Each kernel is called as the compiled loop calls it (:func:`deltaprop.fast.activate.activate`
and ``activation_backward``: forward ``A = g(Z)``, backward ``dA ← dA ⊙ g'(Z)``), on one
thread; PyTorch on one thread (``torch.set_num_threads(1)``) computes the same forward
(``torch.relu``, ``torch.tanh``, ``torch.sigmoid``, ``F.gelu``, each into a new tensor) and
the autograd backward of it (its time less the forward's). Printed: the median µs of REPEATS (2,000 by default) calls of each, the
Python call overhead (~1-2 µs) included for both; the backward's ``dA`` is copied back from
a fixed array before every call (that copy, timed alone, is subtracted), so that the values
stay those of a real step instead of shrinking into subnormals.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from deltaprop.core.activations import GELU, ReLU, Sigmoid, Tanh
from deltaprop.fast.activate import activate, activation_backward, activation_codes


def _us(f: Callable[[], object], repeats: int) -> float:
    """Median µs of ``repeats`` calls of ``f``, in 20 timed groups."""
    f()
    per = max(1, repeats // 20)
    times = []
    for _ in range(20):
        t = time.perf_counter()
        for _ in range(per):
            f()
        times.append((time.perf_counter() - t) / per * 1e6)
    return statistics.median(times)


def main(repeats: int = 2000) -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(200, 100)).astype(np.float32)
    D0 = rng.normal(size=Z.shape).astype(np.float32)
    A, D = np.empty_like(Z), np.empty_like(Z)
    copy_us = _us(lambda: np.copyto(D, D0), repeats)
    zt, dt = torch.from_numpy(Z), torch.from_numpy(D0)
    leaf = zt.clone().requires_grad_()
    peers = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
             "gelu": torch.nn.functional.gelu}  # fmt: skip
    print(f"float32, 200x100 values, one thread, median of {repeats} calls (µs)")
    print(f"{'':10s}{'ours fwd':>10s}{'torch fwd':>11s}{'ours bwd':>10s}{'torch bwd':>11s}")
    for cls in (ReLU, Tanh, Sigmoid, GELU):
        code = activation_codes([cls.compiled])[0]  # as the loop's codes: GELU's int32

        def backward(code: Any = code) -> None:
            np.copyto(D, D0)
            activation_backward(D, Z, A, code, 0.0)

        activate(Z, A, code, 0.0)
        fwd = _us(lambda code=code: activate(Z, A, code, 0.0), repeats)
        bwd = _us(backward, repeats) - copy_us
        g = peers[cls.name]
        t_fwd = _us(lambda g=g: g(zt), repeats)

        def t_backward(g: Callable[..., torch.Tensor] = g) -> None:
            torch.autograd.grad(g(leaf), leaf, dt)  # the forward too: autograd needs it

        t_bwd = _us(t_backward, repeats) - t_fwd
        print(f"{cls.name:10s}{fwd:10.1f}{t_fwd:11.1f}{bwd:10.1f}{t_bwd:11.1f}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
