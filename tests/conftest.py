"""Shared fixtures and helpers for the test suite."""

from __future__ import annotations

import signal

import numpy as np
import pytest

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    # A suite started in the background of a non-interactive shell (`make test &`) inherits
    # SIGINT ignored, and so would every process it starts: Python then never raises
    # KeyboardInterrupt, and the tests of Ctrl-C (which send SIGINT) fail or wait for ever.
    # A handler, unlike SIG_IGN, is reset to the default in the processes the tests start.
    signal.signal(signal.SIGINT, signal.default_int_handler)

collect_ignore_glob = ["parallel/mpi_scripts/*.py", "compile_kernels.py"]
"""Scripts that tests run as new processes (under mpiexec, or before the suite): never
imported by pytest's doctest collection, where their module-level setup (mpi4py's MPI,
a spy on a module, a setting) would change the worker that collects them."""

ALL_ACTIVATIONS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus"]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def make_targets(rng: np.random.Generator, loss: str, m: int, n: int) -> np.ndarray:
    """Targets in the domain of ``loss``: one-hot, probabilities, counts or reals."""
    if loss == "categorical_crossentropy":
        return np.eye(n)[rng.integers(0, n, m)]
    if loss == "binary_crossentropy":
        return rng.integers(0, 2, (m, n)).astype(float)
    if loss == "poisson":
        return rng.poisson(2.0, (m, n)).astype(float)
    return rng.normal(size=(m, n))
