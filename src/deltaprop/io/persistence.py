"""The module path of model files before the split, kept so that old imports still work.

Its names now live in :mod:`deltaprop.io.models` (``save``, ``load``, the registry),
:mod:`deltaprop.io.container` (the safetensors container, atomic writes),
:mod:`deltaprop.io.network_files` (a network's tensors) and :mod:`deltaprop.io.errors`;
import them from :mod:`deltaprop.io`.
"""

from deltaprop.io.container import FORMAT_VERSION, MAX_HEADER_BYTES, atomic_write
from deltaprop.io.errors import ModelFileError, ModelFileNotFoundError
from deltaprop.io.models import load, register_model_class, save
from deltaprop.io.network_files import sequential_layout

__all__ = [
    "FORMAT_VERSION",
    "MAX_HEADER_BYTES",
    "ModelFileError",
    "ModelFileNotFoundError",
    "atomic_write",
    "load",
    "register_model_class",
    "save",
    "sequential_layout",
]
