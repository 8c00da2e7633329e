"""Run as ``python memcap_child.py SOURCE FACE PATH BUDGET_MB``: a fit on a table larger
than a memory budget, under an address-space cap (``RLIMIT_AS``): the process's size after
a warm-up fit (with the file's map, where a file is mapped), plus the budget.
Prints ``ok <rows> <peak MiB>`` on success.

SOURCE: ``npy`` (``PATH/X.npy``, ``PATH/y.npy`` through NpyDataset), ``memmap`` (the same
files as a plain ``np.memmap`` given to ``fit``), ``parquet`` (``PATH/pq``), ``csv``
(``PATH/t.csv``). FACE: ``trainer``, ``classifier`` or ``regressor``.
"""

import os

os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")  # malloc's, under the cap
import resource
import sys
import warnings

import numpy as np

from deltaprop import MLPClassifier, MLPRegressor, Network, Trainer
from deltaprop.data import open_dataset


def status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def main(source: str, face: str, path: str, budget_mb: int) -> None:
    layout = {"block_rows": 1024, "buffer_blocks": 4}
    X = y = data = None
    if source in ("npy", "memmap", "inmemory"):
        X = np.load(os.path.join(path, "X.npy"), mmap_mode="r")
        y = np.load(os.path.join(path, "y.npy"), mmap_mode="r")
        if source == "npy":
            data = open_dataset(os.path.join(path, "X.npy"), os.path.join(path, "y.npy"), **layout)
    n_features = 16
    kw = {"hidden_layer_sizes": (8,), "max_iter": 1, "batch_size": 256, "random_state": 0}
    small = np.random.default_rng(0).normal(size=(512, n_features))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MLPClassifier(**kw).fit(small, small[:, 0] > 0)  # warm-up: compile, start threads
        MLPRegressor(**kw).fit(small, small[:, 0])
    if source == "parquet":  # pyarrow's pools start here, before the cap
        data = open_dataset(os.path.join(path, "pq"), "target", **layout)
        data.read(0, 1)
    cap = status("VmSize") + budget_mb * 2**20  # the size counts a map already made
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    if source == "csv":  # the indexing pass, under the cap
        data = open_dataset(os.path.join(path, "t.csv"), "target", chunk_rows=1024, **layout)
    elif source == "inmemory":  # the control: the whole table does not fit
        data = np.array(X)
    args = (X, y) if source == "memmap" else (data,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if face == "trainer":
            net = Network([n_features, 8, 1], "relu", "mse", seed=0)
            Trainer(net, "adam", batch_size=256, epochs=1, seed=0).fit(*args)
        elif face == "classifier":  # the labels 0.0/1.0 of the target
            MLPClassifier(**kw).fit(*args)
        else:
            MLPRegressor(**kw).fit(*args)
    rows = data.n_rows if data is not None else X.shape[0]  # type: ignore[union-attr]
    print("ok", rows, status("VmHWM") // 2**20)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
