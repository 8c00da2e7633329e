"""The compiled training loop (numba), composed from the kernels that ``core`` and ``optim`` declare."""

from deltaprop.fast.loop import CompiledLoop
from deltaprop.fast.threads import blas_threads

__all__ = ["CompiledLoop", "blas_threads"]
