"""The ``deltaprop`` command: parser and commands, the report, tables and preprocessing.

The command gives Arrow (which pandas uses for text columns when pyarrow is installed) the
system allocator unless the user chose a pool with ``ARROW_DEFAULT_MEMORY_POOL``: Arrow's
default pools reserve address space in large arenas and fail ("malloc of size 64 failed")
under a memory limit such as ``ulimit -v`` or a batch scheduler's cap, which may be set
after start-up, where the system allocator works.
"""

import os
import sys


def _arrow_system_allocator() -> None:
    """Arrow's system memory pool, whether or not pyarrow is loaded yet."""
    if "ARROW_DEFAULT_MEMORY_POOL" in os.environ:
        return
    os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "system"
    pa = sys.modules.get("pyarrow")
    if pa is not None:
        pa.set_memory_pool(pa.system_memory_pool())


_arrow_system_allocator()
