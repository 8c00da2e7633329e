"""The ``deltaprop`` command: parser and commands, the report, tables and preprocessing.

Under an address-space limit (``ulimit -v``, ``RLIMIT_AS``, as some batch schedulers set),
the command gives Arrow (which pandas uses for text columns when pyarrow is installed) the
system allocator, unless the user chose a pool with ``ARROW_DEFAULT_MEMORY_POOL``: Arrow's
default pools reserve address space up front and fail there ("malloc of size 64 failed").
Without such a limit Arrow keeps its own pool, which returns memory to the system sooner.
"""

import os
import sys


def _arrow_system_allocator() -> None:
    """Arrow's system memory pool under an address-space limit, loaded yet or not."""
    try:
        import resource
    except ImportError:  # not on POSIX: no RLIMIT_AS
        return
    if "ARROW_DEFAULT_MEMORY_POOL" in os.environ:
        return
    if resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY:
        return
    os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "system"
    pa = sys.modules.get("pyarrow")
    if pa is not None:
        pa.set_memory_pool(pa.system_memory_pool())


_arrow_system_allocator()
