"""Opening a table by its path: :func:`open_dataset` picks the source by the suffix."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from deltaprop.data.csv_source import CSVDataset
from deltaprop.data.parquet import ParquetDataset
from deltaprop.data.sources import Dataset, NpyDataset

__all__ = ["open_dataset"]


def open_dataset(path: str | os.PathLike[str], target: Any = None, **options: Any) -> Dataset:
    """The source for ``path`` by its suffix: ``.npy`` → :class:`NpyDataset` (``target``: the
    target's ``.npy`` path or an array), ``.csv``/``.tsv``/``.txt`` →
    :class:`~deltaprop.data.CSVDataset`, a directory or ``.parquet``/``.pq`` →
    :class:`~deltaprop.data.ParquetDataset` (``target``: a column's name).

    Parameters
    ----------
    path : path
    target : str, path or array
    **options
        Passed to the source's constructor (``dtype``, ``block_rows``, ``columns``, ...).

    Returns
    -------
    Dataset
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if target is None:
        raise ValueError(f"target is needed to open {str(p)!r}. Received: target=None")
    if p.is_dir() or suffix in (".parquet", ".pq"):
        return ParquetDataset(p, target, **options)
    if suffix == ".npy":
        return NpyDataset(p, target, **options)
    if suffix in (".csv", ".tsv", ".txt"):
        return CSVDataset(p, target, **options)
    raise ValueError(
        "path must be a .npy file, a .csv/.tsv/.txt file, a .parquet file or a directory of "
        f"Parquet files. Received: path={str(p)!r}"
    )
